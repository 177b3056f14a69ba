#pragma once
// The devices mlopt studio offers for running a model.
#include <QStringList>

namespace mlopt::studio {

// "cpu", then "cuda:N" for each visible GPU when this build can run models
// there (a CUDA libtorch; Debian's libtorch is CPU-only, so none there).
QStringList available_devices();

}  // namespace mlopt::studio
