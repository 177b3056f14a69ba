#include "mlopt/views/report_pdf.h"

#include <QBuffer>
#include <QByteArray>
#include <QCoreApplication>
#include <QGuiApplication>
#include <QImage>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSvgRenderer>
#include <QTextDocument>
#include <QUrl>

#include <memory>

#include "mlopt/core/error.h"
#include "mlopt/report/charts.h"
#include "mlopt/report/writers.h"

namespace mlopt::views {
namespace {

// Charts are drawn at this many pixels per CSS pixel: 720 CSS pixels over
// the 17 cm of an A4 text column come to about 300 dpi, crisp in print.
constexpr int kChartScale = 3;
// The text column QTextDocument::print leaves on A4 (2 cm margins), in
// the CSS pixels the layout counts in: wider charts are scaled down to it.
constexpr int kMaxChartWidth = 600;

// A QGuiApplication for as long as it lives, unless one exists already.
// The platform is forced to offscreen (argv's -platform wins over
// QT_QPA_PLATFORM): the PDF needs fonts, never a display.
class GuiApplicationScope {
 public:
  GuiApplicationScope() {
    if (QCoreApplication::instance()) {
      if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) {
        throw Error("PDF export needs a QGuiApplication (Qt's text layout needs fonts), but this program made a "
                    "QCoreApplication: export HTML instead, or make a QGuiApplication");
      }
      return;
    }
    // Qt's notes on its own set-up (no XDG_RUNTIME_DIR, ...) would be
    // printed by a library, which mlopt's never do: dropped while ours lives.
    previous_handler_ = qInstallMessageHandler([](QtMsgType, const QMessageLogContext&, const QString&) {});
    app_ = std::make_unique<QGuiApplication>(argc_, argv_);
  }
  ~GuiApplicationScope() {
    if (!app_) return;
    app_.reset();
    qInstallMessageHandler(previous_handler_);
  }
  GuiApplicationScope(const GuiApplicationScope&) = delete;
  GuiApplicationScope& operator=(const GuiApplicationScope&) = delete;

 private:
  char name_[6] = "mlopt";
  char flag_[10] = "-platform";
  char platform_[10] = "offscreen";
  char* argv_[4] = {name_, flag_, platform_, nullptr};
  int argc_ = 3;
  QtMessageHandler previous_handler_ = nullptr;
  std::unique_ptr<QGuiApplication> app_;
};

QImage draw_chart(const report::Chart& chart) {
  QSvgRenderer svg(QByteArray::fromStdString(chart.svg));
  if (!svg.isValid()) throw Error("the report's chart '" + chart.title + "' could not be drawn for the PDF");
  QImage image(chart.width * kChartScale, chart.height * kChartScale, QImage::Format_ARGB32_Premultiplied);
  image.fill(Qt::white);
  QPainter painter(&image);
  painter.setRenderHint(QPainter::Antialiasing);
  painter.setRenderHint(QPainter::TextAntialiasing);
  svg.render(&painter);
  painter.end();
  return image;
}

}  // namespace

std::string render_report_pdf(const report::Report& report) {
  GuiApplicationScope app;
  QByteArray bytes;
  {
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    QPdfWriter writer(&buffer);
    writer.setTitle(QString::fromStdString(report.title));
    writer.setCreator(QStringLiteral("mlopt %1").arg(QString::fromStdString(report.mlopt_version)));
    writer.setPageSize(QPageSize(QPageSize::A4));
    // QTextDocument::print adds 2 cm margins of its own and numbers the pages.
    writer.setPageMargins(QMarginsF(0, 0, 0, 0), QPageLayout::Millimeter);

    QTextDocument document;
    // Rich text has no inline SVG: the charts become images, linked by name.
    for (const auto& chart : report::report_charts(report, /*standalone=*/true)) {
      document.addResource(QTextDocument::ImageResource, QUrl(QString::fromStdString(report::image_link(chart))),
                           draw_chart(chart));
    }
    report::HtmlOptions options;
    options.charts = report::HtmlOptions::Charts::ImageLinks;
    options.max_image_width = kMaxChartWidth;
    document.setHtml(QString::fromStdString(report::to_html(report, options)));
    document.print(&writer);
  }
  if (!bytes.startsWith("%PDF-")) throw Error("Qt's PDF writer produced no PDF for the report");
  return bytes.toStdString();
}

std::string render_report(const report::Report& report, report::Format format) {
  return format == report::Format::Pdf ? render_report_pdf(report) : report::render(report, format);
}

}  // namespace mlopt::views
