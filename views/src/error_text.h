#pragma once
// What a dialog says about an exception from the libraries: a title naming
// the kind of problem (from the typed error), and the message as thrown.
#include <QString>

#include <exception>

namespace mlopt::views::detail {

// "Cannot load the model", "Out of memory", ...; `fallback` for errors
// without a more specific title.
QString error_title(const std::exception& error, const QString& fallback);
QString error_message(const std::exception& error);

}  // namespace mlopt::views::detail
