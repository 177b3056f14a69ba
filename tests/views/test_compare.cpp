// The Compare view: variants read from a project (runs and profiles), box
// plot numbers, the sweep's dimension and lines, the checkable list under
// QAbstractItemModelTester, the panel's charts for the variants ticked, and
// the panel rendered in both themes, not blank.
#include <gtest/gtest.h>

#include <QAbstractItemModelTester>
#include <QDir>
#include <QHash>
#include <QImage>
#include <QListView>
#include <qcustomplot.h>

#include <fstream>
#include <sstream>

#include "mlopt/profiler/profile_json.h"
#include "mlopt/views/compare_data.h"
#include "mlopt/views/compare_panel.h"
#include "mlopt/views/theme.h"
#include "mlopt/views/variant_list_model.h"
#include "qt_test_support.h"
#include "sample_profile.h"

using namespace mlopt;
using namespace mlopt::views;

namespace {

RunResult make_run(int64_t batch, int64_t seq, DType dtype, Device device, std::vector<double> samples) {
  RunResult r;
  r.model_path = "/models/gpt2.pt";
  r.spec = InputSpec::parse("ids:int64[" + std::to_string(batch) + "," + std::to_string(seq) + "]");
  r.device = device;
  r.dtype = dtype;
  r.samples_ms = std::move(samples);
  r.stats = summarize(r.samples_ms);
  r.tokens_per_forward = batch * seq;
  r.tokens_per_second = static_cast<double>(batch * seq) / (r.stats.median_ms / 1e3);
  r.timestamp = "2025-01-0" + std::to_string(batch) + "T10:00:00Z";
  // GPU runs carry the caching allocator's peak; CPU runs none.
  if (device.kind == DeviceKind::Cuda) r.peak_memory_bytes = batch * (int64_t{1} << 30);
  return r;
}

std::string h100_profile_json() {
  std::ifstream in(std::string(MLOPT_TEST_DATA_DIR) + "/h100-gpt2-fp16-8x1024-profile.json");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs at batch 1, 2, 4 in fp32 on the CPU and at batch 1, 2 in fp16 on a
// GPU, all at sequence 128; then the sample profile and the H100 one.
Project sweep_project() {
  Project p;
  const Device cpu{};
  const Device gpu{DeviceKind::Cuda, 0};
  p.runs = {make_run(1, 128, DType::F32, cpu, {10, 11, 12, 13, 50}),
            make_run(2, 128, DType::F32, cpu, {18, 19, 20, 21}),
            make_run(4, 128, DType::F32, cpu, {35, 36, 37}),
            make_run(1, 128, DType::F16, gpu, {2, 2.5, 3}),
            make_run(2, 128, DType::F16, gpu, {3, 3.5, 4})};
  p.profiles = {profiler::to_json(test::sample_profile()), h100_profile_json()};
  return p;
}

std::vector<const Variant*> pointers(const std::vector<Variant>& variants) {
  std::vector<const Variant*> out;
  for (const auto& v : variants) out.push_back(&v);
  return out;
}

int distinct_colours(const QImage& image) {
  const QImage rgb = image.convertToFormat(QImage::Format_RGB32);
  QHash<QRgb, int> counts;
  for (int y = 0; y < rgb.height(); ++y) {
    const auto* line = reinterpret_cast<const QRgb*>(rgb.constScanLine(y));
    for (int x = 0; x < rgb.width(); ++x) ++counts[line[x]];
  }
  return static_cast<int>(counts.size());
}

}  // namespace

TEST(CompareData, BoxStatsAreTukeys) {
  const BoxStats b = box_stats({10, 11, 12, 13, 50});
  EXPECT_DOUBLE_EQ(b.q1, 11);
  EXPECT_DOUBLE_EQ(b.median, 12);
  EXPECT_DOUBLE_EQ(b.q3, 13);
  EXPECT_DOUBLE_EQ(b.whisker_low, 10);
  EXPECT_DOUBLE_EQ(b.whisker_high, 13);  // 50 lies beyond 13 + 1.5 × 2
  ASSERT_EQ(b.outliers.size(), 1u);
  EXPECT_DOUBLE_EQ(b.outliers[0], 50);
  EXPECT_DOUBLE_EQ(box_stats({}).median, 0);
}

TEST(CompareData, BatchAndSequenceFromTheTokenTensor) {
  EXPECT_EQ(batch_and_sequence(InputSpec::parse("x:fp32[3,7,768]; ids:int64[8,1024]")), std::make_pair(int64_t{8}, int64_t{1024}));
  EXPECT_EQ(batch_and_sequence(InputSpec::parse("x:fp16[4,128,768]")), std::make_pair(int64_t{4}, int64_t{128}));
  EXPECT_EQ(batch_and_sequence(InputSpec::parse("x:fp32[16]")), std::make_pair(int64_t{0}, int64_t{0}));
}

TEST(CompareData, EveryRunAndProfileIsAVariant) {
  const CompareData data = compare_data(sweep_project());
  EXPECT_TRUE(data.problems.empty());
  ASSERT_EQ(data.variants.size(), 7u);
  const Variant& run1 = data.variants[0];
  EXPECT_EQ(run1.kind, Variant::Kind::Run);
  EXPECT_EQ(run1.name, "run 1");
  EXPECT_EQ(run1.model, "gpt2.pt");
  EXPECT_EQ(run1.batch, 1);
  EXPECT_EQ(run1.sequence, 128);
  EXPECT_DOUBLE_EQ(run1.median_ms, 12);
  EXPECT_EQ(run1.samples_ms.size(), 5u);
  EXPECT_NEAR(run1.tokens_per_second, 128 / 0.012, 1e-6);
  EXPECT_EQ(run1.peak_memory_bytes, 0);  // a CPU run records none
  EXPECT_NE(run1.label.find("2025-01-01"), std::string::npos);
  EXPECT_EQ(data.variants[4].peak_memory_bytes, int64_t{2} << 30);  // the batch-2 GPU run
  EXPECT_NE(run1.group, data.variants[3].group);  // fp32 cpu vs fp16 cuda
  EXPECT_EQ(run1.group, data.variants[2].group);

  const Variant& sample = data.variants[5];
  EXPECT_EQ(sample.kind, Variant::Kind::Profile);
  EXPECT_EQ(sample.name, "profile 1");
  EXPECT_DOUBLE_EQ(sample.median_ms, 12);  // iteration_us
  EXPECT_EQ(sample.samples_ms.size(), 2u);  // one per iteration span
  EXPECT_DOUBLE_EQ(sample.samples_ms[0], 0.012);
  EXPECT_EQ(sample.peak_memory_bytes, 9'000'000);
  ASSERT_EQ(sample.categories_us.size(), 3u);
  EXPECT_EQ(sample.categories_us[0].first, profiler::kAttention);
  EXPECT_DOUBLE_EQ(sample.categories_us[0].second, 6000);

  const Variant& h100 = data.variants[6];
  EXPECT_EQ(h100.batch, 8);
  EXPECT_EQ(h100.sequence, 1024);
  EXPECT_EQ(h100.samples_ms.size(), 10u);
  EXPECT_EQ(h100.peak_memory_bytes, 1126740992);
  EXPECT_NEAR(h100.tokens_per_second, 8 * 1024 / 0.02732176, 1);
  EXPECT_EQ(h100.categories_us.size(), 7u);
}

TEST(CompareData, AnOptimizedRunSaysItsVariantAndIsItsOwnLine) {
  Project p;
  p.runs = {make_run(1, 128, DType::F32, Device{}, {10, 11, 12}), make_run(1, 128, DType::F32, Device{}, {8, 9, 10}),
            make_run(2, 128, DType::F32, Device{}, {16, 17, 18})};
  p.runs[1].variant = "flash_attention+fused_mlp";
  p.runs[2].variant = "flash_attention+fused_mlp";
  const CompareData data = compare_data(p);
  ASSERT_EQ(data.variants.size(), 3u);
  const Variant& base = data.variants[0];
  const Variant& opt = data.variants[1];
  EXPECT_EQ(base.variant, "");
  EXPECT_EQ(opt.variant, "flash_attention+fused_mlp");
  EXPECT_EQ(base.label.find("flash_attention"), std::string::npos) << base.label;
  EXPECT_EQ(opt.label, "run 2 · gpt2.pt [flash_attention+fused_mlp] · fp32 · cpu · ids:int64[1,128] · "
                       "2025-01-01T10:00:00Z");
  // Baseline and optimized are separate throughput lines; optimized runs share one.
  EXPECT_NE(base.group, opt.group);
  EXPECT_EQ(opt.group, data.variants[2].group);
  std::vector<const Variant*> all;
  for (const auto& v : data.variants) all.push_back(&v);
  EXPECT_EQ(sweep_lines(all, SweepDim::Batch).size(), 2u);

  VariantListModel list;
  list.setVariants(data.variants);
  EXPECT_TRUE(list.data(list.index(1), Qt::DisplayRole).toString().contains("[flash_attention+fused_mlp]"));
}

TEST(CompareData, AnUnreadableProfileIsAProblemNotAnError) {
  Project p;
  p.profiles = {"{not json"};
  const CompareData data = compare_data(p);
  EXPECT_TRUE(data.variants.empty());
  ASSERT_EQ(data.problems.size(), 1u);
  EXPECT_NE(data.problems[0].find("profile 1"), std::string::npos);
}

TEST(CompareData, SweepFollowsWhatVaries) {
  const CompareData data = compare_data(sweep_project());
  std::vector<const Variant*> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(&data.variants[i]);
  const SweepAxis batch = sweep_axis(runs);
  EXPECT_EQ(batch.dim, SweepDim::Batch);
  EXPECT_EQ(batch.label, "batch size (sequence length 128)");
  const std::vector<SweepLine> lines = sweep_lines(runs, batch.dim);
  ASSERT_EQ(lines.size(), 2u);  // fp32 cpu, fp16 cuda
  ASSERT_EQ(lines[0].points.size(), 3u);
  EXPECT_DOUBLE_EQ(lines[0].points[0].x, 1);
  EXPECT_DOUBLE_EQ(lines[0].points[2].x, 4);
  EXPECT_NEAR(lines[0].points[2].tokens_per_second, 4 * 128 / 0.036, 1e-6);
  EXPECT_EQ(lines[1].points.size(), 2u);

  // Sequence lengths swept at one batch.
  Project p;
  p.runs = {make_run(2, 128, DType::F32, Device{}, {5}), make_run(2, 256, DType::F32, Device{}, {9})};
  const CompareData seq = compare_data(p);
  const SweepAxis axis = sweep_axis(pointers(seq.variants));
  EXPECT_EQ(axis.dim, SweepDim::Sequence);
  EXPECT_EQ(axis.label, "sequence length (batch 2)");
  // Both vary: tokens per forward.
  p.runs.push_back(make_run(4, 64, DType::F32, Device{}, {7}));
  const CompareData both = compare_data(p);
  EXPECT_EQ(sweep_axis(pointers(both.variants)).dim, SweepDim::Tokens);
  EXPECT_DOUBLE_EQ(sweep_value(both.variants[2], SweepDim::Tokens), 256);
}

TEST(CompareData, CategoriesInReportOrder) {
  const CompareData data = compare_data(sweep_project());
  const auto order = category_order({&data.variants[5], &data.variants[6]});
  ASSERT_EQ(order.size(), 8u - 1);  // every category but communication
  EXPECT_EQ(order.front(), profiler::kAttention);
  EXPECT_EQ(order[1], profiler::kMlp);
  EXPECT_EQ(order.back(), profiler::kIdle);
}

class CompareModel : public test::QtWarningsFail {};

TEST_F(CompareModel, VariantListUnderTheModelTester) {
  VariantListModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  EXPECT_EQ(model.rowCount(), 0);
  model.setVariants(compare_data(sweep_project()).variants);
  ASSERT_EQ(model.rowCount(), 7);
  // The last two are checked at first.
  EXPECT_EQ(model.checkedRows(), (std::vector<int>{5, 6}));
  EXPECT_EQ(model.index(6).data(Qt::CheckStateRole).toInt(), int(Qt::Checked));
  EXPECT_TRUE(model.index(0).data().toString().startsWith(QStringLiteral("run 1 · gpt2.pt")));
  EXPECT_EQ(model.index(5).data(VariantListModel::KindRole).toInt(), int(Variant::Kind::Profile));
  EXPECT_EQ(model.index(5).data(VariantListModel::IndexRole).toInt(), 0);
  EXPECT_TRUE(model.flags(model.index(0)) & Qt::ItemIsUserCheckable);

  ASSERT_TRUE(model.setData(model.index(0), Qt::Checked, Qt::CheckStateRole));
  ASSERT_TRUE(model.setData(model.index(6), Qt::Unchecked, Qt::CheckStateRole));
  EXPECT_EQ(model.checkedRows(), (std::vector<int>{0, 5}));
  // Reloading keeps what was checked and checks what is new (run 6).
  Project more = sweep_project();
  more.runs.push_back(make_run(8, 128, DType::F32, Device{}, {70}));
  model.setVariants(compare_data(more).variants);
  EXPECT_EQ(model.checkedRows(), (std::vector<int>{0, 5, 6}));
  // Another project: nothing known, the last two.
  Project other;
  other.runs = {make_run(1, 64, DType::F32, Device{}, {1}), make_run(2, 64, DType::F32, Device{}, {2}),
                make_run(4, 64, DType::F32, Device{}, {3})};
  model.setVariants(compare_data(other).variants);
  EXPECT_EQ(model.checkedRows(), (std::vector<int>{1, 2}));
  model.clear();
  EXPECT_EQ(model.rowCount(), 0);
}

TEST_F(CompareModel, PanelDrawsTheTickedVariants) {
  ComparePanel panel;
  panel.resize(1200, 900);
  EXPECT_TRUE(panel.showsEmptyState());
  EXPECT_TRUE(panel.message().contains(QStringLiteral("mlopt run --project")));

  panel.setProject(sweep_project());
  VariantListModel* model = panel.variantModel();
  ASSERT_EQ(model->rowCount(), 7);
  // Two profiles (checked at first).
  EXPECT_FALSE(panel.showsEmptyState());
  EXPECT_EQ(panel.latencyChart()->plottableCount(), 2);
  EXPECT_EQ(panel.memoryChart()->plottableCount(), 2);
  // Seven categories stacked, each with a bar per profile but where one lacks it.
  EXPECT_EQ(panel.categoryChart()->plottableCount(), 7);
  auto* attention = qobject_cast<QCPBars*>(panel.categoryChart()->plottable(0));
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->name(), QString::fromLatin1(profiler::kAttention));
  EXPECT_EQ(attention->data()->size(), 2);
  EXPECT_DOUBLE_EQ(attention->data()->at(0)->value, 6.0);  // ms
  EXPECT_EQ(qobject_cast<QCPBars*>(panel.categoryChart()->plottable(1))->barBelow(), attention);
  // Two models (the sample and the H100's): two one-point lines.
  EXPECT_EQ(panel.throughputChart()->graphCount(), 2);

  // The five runs instead: boxes for each, two sweep lines over the batch,
  // memory bars for the two GPU runs only (CPU runs record no peak), no
  // category bars (runs have no profile).
  model->setCheckedRows({0, 1, 2, 3, 4});
  EXPECT_EQ(panel.latencyChart()->plottableCount(), 5);
  auto* box = qobject_cast<QCPStatisticalBox*>(panel.latencyChart()->plottable(0));
  ASSERT_NE(box, nullptr);
  EXPECT_DOUBLE_EQ(box->data()->at(0)->median, 12);
  EXPECT_EQ(box->data()->at(0)->outliers.size(), 1);
  ASSERT_EQ(panel.throughputChart()->graphCount(), 2);
  EXPECT_EQ(panel.throughputChart()->graph(0)->data()->size(), 3);
  EXPECT_EQ(panel.throughputChart()->graph(1)->data()->size(), 2);
  EXPECT_EQ(panel.sweepAxis().dim, SweepDim::Batch);
  EXPECT_TRUE(panel.throughputChart()->xAxis->label().startsWith(QStringLiteral("batch size")));
  EXPECT_EQ(panel.memoryChart()->plottableCount(), 2);
  EXPECT_EQ(panel.categoryChart()->plottableCount(), 0);

  // The CPU runs alone: no memory bars, and a message saying why.
  model->setCheckedRows({0, 1, 2});
  EXPECT_EQ(panel.memoryChart()->plottableCount(), 0);
  EXPECT_EQ(panel.memoryChart()->itemCount(), 1);

  // Ticking through the view's model, as a click does.
  model->setCheckedRows({});
  EXPECT_TRUE(panel.showsEmptyState());
  EXPECT_TRUE(panel.message().contains(QStringLiteral("Tick")));
  panel.variantView()->model()->setData(model->index(5), Qt::Checked, Qt::CheckStateRole);
  EXPECT_FALSE(panel.showsEmptyState());
  EXPECT_EQ(panel.latencyChart()->plottableCount(), 1);

  panel.clear();
  EXPECT_TRUE(panel.showsEmptyState());
  EXPECT_EQ(panel.latencyChart()->plottableCount(), 0);
}

// A plain test: showing a widget on the offscreen platform logs a harmless
// warning (propagateSizeHints) that the warnings fixture would fail on.
TEST(CompareRender, PanelRendersInBothThemes) {
  test::ensure_app();
  // The panel's own palette, as the application's would reach it, without
  // changing the style other tests in this binary see.
  ComparePanel panel;
  panel.resize(1200, 900);
  panel.setProject(sweep_project());
  panel.variantModel()->setCheckedRows({0, 1, 2, 3, 4, 5, 6});
  panel.show();
  for (const Theme theme : {Theme::Light, Theme::Dark}) {
    SCOPED_TRACE(to_string(theme).toStdString());
    panel.setPalette(palette_for(theme));
    QCoreApplication::processEvents();
    const QColor base = palette_for(theme).color(QPalette::Base);
    // The charts' background is the theme's.
    EXPECT_EQ(panel.latencyChart()->grab().toImage().pixelColor(2, 2).rgb(), base.rgb());
    for (QCustomPlot* chart :
         {panel.latencyChart(), panel.throughputChart(), panel.memoryChart(), panel.categoryChart()}) {
      const QImage image = chart->grab().toImage();
      ASSERT_GT(image.width(), 100);
      EXPECT_GE(distinct_colours(image), 12) << chart->objectName().toStdString();
    }
    const QImage whole = panel.grab().toImage();
    EXPECT_GE(distinct_colours(whole), 40);
    // As in test_render.cpp: MLOPT_SCREENSHOT_DIR keeps the grab.
    const QString dir = qEnvironmentVariable("MLOPT_SCREENSHOT_DIR");
    if (!dir.isEmpty()) {
      QDir().mkpath(dir);
      whole.save(QDir(dir).filePath(QStringLiteral("compare-panel-%1.png").arg(to_string(theme))));
    }
  }
}
