#include "error_text.h"

#include <QObject>

#include "mlopt/core/error.h"

namespace mlopt::views::detail {

QString error_title(const std::exception& error, const QString& fallback) {
  if (dynamic_cast<const ModelLoadError*>(&error)) return QObject::tr("Cannot load the model");
  if (dynamic_cast<const InputSpecError*>(&error)) return QObject::tr("The inputs do not fit the model");
  if (dynamic_cast<const DeviceError*>(&error)) return QObject::tr("Device unavailable");
  if (dynamic_cast<const OutOfMemoryError*>(&error)) return QObject::tr("Out of memory");
  if (dynamic_cast<const ProjectError*>(&error)) return QObject::tr("Cannot open the project");
  if (dynamic_cast<const IoError*>(&error)) return QObject::tr("Cannot read or write a file");
  return fallback;
}

QString error_message(const std::exception& error) {
  const QString text = QString::fromUtf8(error.what());
  return text.isEmpty() ? QObject::tr("unknown error") : text;
}

}  // namespace mlopt::views::detail
