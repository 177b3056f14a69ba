#pragma once
// The workbench's light and dark themes: Qt's Fusion style with a light or a
// dark palette, applied to the whole application (charts follow through
// their palette-change events).
#include <QPalette>
#include <QString>

class QApplication;

namespace mlopt::views {

enum class Theme { Light, Dark };

QPalette palette_for(Theme theme);
void apply_theme(QApplication& app, Theme theme);

// "light" / "dark" (as stored in the settings); anything else reads as Light.
QString to_string(Theme theme);
Theme theme_from_string(const QString& name);

}  // namespace mlopt::views
