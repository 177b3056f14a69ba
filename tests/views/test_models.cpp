// The views' item models under QAbstractItemModelTester (whose complaints must
// be none), what they show in each role, and the compiled-in resources.
#include <gtest/gtest.h>

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QFile>
#include <QIcon>
#include <QImage>
#include <QImageReader>
#include <QPixmap>
#include <QSignalSpy>
#include <QStringList>
#include <QXmlStreamReader>

#include <functional>

#include "mlopt/core/model_info.h"
#include "mlopt/views/module_tree_model.h"
#include "mlopt/views/op_histogram_model.h"
#include "mlopt/views/outcome_model.h"
#include "qt_test_support.h"

using mlopt::ModuleInfo;
using mlopt::views::ModuleTreeModel;
using mlopt::views::OpHistogramModel;
using mlopt::views::OutcomeModel;

namespace {

using mlopt::test::ensure_app;
using mlopt::test::QtWarningsFail;

class ViewsModuleTree : public QtWarningsFail {};
class ViewsOpHistogram : public QtWarningsFail {};
class ViewsOutcomes : public QtWarningsFail {};

ModuleInfo module(std::string name, std::string path, std::string type, int64_t own, int64_t total,
                  std::vector<ModuleInfo> children = {}) {
  ModuleInfo m;
  m.name = std::move(name);
  m.path = std::move(path);
  m.type = std::move(type);
  m.own_parameters = own;
  m.own_bytes = own * 4;
  m.total_parameters = total;
  m.total_bytes = total * 4;
  m.children = std::move(children);
  return m;
}

// GPT-2 small's real sizes, trimmed to two blocks, four levels deep. lm_head
// shares its weight with transformer.wte, so the root counts it once and the
// children's totals add up to more than the root's.
ModuleInfo gpt2_tree() {
  auto block = [](const char* row) {
    return module(row, std::string("transformer.h.") + row, "Block", 0, 7'087'872);
  };
  ModuleInfo root = module("", "", "GPT2LMHeadModel", 0, 124'439'808,
                           {module("transformer", "transformer", "Transformer", 0, 124'439'808,
                                   {module("wte", "transformer.wte", "Embedding", 38'597'376, 38'597'376),
                                    module("h", "transformer.h", "ModuleList", 0, 14'175'744,
                                           {block("0"), block("1")}),
                                    module("ln_f", "transformer.ln_f", "LayerNorm", 1'536, 1'536)}),
                            module("lm_head", "lm_head", "Linear", 38'597'376, 38'597'376)});
  root.buffer_bytes = 4'194'304;
  return root;
}

ModuleInfo llama_tree() {
  return module("", "", "LlamaForCausalLM", 0, 6'738'415'616,
                {module("model", "model", "LlamaModel", 0, 6'607'343'616),
                 module("lm_head", "lm_head", "Linear", 131'072'000, 131'072'000),
                 module("rotary", "rotary", "Rotary", 0, 0)});
}

// Calls `visit` on every index of every column, depth first.
void walk(const QAbstractItemModel& model, const QModelIndex& parent,
          const std::function<void(const QModelIndex&)>& visit) {
  for (int row = 0; row < model.rowCount(parent); ++row) {
    for (int column = 0; column < model.columnCount(parent); ++column) visit(model.index(row, column, parent));
    walk(model, model.index(row, 0, parent), visit);
  }
}

QString text(const QAbstractItemModel& model, const QModelIndex& index, int column, int role = Qt::DisplayRole) {
  return model.data(index.siblingAtColumn(column), role).toString();
}

bool right_aligned(const QVariant& alignment) {
  return alignment.isValid() && (alignment.toInt() & Qt::AlignRight);
}

}  // namespace

TEST_F(ViewsModuleTree, EmptyUntilSetAndAfterClear) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_EQ(model.columnCount(), ModuleTreeModel::ColumnCount);
  EXPECT_FALSE(model.index(0, 0).isValid());
  EXPECT_FALSE(model.indexForPath("").isValid());

  model.setModules(gpt2_tree());
  QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
  model.clear();
  EXPECT_EQ(resets.count(), 1);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_EQ(model.module(model.index(0, 0)), nullptr);
}

TEST_F(ViewsModuleTree, ModelWithoutParametersHasNoShare) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setModules(ModuleInfo{});
  ASSERT_EQ(model.rowCount(), 1);
  const QModelIndex root = model.index(0, 0);
  EXPECT_EQ(model.rowCount(root), 0);
  EXPECT_EQ(text(model, root, ModuleTreeModel::ModuleColumn), "(root)");
  EXPECT_EQ(text(model, root, ModuleTreeModel::ParametersColumn), "0");
  EXPECT_EQ(text(model, root, ModuleTreeModel::SizeColumn), "0 B");
  // No division by zero: blank, and 0 to sort by.
  EXPECT_EQ(text(model, root, ModuleTreeModel::ShareColumn), "");
  EXPECT_EQ(model.data(root.siblingAtColumn(ModuleTreeModel::ShareColumn), ModuleTreeModel::RawValueRole).toDouble(),
            0.0);
}

TEST_F(ViewsModuleTree, RowCountsAndParentChildRoundTrips) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setModules(gpt2_tree());

  ASSERT_EQ(model.rowCount(), 1);
  const QModelIndex root = model.index(0, 0);
  EXPECT_FALSE(root.parent().isValid());
  ASSERT_EQ(model.rowCount(root), 2);
  const QModelIndex transformer = model.index(0, 0, root);
  EXPECT_EQ(model.rowCount(transformer), 3);
  const QModelIndex h = model.index(1, 0, transformer);
  EXPECT_EQ(model.rowCount(h), 2);
  EXPECT_EQ(model.rowCount(model.index(1, 0, h)), 0);
  EXPECT_EQ(model.rowCount(model.index(1, 0, root)), 0);  // lm_head
  // Only column 0 has children.
  EXPECT_EQ(model.rowCount(transformer.siblingAtColumn(ModuleTreeModel::TypeColumn)), 0);
  EXPECT_FALSE(model.index(0, 0, transformer.siblingAtColumn(ModuleTreeModel::TypeColumn)).isValid());
  EXPECT_FALSE(model.index(3, 0, transformer).isValid());
  EXPECT_FALSE(model.index(0, ModuleTreeModel::ColumnCount, transformer).isValid());

  int visited = 0;
  walk(model, {}, [&](const QModelIndex& index) {
    ++visited;
    const QModelIndex parent = index.parent();
    EXPECT_EQ(model.index(index.row(), index.column(), parent), index);
    const ModuleInfo* m = model.module(index);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(model.data(index, ModuleTreeModel::PathRole).toString().toStdString(), m->path);
    EXPECT_EQ(model.indexForPath(m->path), index.siblingAtColumn(0));
    if (parent.isValid()) {
      // The child's path extends its parent's by its own name.
      const std::string prefix = model.module(parent)->path;
      EXPECT_EQ(m->path, prefix.empty() ? m->name : prefix + "." + m->name);
      EXPECT_EQ(parent.column(), 0);
    }
  });
  EXPECT_EQ(visited, 8 * ModuleTreeModel::ColumnCount);

  const QModelIndex block1 = model.indexForPath("transformer.h.1");
  EXPECT_EQ(block1.row(), 1);
  EXPECT_EQ(block1.parent(), h);
  EXPECT_EQ(block1.parent().parent(), transformer);
  EXPECT_FALSE(model.indexForPath("transformer.h.2").isValid());
}

TEST_F(ViewsModuleTree, DisplayStringsAndAlignment) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setModules(gpt2_tree());

  struct Expected {
    std::string path;
    const char *module, *type, *parameters, *size, *share;
  };
  const Expected rows[] = {
      {"", "(root)", "GPT2LMHeadModel", "124.44M", "497.8 MB", "100.0%"},
      {"transformer", "transformer", "Transformer", "124.44M", "497.8 MB", "100.0%"},
      {"transformer.wte", "wte", "Embedding", "38.60M", "154.4 MB", "31.0%"},
      {"transformer.h.0", "0", "Block", "7.09M", "28.4 MB", "5.7%"},
      {"transformer.ln_f", "ln_f", "LayerNorm", "1536", "6.1 kB", "0.0%"},
      {"lm_head", "lm_head", "Linear", "38.60M", "154.4 MB", "31.0%"},
  };
  for (const auto& e : rows) {
    SCOPED_TRACE(e.path);
    const QModelIndex index = model.indexForPath(e.path);
    ASSERT_TRUE(index.isValid());
    EXPECT_EQ(text(model, index, ModuleTreeModel::ModuleColumn), e.module);
    EXPECT_EQ(text(model, index, ModuleTreeModel::TypeColumn), e.type);
    EXPECT_EQ(text(model, index, ModuleTreeModel::ParametersColumn), e.parameters);
    EXPECT_EQ(text(model, index, ModuleTreeModel::SizeColumn), e.size);
    EXPECT_EQ(text(model, index, ModuleTreeModel::ShareColumn), e.share);
  }

  const QModelIndex block0 = model.indexForPath("transformer.h.0");
  EXPECT_EQ(text(model, block0, ModuleTreeModel::ModuleColumn, Qt::ToolTipRole), "transformer.h.0");
  EXPECT_FALSE(model.data(model.index(0, 0), Qt::ToolTipRole).isValid());  // the root has no path
  EXPECT_TRUE(text(model, model.index(0, 0), ModuleTreeModel::SizeColumn, Qt::ToolTipRole).contains("4.2 MB of buffers"));

  EXPECT_FALSE(right_aligned(model.data(block0.siblingAtColumn(ModuleTreeModel::ModuleColumn), Qt::TextAlignmentRole)));
  EXPECT_FALSE(right_aligned(model.data(block0.siblingAtColumn(ModuleTreeModel::TypeColumn), Qt::TextAlignmentRole)));
  for (int column : {ModuleTreeModel::ParametersColumn, ModuleTreeModel::SizeColumn, ModuleTreeModel::ShareColumn}) {
    EXPECT_TRUE(right_aligned(model.data(block0.siblingAtColumn(column), Qt::TextAlignmentRole))) << column;
    EXPECT_TRUE(right_aligned(model.headerData(column, Qt::Horizontal, Qt::TextAlignmentRole))) << column;
  }
}

TEST_F(ViewsModuleTree, RawValuesForSorting) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setModules(gpt2_tree());

  const QModelIndex wte = model.indexForPath("transformer.wte");
  const QVariant parameters = model.data(wte.siblingAtColumn(ModuleTreeModel::ParametersColumn), Qt::UserRole);
  EXPECT_EQ(parameters.typeId(), QMetaType::LongLong);
  EXPECT_EQ(parameters.toLongLong(), 38'597'376);
  const QVariant size = model.data(wte.siblingAtColumn(ModuleTreeModel::SizeColumn), Qt::UserRole);
  EXPECT_EQ(size.typeId(), QMetaType::LongLong);
  EXPECT_EQ(size.toLongLong(), 154'389'504);
  const QVariant share = model.data(wte.siblingAtColumn(ModuleTreeModel::ShareColumn), Qt::UserRole);
  EXPECT_EQ(share.typeId(), QMetaType::Double);
  EXPECT_NEAR(share.toDouble(), 100.0 * 38'597'376 / 124'439'808, 1e-9);
  EXPECT_EQ(model.data(wte, Qt::UserRole).toString(), "wte");

  // Shared tensors are counted once at the root, so the root's children may
  // add up to more than 100%.
  const QModelIndex root = model.index(0, 0);
  double children = 0;
  for (int row = 0; row < model.rowCount(root); ++row) {
    children += model.data(model.index(row, ModuleTreeModel::ShareColumn, root), Qt::UserRole).toDouble();
  }
  EXPECT_GT(children, 100.0);
}

TEST_F(ViewsModuleTree, HeaderNames) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  const QStringList expected = {"Module", "Type", "Parameters", "Size", "Share"};
  ASSERT_EQ(model.columnCount(), expected.size());
  for (int column = 0; column < expected.size(); ++column) {
    EXPECT_EQ(model.headerData(column, Qt::Horizontal).toString(), expected[column]);
  }
  EXPECT_FALSE(model.headerData(ModuleTreeModel::ColumnCount, Qt::Horizontal).isValid());
}

TEST_F(ViewsModuleTree, SetModulesResetsToACopyOfTheNewTree) {
  ModuleTreeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setModules(gpt2_tree());

  QSignalSpy aboutToReset(&model, &QAbstractItemModel::modelAboutToBeReset);
  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  ModuleInfo llama = llama_tree();
  model.setModules(llama);
  EXPECT_EQ(aboutToReset.count(), 1);
  EXPECT_EQ(reset.count(), 1);

  // The model keeps its own copy: changing the caller's tree changes nothing.
  llama.children.clear();
  llama.type = "Changed";

  ASSERT_EQ(model.rowCount(), 1);
  const QModelIndex root = model.index(0, 0);
  EXPECT_EQ(text(model, root, ModuleTreeModel::TypeColumn), "LlamaForCausalLM");
  EXPECT_EQ(text(model, root, ModuleTreeModel::ParametersColumn), "6.74B");
  EXPECT_EQ(text(model, root, ModuleTreeModel::SizeColumn), "26.95 GB");
  ASSERT_EQ(model.rowCount(root), 3);
  EXPECT_EQ(text(model, model.index(1, 0, root), ModuleTreeModel::ShareColumn), "1.9%");
  EXPECT_EQ(text(model, model.index(2, 0, root), ModuleTreeModel::ShareColumn), "0.0%");
  EXPECT_FALSE(model.indexForPath("transformer.wte").isValid());
  EXPECT_EQ(model.module(model.indexForPath("model"))->type, "LlamaModel");
}

TEST_F(ViewsOpHistogram, SortedByCountThenName) {
  OpHistogramModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setHistogram({{"aten::add", 12},
                      {"aten::matmul", 48},
                      {"aten::linear", 48},
                      {"prim::ListConstruct", 3},
                      {"aten::softmax", 12}});

  const QStringList ops = {"aten::linear", "aten::matmul", "aten::add", "aten::softmax", "prim::ListConstruct"};
  const qlonglong counts[] = {48, 48, 12, 12, 3};
  ASSERT_EQ(model.rowCount(), ops.size());
  for (int row = 0; row < ops.size(); ++row) {
    EXPECT_EQ(model.data(model.index(row, OpHistogramModel::OpColumn)).toString(), ops[row]);
    EXPECT_EQ(model.data(model.index(row, OpHistogramModel::CountColumn)).toString(), QString::number(counts[row]));
    const QVariant raw = model.data(model.index(row, OpHistogramModel::CountColumn), Qt::UserRole);
    EXPECT_EQ(raw.typeId(), QMetaType::LongLong);
    EXPECT_EQ(raw.toLongLong(), counts[row]);
  }
  EXPECT_TRUE(right_aligned(model.data(model.index(0, OpHistogramModel::CountColumn), Qt::TextAlignmentRole)));
  EXPECT_FALSE(right_aligned(model.data(model.index(0, OpHistogramModel::OpColumn), Qt::TextAlignmentRole)));
  EXPECT_EQ(model.headerData(OpHistogramModel::OpColumn, Qt::Horizontal).toString(), "Op");
  EXPECT_EQ(model.headerData(OpHistogramModel::CountColumn, Qt::Horizontal).toString(), "Count");
  EXPECT_FALSE(model.index(ops.size(), 0).isValid());
}

TEST_F(ViewsOpHistogram, EmptyAndReset) {
  OpHistogramModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_EQ(model.columnCount(), 2);

  model.setHistogram({{"aten::add", 1}});
  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  model.setHistogram({});
  EXPECT_EQ(reset.count(), 1);
  EXPECT_EQ(model.rowCount(), 0);
}

TEST_F(ViewsOpHistogram, FromModelInfoLeavesConstantsOut) {
  mlopt::ModelInfo info;
  for (const char* kind : {"prim::Constant", "aten::linear", "prim::Constant", "aten::gelu", "aten::linear"}) {
    mlopt::NodeInfo node;
    node.kind = kind;
    info.nodes.push_back(node);
  }
  OpHistogramModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setHistogram(info.op_histogram());
  ASSERT_EQ(model.rowCount(), 2);
  EXPECT_EQ(model.data(model.index(0, 0)).toString(), "aten::linear");
  EXPECT_EQ(model.data(model.index(0, 1)).toString(), "2");
  EXPECT_EQ(model.data(model.index(1, 0)).toString(), "aten::gelu");
}

TEST(ViewsResources, IconIsCompiledIn) {
  ensure_app();
  QFile file(QStringLiteral(":/icons/mlopt.svg"));
  ASSERT_TRUE(file.exists());
  ASSERT_TRUE(file.open(QIODevice::ReadOnly));
  QXmlStreamReader xml(&file);
  ASSERT_TRUE(xml.readNextStartElement());
  EXPECT_EQ(xml.name().toString(), "svg");
  EXPECT_FALSE(xml.attributes().value(QLatin1String("viewBox")).isEmpty());
  while (!xml.atEnd()) xml.readNext();
  EXPECT_FALSE(xml.hasError()) << xml.errorString().toStdString();
}

TEST(ViewsResources, IconRenders) {
  ensure_app();
  // QIcon reads SVG through Qt SVG's image plugin; without it the icon is
  // null in the application too, so say what is missing.
  if (!QImageReader::supportedImageFormats().contains("svg")) {
    GTEST_SKIP() << "Qt's SVG image plugin is not installed (Debian: libqt6svg6)";
  }
  const QIcon icon(QStringLiteral(":/icons/mlopt.svg"));
  ASSERT_FALSE(icon.isNull());
  const QImage image = icon.pixmap(64, 64).toImage();
  ASSERT_FALSE(image.isNull());
  // The centre is on the die: drawn, not transparent.
  EXPECT_GT(qAlpha(image.pixel(image.width() / 2, image.height() / 2)), 0);
}

// --- OutcomeModel: what an optimize did, per transform ---

namespace {

mlopt::OutputComparison comparison(std::string name, double error, double tolerance) {
  mlopt::OutputComparison c;
  c.name = std::move(name);
  c.error = error;
  c.tolerance = tolerance;
  c.max_abs_error = error * 4;
  c.max_reference = 4;
  c.passed = error <= tolerance;
  return c;
}

// Attention: two blocks matched and verified; MLP: one matched, one left
// alone, verification failed on one of two outputs (rolled back); CUDA
// graphs: nothing matched, never verified.
std::vector<mlopt::TransformOutcome> sample_outcomes() {
  mlopt::TransformOutcome attention;
  attention.transform = "flash_attention";
  attention.matched = {{"transformer.h.0.attn", "causal, scale 0.25"}, {"transformer.h.1.attn", "causal, scale 0.25"}};
  attention.verification = mlopt::Verification{{1001, 1002}, {comparison("output", 3e-7, 1e-4)}, "", true};
  attention.applied = true;

  mlopt::TransformOutcome mlp;
  mlp.transform = "fused_mlp";
  mlp.matched = {{"transformer.h.0.mlp", "gelu_tanh, Conv1D [in, out]"}};
  mlp.missed = {{"transformer.h.1.mlp", "aten::gelu", "activation used twice"}};
  mlp.verification = mlopt::Verification{
      {1001}, {comparison("output[0]", 1e-6, 1e-4), comparison("output[1]", 5e-3, 1e-4)}, "", false};
  mlp.note = "verification failed: rolled back";

  mlopt::TransformOutcome graphs;
  graphs.transform = "cuda_graphs";
  graphs.missed = {{"", "forward", "CUDA graphs need a CUDA device"}};
  graphs.note = "nothing matched";
  return {attention, mlp, graphs};
}

}  // namespace

TEST_F(ViewsOutcomes, EmptyUntilSetAndAfterClear) {
  OutcomeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_EQ(model.columnCount(), OutcomeModel::ColumnCount);
  EXPECT_FALSE(model.index(0, 0).isValid());
  EXPECT_FALSE(model.transformIndex("flash_attention").isValid());
  model.setOutcomes(sample_outcomes());
  EXPECT_EQ(model.rowCount(), 3);
  QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
  model.clear();
  EXPECT_EQ(resets.count(), 1);
  EXPECT_EQ(model.rowCount(), 0);
}

TEST_F(ViewsOutcomes, TreeOfTransformsAndTheirItems) {
  OutcomeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setOutcomes(sample_outcomes());
  ASSERT_EQ(model.rowCount(), 3);
  const QModelIndex attention = model.transformIndex("flash_attention");
  const QModelIndex mlp = model.transformIndex("fused_mlp");
  const QModelIndex graphs = model.transformIndex("cuda_graphs");
  ASSERT_TRUE(attention.isValid() && mlp.isValid() && graphs.isValid());
  EXPECT_EQ(mlp.row(), 1);
  // Children: matched, then left alone, then the verification's outputs.
  EXPECT_EQ(model.rowCount(attention), 3);
  EXPECT_EQ(model.rowCount(mlp), 4);
  EXPECT_EQ(model.rowCount(graphs), 1);
  EXPECT_EQ(model.rowCount(attention.siblingAtColumn(OutcomeModel::StatusColumn)), 0);  // only column 0 has children
  const QModelIndex left = model.index(1, 0, mlp);
  EXPECT_EQ(left.parent(), mlp);
  EXPECT_EQ(model.rowCount(left), 0);
  EXPECT_EQ(model.data(left, OutcomeModel::KindRole).toInt(), int(OutcomeModel::RowKind::LeftAlone));
  EXPECT_EQ(model.data(left, OutcomeModel::TransformRole).toString(), "fused_mlp");
  EXPECT_EQ(text(model, left, OutcomeModel::StatusColumn), "left alone");
  EXPECT_EQ(text(model, left, OutcomeModel::ModuleColumn), "transformer.h.1.mlp");
  EXPECT_EQ(text(model, left, OutcomeModel::DetailColumn), "aten::gelu: activation used twice");
  const QModelIndex matched = model.index(1, 0, attention);
  EXPECT_EQ(model.data(matched, OutcomeModel::KindRole).toInt(), int(OutcomeModel::RowKind::Matched));
  EXPECT_EQ(text(model, matched, OutcomeModel::StatusColumn), "matched");
  EXPECT_EQ(text(model, matched, OutcomeModel::ModuleColumn), "transformer.h.1.attn");
  EXPECT_EQ(text(model, matched, OutcomeModel::DetailColumn), "causal, scale 0.25");
  // A module path that is empty is the model itself.
  EXPECT_EQ(text(model, model.index(0, 0, graphs), OutcomeModel::ModuleColumn), "(root)");
  // Every index round-trips through parent(), in every column.
  walk(model, {}, [&](const QModelIndex& i) {
    EXPECT_EQ(model.index(i.row(), i.column(), i.parent()), i);
    EXPECT_FALSE(model.data(i, OutcomeModel::TransformRole).toString().isEmpty());
  });
}

TEST_F(ViewsOutcomes, VerificationInTheTransformRow) {
  OutcomeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setOutcomes(sample_outcomes());
  const QModelIndex attention = model.transformIndex("flash_attention");
  EXPECT_EQ(model.data(attention, OutcomeModel::KindRole).toInt(), int(OutcomeModel::RowKind::Transform));
  EXPECT_EQ(text(model, attention, OutcomeModel::TransformColumn), "flash_attention");
  EXPECT_EQ(text(model, attention, OutcomeModel::StatusColumn), "applied");
  EXPECT_EQ(text(model, attention, OutcomeModel::ModuleColumn), "2 matched, 0 left alone");
  EXPECT_EQ(text(model, attention, OutcomeModel::DetailColumn), "passed: worst error 3.0e-07 ≤ tolerance 1.0e-04 (output)");
  EXPECT_TRUE(model.data(attention, OutcomeModel::PassedRole).toBool());
  EXPECT_DOUBLE_EQ(model.data(attention, OutcomeModel::ErrorRole).toDouble(), 3e-7);
  EXPECT_DOUBLE_EQ(model.data(attention, OutcomeModel::ToleranceRole).toDouble(), 1e-4);

  // The failed output decides, not the first one; the note says what happened.
  const QModelIndex mlp = model.transformIndex("fused_mlp");
  EXPECT_EQ(text(model, mlp, OutcomeModel::StatusColumn), "not applied");
  EXPECT_FALSE(model.data(mlp, OutcomeModel::PassedRole).toBool());
  EXPECT_DOUBLE_EQ(model.data(mlp, OutcomeModel::ErrorRole).toDouble(), 5e-3);
  EXPECT_EQ(text(model, mlp, OutcomeModel::DetailColumn),
            "verification failed: rolled back — FAILED: worst error 5.0e-03 > tolerance 1.0e-04 (output[1])");
  const QModelIndex bad = model.index(3, 0, mlp);
  EXPECT_EQ(model.data(bad, OutcomeModel::KindRole).toInt(), int(OutcomeModel::RowKind::Output));
  EXPECT_EQ(text(model, bad, OutcomeModel::StatusColumn), "output failed");
  EXPECT_EQ(text(model, bad, OutcomeModel::ModuleColumn), "output[1]");
  EXPECT_FALSE(model.data(bad, OutcomeModel::PassedRole).toBool());
  EXPECT_TRUE(text(model, bad, OutcomeModel::DetailColumn).startsWith("error 5.0e-03 > tolerance 1.0e-04"))
      << text(model, bad, OutcomeModel::DetailColumn).toStdString();
  EXPECT_TRUE(model.data(model.index(2, 0, mlp), OutcomeModel::PassedRole).toBool());

  // Nothing matched: nothing verified, no verdict.
  const QModelIndex graphs = model.transformIndex("cuda_graphs");
  EXPECT_FALSE(model.data(graphs, OutcomeModel::PassedRole).isValid());
  EXPECT_FALSE(model.data(graphs, OutcomeModel::ErrorRole).isValid());
  EXPECT_TRUE(text(model, graphs, OutcomeModel::DetailColumn).contains("not verified"));
}

TEST_F(ViewsOutcomes, ForwardThatThrewAndShapeProblemsAreSaid) {
  auto outcomes = sample_outcomes();
  outcomes[0].verification->passed = false;
  outcomes[0].verification->error = "shape mismatch in mlopt::flash_attention";
  outcomes[1].verification->outputs[1].problem = "shape [1, 8] vs [1, 16]";
  OutcomeModel model;
  QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Warning);
  model.setOutcomes(outcomes);
  EXPECT_EQ(text(model, model.transformIndex("flash_attention"), OutcomeModel::DetailColumn),
            "FAILED: the transformed forward failed: shape mismatch in mlopt::flash_attention");
  EXPECT_TRUE(text(model, model.transformIndex("fused_mlp"), OutcomeModel::DetailColumn)
                  .endsWith("FAILED: shape [1, 8] vs [1, 16] (output[1])"));
  EXPECT_EQ(text(model, model.index(3, 0, model.transformIndex("fused_mlp")), OutcomeModel::DetailColumn),
            "shape [1, 8] vs [1, 16]");
}
