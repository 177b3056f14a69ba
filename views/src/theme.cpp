#include "mlopt/views/theme.h"

#include <QApplication>
#include <QStyle>
#include <QStyleFactory>

namespace mlopt::views {

QPalette palette_for(Theme theme) {
  if (theme == Theme::Light) {
    // Fusion's own palette: light, whatever the desktop's colours are.
    QStyle* fusion = QStyleFactory::create(QStringLiteral("Fusion"));
    QPalette p = fusion ? fusion->standardPalette() : QPalette();
    delete fusion;
    return p;
  }
  const QColor window(0x2b, 0x2b, 0x2e), base(0x1e, 0x1e, 0x21), text(0xe6, 0xe6, 0xe6);
  const QColor disabled(0x80, 0x80, 0x80), highlight(0x3d, 0x7a, 0xd6);
  QPalette p;
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, window);
  p.setColor(QPalette::ToolTipBase, base);
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, disabled);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(0xff, 0x6b, 0x6b));
  p.setColor(QPalette::Light, QColor(0x45, 0x45, 0x4a));
  p.setColor(QPalette::Midlight, QColor(0x3a, 0x3a, 0x3e));
  p.setColor(QPalette::Mid, QColor(0x55, 0x55, 0x5a));
  p.setColor(QPalette::Dark, QColor(0x18, 0x18, 0x1a));
  p.setColor(QPalette::Shadow, Qt::black);
  p.setColor(QPalette::Highlight, highlight);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x6c, 0xa8, 0xff));
  p.setColor(QPalette::LinkVisited, QColor(0xb0, 0x8c, 0xff));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
    p.setColor(QPalette::Disabled, role, disabled);
  }
  return p;
}

void apply_theme(QApplication& app, Theme theme) {
  // Fusion draws with the palette everywhere; native styles may not.
  if (app.style()->name().compare(QLatin1String("fusion"), Qt::CaseInsensitive) != 0) {
    app.setStyle(QStringLiteral("Fusion"));
  }
  app.setPalette(palette_for(theme));
}

QString to_string(Theme theme) { return theme == Theme::Dark ? QStringLiteral("dark") : QStringLiteral("light"); }

Theme theme_from_string(const QString& name) {
  return name.compare(QLatin1String("dark"), Qt::CaseInsensitive) == 0 ? Theme::Dark : Theme::Light;
}

}  // namespace mlopt::views
