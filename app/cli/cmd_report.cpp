// mlopt report PROJECT.mlopt -o FILE [--format F]: a project's runs and
// profiles as a report. HTML, JSON, CSV and Markdown need nothing but
// mlopt::report; PDF is drawn by Qt (mlopt::report_pdf), in builds with it.
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/core/project.h"
#include "mlopt/report/format.h"
#include "mlopt/report/report.h"
#if MLOPT_HAVE_REPORT_PDF
#include "mlopt/views/report_pdf.h"
#endif

namespace mlopt::cli {
namespace {

struct ReportCliOptions {
  std::string project;
  std::string output;
  std::string format;
  int top = 20;
};

report::Format format_of(const ReportCliOptions& o) {
  if (!o.format.empty()) return report::parse_format(o.format);
  if (const auto format = report::format_for_file(o.output)) return *format;
  throw UsageError("cannot tell the report format from '" + o.output +
                   "': end it in .html, .pdf, .json, .csv or .md, or pass --format html|pdf|json|csv|md");
}

}  // namespace

Command add_report(CLI::App& app) {
  auto o = std::make_shared<ReportCliOptions>();
  auto* sub = app.add_subcommand("report", "Write a project's runs and profiles as a report: HTML (with charts), PDF, "
                                           "JSON, CSV or Markdown");
  sub->add_option("PROJECT", o->project, "Project file (.mlopt)")->required();
  sub->add_option("-o,--output", o->output, "Report file to write")->required();
  sub->add_option("--format", o->format, "html, pdf, json, csv or md (default: from the extension of -o)");
  sub->add_option("--top", o->top, "Module, op and kernel rows per profile (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  return {sub, [o]() {
            const report::Format format = format_of(*o);
#if !MLOPT_HAVE_REPORT_PDF
            // Before the project is read: nothing this build can do will make a PDF.
            if (format == report::Format::Pdf) throw Error(report::kPdfNeedsQt);
#endif
            // A report never opens the model: a project copied from the GPU
            // machine reports here without its model file.
            const Project project = Project::load(o->project, Project::ModelFile::MayBeMissing);
            report::ReportOptions options;
            options.project_file = std::filesystem::absolute(o->project);
            options.top = o->top;
            const report::Report r = report::build_report(project, options);
#if MLOPT_HAVE_REPORT_PDF
            const std::string contents = views::render_report(r, format);
#else
            const std::string contents = report::render(r, format);
#endif
            write_file_atomically(o->output, contents);
            std::cout << "wrote " << o->output << " (" << to_string(format) << ": " << r.runs.size()
                      << (r.runs.size() == 1 ? " run, " : " runs, ") << r.profiles.size()
                      << (r.profiles.size() == 1 ? " profile" : " profiles") << ")\n";
            return 0;
          }};
}

}  // namespace mlopt::cli
