#pragma once
// Run › Optimize…: choose graph transforms (flash attention, fused MLP,
// aligned Linear widths, CUDA graphs), apply them on a worker thread
// (mlopt::apply_transforms), show what matched, what was left alone and why,
// and how verification went; then time the baseline and the optimized model
// (mlopt::run) so the Compare tab can set them side by side. A transform the
// model's device cannot run is disabled, its reason shown beside it. The
// dialog holds no project: the main window takes the results from its
// signals. Errors come back as failed(); the dialog carries on.
#include <QDialog>
#include <QMetaType>
#include <QPointer>
#include <QString>

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/transforms.h"

class QCheckBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QThread;
class QTreeView;

namespace mlopt::views {

class OutcomeModel;

// What to optimize: the model at hand (reused when it was loaded with `load`,
// else model_file is loaded so), the inputs the passes reason about and
// verification draws from, and how to time the forwards.
struct OptimizeSubject {
  std::filesystem::path model_file;
  LoadOptions load;
  std::shared_ptr<const Model> model;
  InputSpec spec;
  int warmup = 3;
  int iterations = 10;
};

struct OptimizeResult {
  std::shared_ptr<const Model> baseline;   // the model the transforms were applied to
  std::shared_ptr<const Model> optimized;  // with the transforms kept (the baseline's graph when none was)
  std::vector<TransformOutcome> outcomes;
  InputSpec spec;
};

struct TimingResult {
  RunResult baseline;   // variant ""
  RunResult optimized;  // variant: the applied transforms joined by '+'
};

class OptimizeDialog : public QDialog {
  Q_OBJECT

 public:
  explicit OptimizeDialog(QWidget* parent = nullptr);
  // Waits for work in flight (it refers to nothing the dialog owns, but its
  // results would have nowhere to go).
  ~OptimizeDialog() override;

  // Sets what to optimize and which transforms its device can run; clears
  // the outcomes of an earlier subject.
  void setSubject(OptimizeSubject subject);
  const OptimizeSubject& subject() const { return subject_; }

  // The transforms ticked, as apply_transforms takes them.
  TransformOptions options() const;
  // Starts apply_transforms on a worker thread; false when nothing is
  // ticked, no model is set or work is in flight.
  bool startOptimize();
  // Times the baseline, then the optimized model, on a worker thread;
  // false until an optimize kept a transform, or while work is in flight.
  bool startTiming();
  bool isRunning() const { return running_; }
  void wait();

  const std::vector<TransformOutcome>& outcomes() const;
  std::shared_ptr<const Model> optimizedModel() const { return result_.optimized; }
  // The applied transforms joined by '+' ("flash_attention+fused_mlp"); empty when none was kept.
  QString variant() const;
  // One line about the last optimize or timing.
  QString summary() const;

  QCheckBox* flashAttentionBox() const { return flash_attention_; }
  QCheckBox* fusedMlpBox() const { return fused_mlp_; }
  QCheckBox* alignLinearBox() const { return align_linear_; }
  QCheckBox* cudaGraphsBox() const { return cuda_graphs_; }
  // The notes beside the boxes: the platform's limits, or empty.
  QLabel* flashAttentionNote() const { return flash_attention_note_; }
  QLabel* fusedMlpNote() const { return fused_mlp_note_; }
  QLabel* cudaGraphsNote() const { return cuda_graphs_note_; }
  QSpinBox* tensorParallelBox() const { return tensor_parallel_; }
  QSpinBox* sequenceParallelBox() const { return sequence_parallel_; }
  QCheckBox* ringAttentionBox() const { return ring_attention_; }
  QLabel* parallelNote() const { return parallel_note_; }
  QPushButton* optimizeButton() const { return optimize_; }
  QPushButton* timeButton() const { return time_; }
  OutcomeModel* outcomeModel() const { return outcome_model_; }
  QTreeView* outcomeView() const { return outcome_view_; }

  // Why CUDA graphs cannot run on `device`; empty when they can.
  static QString cudaGraphsUnavailableReason(const Device& device);
  static QString cudaGraphsDescription();
  static QString parallelUnavailableReason();
  static QString cpuReferenceNote();

 signals:
  void started();
  void optimized(const mlopt::views::OptimizeResult& result);
  void timed(const mlopt::views::TimingResult& result);
  // A typed error's title and its message.
  void failed(const QString& title, const QString& message);
  // After optimized, timed or failed.
  void stopped();

 private:
  void buildUi();
  void updateControls();
  void updatePlatformNotes();
  void onOptimized(const OptimizeResult& result);
  void onTimed(const TimingResult& result);
  void setStatus(const QString& text);
  // Hands a call to the dialog on its own thread (dropped if it is gone).
  using Post = std::function<void(std::function<void(OptimizeDialog&)>)>;
  // Runs `work` on a worker thread; it reports back through `post`.
  void startWork(std::function<void(const Post& post)> work);
  void onFailed(const QString& title, const QString& message);

  OptimizeSubject subject_;
  OptimizeResult result_;
  bool running_ = false;
  QPointer<QThread> thread_;
  QString summary_;

  QLabel* subject_label_;
  QCheckBox* flash_attention_;
  QLabel* flash_attention_note_;
  QCheckBox* fused_mlp_;
  QLabel* fused_mlp_note_;
  QCheckBox* align_linear_;
  QCheckBox* cuda_graphs_;
  QLabel* cuda_graphs_note_;
  QSpinBox* tensor_parallel_;
  QSpinBox* sequence_parallel_;
  QCheckBox* ring_attention_;
  QLabel* parallel_note_;
  QPushButton* optimize_;
  QPushButton* time_;
  QProgressBar* busy_;
  QLabel* status_;
  OutcomeModel* outcome_model_;
  QTreeView* outcome_view_;
};

}  // namespace mlopt::views

Q_DECLARE_METATYPE(mlopt::views::OptimizeResult)
Q_DECLARE_METATYPE(mlopt::views::TimingResult)
