#pragma once
// Starting a piece of background work on its own QThread.
#include <QThread>

#include <functional>

namespace mlopt::views::detail {

// Runs `work` on a new thread, started now, that deletes itself (on the
// caller's thread) when done. The caller keeps a QPointer to it and wait()s
// for it before anything `work` refers to goes away. `work` must not throw.
QThread* start_worker(std::function<void()> work);

}  // namespace mlopt::views::detail
