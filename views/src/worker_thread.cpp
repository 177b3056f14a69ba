#include "worker_thread.h"

namespace mlopt::views::detail {

QThread* start_worker(std::function<void()> work) {
  QThread* thread = QThread::create(std::move(work));
  QObject::connect(thread, &QThread::finished, thread, &QObject::deleteLater);
  thread->start();
  return thread;
}

}  // namespace mlopt::views::detail
