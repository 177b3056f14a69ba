#pragma once
// Loading a model off the UI thread (torch::jit::load, conversion, freezing
// and, with a valid input spec, one forward to learn the graph's shapes),
// handing back the model and its description in one signal.
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>

#include <filesystem>
#include <memory>
#include <optional>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/model_info.h"

class QThread;

namespace mlopt::views {

struct LoadJob {
  std::filesystem::path file;
  LoadOptions options;
  // With a spec the graph's output shapes are recorded (Model::analyze).
  std::optional<InputSpec> spec;
};

struct LoadOutcome {
  std::shared_ptr<const Model> model;
  ModelInfo info;            // analyzed when the job had a spec that fits
  QString analysis_problem;  // why the shapes are missing, when the spec did not fit
};

class ModelLoader : public QObject {
  Q_OBJECT

 public:
  explicit ModelLoader(QObject* parent = nullptr);
  ~ModelLoader() override;  // waits for a running load

  bool isRunning() const { return running_; }
  // False (and nothing started) while a load runs.
  bool start(LoadJob job);
  void wait();

 signals:
  void loaded(const mlopt::views::LoadOutcome& outcome);
  void failed(const QString& title, const QString& message);
  // After loaded or failed.
  void stopped();

 private:
  bool running_ = false;
  QPointer<QThread> thread_;
};

}  // namespace mlopt::views

Q_DECLARE_METATYPE(mlopt::views::LoadOutcome)
