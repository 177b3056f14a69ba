#include "mlopt/views/optimize_dialog.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QTreeView>
#include <QVBoxLayout>

#include "error_text.h"
#include "mlopt/views/outcome_model.h"
#include "worker_thread.h"

namespace mlopt::views {
namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// A checkbox with a note under it (the platform's limit; hidden when empty).
QLabel* add_option(QVBoxLayout* layout, QCheckBox* box, const QString& tooltip) {
  box->setToolTip(tooltip);
  layout->addWidget(box);
  auto* note = new QLabel(box->parentWidget());
  note->setWordWrap(true);
  note->setIndent(24);  // under the box's text, not its indicator
  note->setEnabled(false);  // drawn greyed: a remark, not a control
  note->setVisible(false);
  layout->addWidget(note);
  return note;
}

void set_note(QLabel* note, const QString& text) {
  note->setText(text);
  note->setVisible(!text.isEmpty());
}

bool same_subject(const OptimizeSubject& a, const OptimizeSubject& b) {
  return a.model == b.model && a.model_file == b.model_file && a.load.device == b.load.device &&
         a.load.dtype == b.load.dtype && a.spec.to_string() == b.spec.to_string();
}

}  // namespace

OptimizeDialog::OptimizeDialog(QWidget* parent)
    : QDialog(parent),
      subject_label_(new QLabel(this)),
      flash_attention_(new QCheckBox(tr("&Flash attention"), this)),
      fused_mlp_(new QCheckBox(tr("F&used MLP"), this)),
      align_linear_(new QCheckBox(tr("&Align Linear (pad odd output widths)"), this)),
      cuda_graphs_(new QCheckBox(tr("CUDA &graphs"), this)),
      tensor_parallel_(new QSpinBox(this)),
      sequence_parallel_(new QSpinBox(this)),
      ring_attention_(new QCheckBox(tr("Ring attention"), this)),
      optimize_(new QPushButton(tr("&Optimize"), this)),
      time_(new QPushButton(tr("&Time baseline and optimized"), this)),
      busy_(new QProgressBar(this)),
      status_(new QLabel(this)),
      outcome_model_(new OutcomeModel(this)),
      outcome_view_(new QTreeView(this)) {
  qRegisterMetaType<OptimizeResult>();
  qRegisterMetaType<TimingResult>();
  setObjectName(QStringLiteral("optimizeDialog"));
  setWindowTitle(tr("Optimize"));
  buildUi();
  updatePlatformNotes();
  updateControls();
}

OptimizeDialog::~OptimizeDialog() { wait(); }

void OptimizeDialog::buildUi() {
  subject_label_->setObjectName(QStringLiteral("optimizeSubject"));
  subject_label_->setWordWrap(true);

  auto* transforms = new QGroupBox(tr("Transforms"), this);
  auto* t = new QVBoxLayout(transforms);
  flash_attention_->setObjectName(QStringLiteral("flashAttentionBox"));
  fused_mlp_->setObjectName(QStringLiteral("fusedMlpBox"));
  align_linear_->setObjectName(QStringLiteral("alignLinearBox"));
  cuda_graphs_->setObjectName(QStringLiteral("cudaGraphsBox"));
  for (QCheckBox* box : {flash_attention_, fused_mlp_, align_linear_, cuda_graphs_}) box->setParent(transforms);
  flash_attention_note_ =
      add_option(t, flash_attention_, tr("Replace attention blocks by mlopt::flash_attention (a FlashAttention-style "
                                         "kernel)"));
  fused_mlp_note_ = add_option(t, fused_mlp_,
                               tr("Replace MLP blocks (Linear/Conv1D + GELU/ReLU/SiLU + Linear, SwiGLU/GeGLU) by "
                                  "mlopt::fused_mlp"));
  add_option(t, align_linear_,
             tr("Pad Linear layers whose output features are not a multiple of 8 (a 50257-token LM head) to a "
                "multiple of 64 and slice the output back, so cuBLAS runs its aligned tensor-core kernels"));
  cuda_graphs_note_ = add_option(t, cuda_graphs_, cudaGraphsDescription());
  flash_attention_note_->setObjectName(QStringLiteral("flashAttentionNote"));
  fused_mlp_note_->setObjectName(QStringLiteral("fusedMlpNote"));
  cuda_graphs_note_->setObjectName(QStringLiteral("cudaGraphsNote"));

  // Parallelism is shown so its place is known, but not offered yet.
  auto* parallel = new QGroupBox(tr("Parallelism"), this);
  auto* p = new QFormLayout(parallel);
  tensor_parallel_->setObjectName(QStringLiteral("tensorParallelBox"));
  sequence_parallel_->setObjectName(QStringLiteral("sequenceParallelBox"));
  ring_attention_->setObjectName(QStringLiteral("ringAttentionBox"));
  for (QSpinBox* box : {tensor_parallel_, sequence_parallel_}) {
    box->setParent(parallel);
    box->setRange(1, 1);
    box->setValue(1);
  }
  ring_attention_->setParent(parallel);
  p->addRow(tr("Tensor-parallel size"), tensor_parallel_);
  p->addRow(tr("Sequence-parallel size"), sequence_parallel_);
  p->addRow(ring_attention_);
  parallel_note_ = new QLabel(parallelUnavailableReason(), parallel);
  parallel_note_->setObjectName(QStringLiteral("parallelNote"));
  parallel_note_->setWordWrap(true);
  parallel_note_->setEnabled(false);
  p->addRow(parallel_note_);
  for (QWidget* w : std::initializer_list<QWidget*>{tensor_parallel_, sequence_parallel_, ring_attention_}) {
    w->setEnabled(false);
    w->setToolTip(parallelUnavailableReason());
  }

  optimize_->setObjectName(QStringLiteral("optimizeButton"));
  optimize_->setDefault(true);
  optimize_->setToolTip(tr("Apply the ticked transforms and check the outputs against the model's"));
  time_->setObjectName(QStringLiteral("timeButton"));
  time_->setToolTip(tr("Time the forward of the model as loaded and of the optimized one, with the toolbar's "
                       "iterations; both runs are added to the project for the Compare tab"));
  busy_->setObjectName(QStringLiteral("optimizeProgress"));
  busy_->setRange(0, 0);  // no steps to count: busy
  busy_->setMaximumWidth(160);
  busy_->setVisible(false);
  status_->setObjectName(QStringLiteral("optimizeStatus"));
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  outcome_view_->setObjectName(QStringLiteral("outcomeView"));
  outcome_view_->setModel(outcome_model_);
  outcome_view_->setUniformRowHeights(true);
  outcome_view_->setAlternatingRowColors(true);
  outcome_view_->header()->setStretchLastSection(true);
  outcome_view_->setMinimumHeight(200);

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(optimize_);
  buttons->addWidget(time_);
  buttons->addWidget(busy_);
  buttons->addStretch(1);
  auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* options = new QHBoxLayout;
  options->addWidget(transforms, 3);
  options->addWidget(parallel, 2);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(subject_label_);
  layout->addLayout(options);
  layout->addLayout(buttons);
  layout->addWidget(status_);
  layout->addWidget(outcome_view_, 1);
  layout->addWidget(close);
  resize(900, 620);

  for (QCheckBox* box : {flash_attention_, fused_mlp_, align_linear_, cuda_graphs_}) {
    connect(box, &QCheckBox::toggled, this, &OptimizeDialog::updateControls);
  }
  connect(optimize_, &QPushButton::clicked, this, &OptimizeDialog::startOptimize);
  connect(time_, &QPushButton::clicked, this, &OptimizeDialog::startTiming);
}

QString OptimizeDialog::cudaGraphsUnavailableReason(const Device& device) {
  if (device.kind == DeviceKind::Cuda) return {};
  return tr("CUDA graphs need the model on a CUDA device (this model runs on %1)").arg(q(to_string(device)));
}

QString OptimizeDialog::cudaGraphsDescription() {
  return tr("Capture the whole forward (after the other transforms) as one CUDA graph for these input shapes, "
            "replayed at once instead of launching each kernel");
}

QString OptimizeDialog::parallelUnavailableReason() {
  return tr("not in the workbench yet: run it with mlopt run --tensor-parallel N [--sequence-parallel] or "
            "--ring-attention N (README, Parallelism)");
}

QString OptimizeDialog::cpuReferenceNote() { return tr("CPU: reference kernels, for checking only"); }

void OptimizeDialog::updatePlatformNotes() {
  const Device device = subject_.load.device;
  const bool cpu = device.kind != DeviceKind::Cuda;
  // On the CPU mlopt's ops run their reference code: right, but not fast.
  set_note(flash_attention_note_, cpu ? cpuReferenceNote() : QString());
  set_note(fused_mlp_note_, cpu ? cpuReferenceNote() : QString());
  const QString graphs = cudaGraphsUnavailableReason(device);
  set_note(cuda_graphs_note_, graphs);
  if (!graphs.isEmpty()) cuda_graphs_->setChecked(false);
  cuda_graphs_->setEnabled(graphs.isEmpty());
  cuda_graphs_->setToolTip(graphs.isEmpty() ? cudaGraphsDescription() : graphs);
  cuda_graphs_note_->setToolTip(graphs);

  if (!subject_.model && subject_.model_file.empty()) {
    subject_label_->setText(tr("No model open"));
    return;
  }
  const QString dtype = subject_.load.dtype ? q(to_string(*subject_.load.dtype))
                        : subject_.model    ? q(to_string(subject_.model->info().dtype))
                                            : tr("dtype as saved");
  subject_label_->setText(tr("%1 on %2 · %3 · inputs %4")
                              .arg(QFileInfo(q(subject_.model_file.string())).fileName(), q(to_string(device)),
                                   dtype, q(subject_.spec.to_string())));
}

void OptimizeDialog::setSubject(OptimizeSubject subject) {
  if (running_) return;  // the work in flight was started for the current one
  if (!same_subject(subject_, subject)) {
    result_ = {};
    outcome_model_->clear();
    summary_.clear();
    setStatus({});
  }
  // Timing settings may change without invalidating the outcomes.
  subject_ = std::move(subject);
  updatePlatformNotes();
  updateControls();
}

TransformOptions OptimizeDialog::options() const {
  TransformOptions o;
  o.flash_attention = flash_attention_->isChecked();
  o.fused_mlp = fused_mlp_->isChecked();
  o.align_linear = align_linear_->isChecked();
  o.cuda_graphs = cuda_graphs_->isEnabled() && cuda_graphs_->isChecked();
  return o;
}

const std::vector<TransformOutcome>& OptimizeDialog::outcomes() const { return result_.outcomes; }

QString OptimizeDialog::variant() const {
  QString v;
  for (const auto& o : result_.outcomes) {
    if (!o.applied) continue;
    if (!v.isEmpty()) v += QLatin1Char('+');
    v += q(o.transform);
  }
  return v;
}

QString OptimizeDialog::summary() const { return summary_; }

void OptimizeDialog::updateControls() {
  const TransformOptions o = options();
  const bool any = o.flash_attention || o.fused_mlp || o.align_linear || o.cuda_graphs;
  const bool has_model = subject_.model || !subject_.model_file.empty();
  optimize_->setEnabled(!running_ && has_model && any);
  time_->setEnabled(!running_ && result_.optimized && !variant().isEmpty());
  for (QCheckBox* box : {flash_attention_, fused_mlp_, align_linear_}) box->setEnabled(!running_);
  cuda_graphs_->setEnabled(!running_ && cudaGraphsUnavailableReason(subject_.load.device).isEmpty());
  busy_->setVisible(running_);
}

void OptimizeDialog::setStatus(const QString& text) { status_->setText(text); }

void OptimizeDialog::wait() {
  if (thread_) thread_->wait();
}

void OptimizeDialog::startWork(std::function<void(const Post& post)> work) {
  running_ = true;
  updateControls();
  emit started();
  // The worker reaches back only through queued calls on this object; the
  // destructor waits for it, and Qt drops calls to an object that is gone.
  QPointer<OptimizeDialog> self(this);
  Post post = [self](std::function<void(OptimizeDialog&)> call) {
    QMetaObject::invokeMethod(
        self.data(), [self, call = std::move(call)] {
          if (self) call(*self);
        },
        Qt::QueuedConnection);
  };
  thread_ = detail::start_worker([work = std::move(work), post] { work(post); });
}

bool OptimizeDialog::startOptimize() {
  const TransformOptions transform_options = options();
  const bool any = transform_options.flash_attention || transform_options.fused_mlp ||
                   transform_options.align_linear || transform_options.cuda_graphs;
  if (running_ || !any || (!subject_.model && subject_.model_file.empty())) return false;
  result_ = {};
  outcome_model_->clear();
  summary_.clear();
  setStatus(tr("Applying the transforms and verifying the outputs…"));
  startWork([subject = subject_, transform_options](const Post& post) {
    try {
      std::shared_ptr<const Model> model = subject.model;
      const bool reuse =
          model && model->options().device == subject.load.device && model->options().dtype == subject.load.dtype;
      if (!reuse) model = std::make_shared<const Model>(Model::load(subject.model_file, subject.load));
      TransformedModel transformed = apply_transforms(*model, subject.spec, transform_options);
      OptimizeResult result{model, std::make_shared<const Model>(std::move(transformed.model)),
                            std::move(transformed.outcomes), subject.spec};
      post([result](OptimizeDialog& d) { d.onOptimized(result); });
    } catch (const std::exception& e) {
      const QString title = detail::error_title(e, tr("Optimizing failed"));
      const QString message = detail::error_message(e);
      post([title, message](OptimizeDialog& d) { d.onFailed(title, message); });
    } catch (...) {
      post([](OptimizeDialog& d) { d.onFailed(tr("Optimizing failed"), tr("unknown error")); });
    }
  });
  return true;
}

bool OptimizeDialog::startTiming() {
  if (running_ || !result_.optimized || variant().isEmpty()) return false;
  setStatus(tr("Timing the baseline and the optimized model…"));
  RunOptions run_options;
  run_options.warmup = subject_.warmup;
  run_options.iterations = subject_.iterations;
  startWork([result = result_, file = subject_.model_file.string(), variant = variant().toStdString(),
             run_options](const Post& post) {
    try {
      // The same inputs (seeded) and settings for both, one after the other.
      TimingResult timing;
      timing.baseline = mlopt::run(*result.baseline, result.spec, run_options);
      timing.optimized = mlopt::run(*result.optimized, result.spec, run_options);
      // Both are forms of the one model file: Compare groups them by it.
      timing.baseline.model_path = file;
      timing.optimized.model_path = file;
      timing.baseline.variant.clear();
      timing.optimized.variant = variant;
      post([timing](OptimizeDialog& d) { d.onTimed(timing); });
    } catch (const std::exception& e) {
      const QString title = detail::error_title(e, tr("Timing failed"));
      const QString message = detail::error_message(e);
      post([title, message](OptimizeDialog& d) { d.onFailed(title, message); });
    } catch (...) {
      post([](OptimizeDialog& d) { d.onFailed(tr("Timing failed"), tr("unknown error")); });
    }
  });
  return true;
}

void OptimizeDialog::onOptimized(const OptimizeResult& result) {
  running_ = false;
  result_ = result;
  outcome_model_->setOutcomes(result.outcomes);
  outcome_view_->expandAll();
  for (int c = 0; c + 1 < OutcomeModel::ColumnCount; ++c) outcome_view_->resizeColumnToContents(c);
  const QString kept = variant();
  summary_ = kept.isEmpty() ? tr("No transform was kept: the reasons are below.")
                            : tr("Kept: %1. Time the baseline and the optimized model to compare them.").arg(kept);
  setStatus(summary_);
  updateControls();
  emit optimized(result);
  emit stopped();
}

void OptimizeDialog::onTimed(const TimingResult& timing) {
  running_ = false;
  const double base = timing.baseline.stats.median_ms;
  const double opt = timing.optimized.stats.median_ms;
  summary_ = tr("Median forward: baseline %1 ms, %2 %3 ms").arg(base, 0, 'f', 3).arg(variant()).arg(opt, 0, 'f', 3);
  if (base > 0 && opt > 0) summary_ += tr(" (%1× the baseline's speed)").arg(base / opt, 0, 'f', 2);
  summary_ += tr(". Both runs are in the project: see the Compare tab.");
  setStatus(summary_);
  updateControls();
  emit timed(timing);
  emit stopped();
}

void OptimizeDialog::onFailed(const QString& title, const QString& message) {
  running_ = false;
  summary_ = title + QStringLiteral(": ") + message;
  setStatus(summary_);
  updateControls();
  emit failed(title, message);
  emit stopped();
}

}  // namespace mlopt::views
