#include "mlopt/views/model_loader.h"

#include <QThread>

#include "error_text.h"
#include "worker_thread.h"

namespace mlopt::views {

ModelLoader::ModelLoader(QObject* parent) : QObject(parent) {}

ModelLoader::~ModelLoader() { wait(); }

bool ModelLoader::start(LoadJob job) {
  if (running_) return false;
  running_ = true;
  QPointer<ModelLoader> self(this);
  auto post = [self](std::function<void()> call) {
    QMetaObject::invokeMethod(
        self.data(),
        [self, call = std::move(call)] {
          if (!self) return;
          self->running_ = false;
          call();
          emit self->stopped();
        },
        Qt::QueuedConnection);
  };
  thread_ = detail::start_worker([post, self, job = std::move(job)] {
    try {
      LoadOutcome outcome;
      outcome.model = std::make_shared<const Model>(Model::load(job.file, job.options));
      outcome.info = outcome.model->info();
      if (job.spec) {
        try {
          outcome.info = outcome.model->analyze(*job.spec);
        } catch (const std::exception& e) {
          // The model is fine; only its shapes stay unknown.
          outcome.analysis_problem = detail::error_message(e);
        }
      }
      post([self, outcome] { emit self->loaded(outcome); });
    } catch (const std::exception& e) {
      const QString title = detail::error_title(e, tr("Cannot load the model"));
      const QString message = detail::error_message(e);
      post([self, title, message] { emit self->failed(title, message); });
    } catch (...) {
      post([self] { emit self->failed(tr("Cannot load the model"), tr("unknown error")); });
    }
  });
  return true;
}

void ModelLoader::wait() {
  if (thread_) thread_->wait();
}

}  // namespace mlopt::views
