// mlopt: the command-line face of the library. Errors print one line and
// give a non-zero exit status; nothing here prints a stack trace.
#include <iostream>

#include "commands.h"
#include "parallel_run.h"
#include "mlopt/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"mlopt: profile, optimize and compare transformer inference on NVIDIA GPUs", "mlopt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mlopt 0.1.0");
  app.footer("Run 'mlopt COMMAND --help' for a command's options. Input specs: see README (e.g. ids:int64[8,1024]).");

  const std::vector<mlopt::cli::Command> commands = {
      mlopt::cli::add_inspect(app), mlopt::cli::add_run(app), mlopt::cli::add_profile(app), mlopt::cli::add_make_model(app),
      mlopt::cli::add_devices(app), mlopt::cli::add_report(app), mlopt::cli::add_optimize(app),
      mlopt::cli::add_compare(app)};
  mlopt::cli::set_program_arguments(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // 2: usage errors, as most Unix tools do
  }
  try {
    for (const auto& command : commands) {
      if (command.subcommand->parsed()) return command.action();
    }
    return 2;
  } catch (const mlopt::UsageError& e) {
    std::cerr << "mlopt: error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    // mlopt::Error and the CUDA/world errors of the lower layers carry
    // messages written for users.
    std::cerr << "mlopt: error: " << e.what() << '\n';
    return 1;
  }
}
