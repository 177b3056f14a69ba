#include "mlopt/views/profile_runner.h"

#include <QThread>

#include "error_text.h"
#include "worker_thread.h"

namespace mlopt::views {

ProfileRunner::ProfileRunner(QObject* parent) : QObject(parent) {}

ProfileRunner::~ProfileRunner() {
  cancel();
  wait();
}

bool ProfileRunner::start(ProfileJob job) {
  if (running_) return false;
  running_ = true;
  cancel_ = std::make_shared<std::atomic<bool>>(false);
  const auto cancel = cancel_;
  // The worker reaches back only through queued calls on this object, which
  // Qt drops if it is gone (and the destructor waits for the thread anyway).
  QPointer<ProfileRunner> self(this);
  auto post = [self](std::function<void()> call) {
    QMetaObject::invokeMethod(
        self.data(), [self, call = std::move(call)] {
          if (self) call();
        },
        Qt::QueuedConnection);
  };
  emit started();
  emit progress(0, profiler::progress_total(job.options));
  thread_ = detail::start_worker([self, post, cancel, job = std::move(job)]() mutable {
    try {
      std::shared_ptr<const Model> model = job.model;
      const bool reuse = model && model->options().device == job.load.device &&
                         model->options().dtype == job.load.dtype;
      if (!reuse) model = std::make_shared<const Model>(Model::load(job.model_file, job.load));
      if (cancel->load()) throw profiler::Cancelled("profiling was cancelled");
      job.options.progress = [post, self, cancel](int done, int total) {
        post([self, done, total] { emit self->progress(done, total); });
        return !cancel->load();
      };
      auto result = std::make_shared<const profiler::ProfileResult>(profiler::profile(*model, job.spec, job.options));
      const ProfileOutcome outcome{model, std::move(result)};
      post([self, outcome] { self->deliver([&] { emit self->finished(outcome); }); });
    } catch (const profiler::Cancelled&) {
      post([self] { self->deliver([&] { emit self->cancelled(); }); });
    } catch (const std::exception& e) {
      const QString title = detail::error_title(e, tr("Profiling failed"));
      const QString message = detail::error_message(e);
      post([self, title, message] { self->deliver([&] { emit self->failed(title, message); }); });
    } catch (...) {
      post([self] { self->deliver([&] { emit self->failed(tr("Profiling failed"), tr("unknown error")); }); });
    }
  });
  return true;
}

void ProfileRunner::deliver(const std::function<void()>& emit_result) {
  running_ = false;
  emit_result();
  emit stopped();
}

void ProfileRunner::cancel() {
  if (cancel_) cancel_->store(true);
}

void ProfileRunner::wait() {
  if (thread_) thread_->wait();
}

}  // namespace mlopt::views
