#pragma once
// Profiling off the UI thread: ProfileRunner loads the model if the job asks
// for other load options than the model at hand, runs profiler::profile on a
// worker QThread, reports progress, can be cancelled between forwards, and
// hands back whole values (the model used and the result) in one signal.
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include <atomic>
#include <filesystem>
#include <memory>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/profiler/profile_result.h"
#include "mlopt/profiler/profiler.h"

class QThread;

namespace mlopt::views {

struct ProfileJob {
  std::filesystem::path model_file;
  LoadOptions load;
  // Reused when it was loaded with `load`; otherwise model_file is loaded.
  std::shared_ptr<const Model> model;
  InputSpec spec;
  // `progress` is replaced by the runner's.
  profiler::ProfileOptions options;
};

struct ProfileOutcome {
  std::shared_ptr<const Model> model;  // the model profiled
  std::shared_ptr<const profiler::ProfileResult> result;
};

class ProfileRunner : public QObject {
  Q_OBJECT

 public:
  explicit ProfileRunner(QObject* parent = nullptr);
  // Cancels a running job and waits for its thread.
  ~ProfileRunner() override;

  bool isRunning() const { return running_; }
  // False (and nothing started) while a job runs.
  bool start(ProfileJob job);
  // Asks the running job to stop after the current forward; cancelled()
  // follows (or finished(), if it was already done).
  void cancel();
  // Blocks until the worker thread has ended (closing the application).
  void wait();

 signals:
  void started();
  // Forwards done of total (0 of total while loading and preparing).
  void progress(int done, int total);
  void finished(const mlopt::views::ProfileOutcome& outcome);
  // A typed error's title ("Out of memory", ...) and its message.
  void failed(const QString& title, const QString& message);
  void cancelled();
  // After finished, failed or cancelled.
  void stopped();

 private:
  void deliver(const std::function<void()>& emit_result);

  bool running_ = false;
  std::shared_ptr<std::atomic<bool>> cancel_;
  QPointer<QThread> thread_;
};

}  // namespace mlopt::views

Q_DECLARE_METATYPE(mlopt::views::ProfileOutcome)
