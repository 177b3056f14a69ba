// The profile's item models (ranking and its filter, ops, recommendations)
// and the graph-op model, each under QAbstractItemModelTester, with what
// they show and sort by.
#include <gtest/gtest.h>

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QSortFilterProxyModel>

#include "mlopt/views/graph_op_model.h"
#include "mlopt/views/op_table_model.h"
#include "mlopt/views/ranking_model.h"
#include "mlopt/views/recommendations_model.h"
#include "qt_test_support.h"
#include "sample_profile.h"

using mlopt::test::QtWarningsFail;
using mlopt::test::sample_profile;
using namespace mlopt::views;

namespace {

class ViewsRanking : public QtWarningsFail {};
class ViewsOpTable : public QtWarningsFail {};
class ViewsRecommendations : public QtWarningsFail {};
class ViewsGraphOps : public QtWarningsFail {};

constexpr auto kWarn = QAbstractItemModelTester::FailureReportingMode::Warning;

QString text(const QAbstractItemModel& model, const QModelIndex& index, int column, int role = Qt::DisplayRole) {
  return model.data(index.siblingAtColumn(column), role).toString();
}

// The keys (category or module) of the rows under a group, in view order.
QStringList keys(const QAbstractItemModel& model, const QModelIndex& group) {
  QStringList out;
  for (int row = 0; row < model.rowCount(group); ++row) {
    out << model.index(row, 0, group).data(RankingModel::KeyRole).toString();
  }
  return out;
}

}  // namespace

TEST_F(ViewsRanking, EmptyUntilAProfileAndAfterClear) {
  RankingModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_EQ(model.columnCount(), RankingModel::ColumnCount);
  model.setProfile(sample_profile());
  EXPECT_EQ(model.rowCount(), RankingModel::GroupCount);
  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  model.clear();
  EXPECT_EQ(reset.count(), 1);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_FALSE(model.categoryIndex("attention").isValid());
}

TEST_F(ViewsRanking, GroupsHoldCategoriesAndModules) {
  RankingModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  model.setProfile(sample_profile());

  const QModelIndex categories = model.index(RankingModel::CategoriesGroup, 0);
  const QModelIndex modules = model.index(RankingModel::ModulesGroup, 0);
  EXPECT_EQ(model.data(categories).toString(), "Categories (3)");
  EXPECT_EQ(model.data(modules).toString(), "Modules (4)");
  EXPECT_EQ(model.data(categories, RankingModel::KindRole).toInt(), RankingModel::Group);
  EXPECT_FALSE(model.data(categories.siblingAtColumn(RankingModel::TimeColumn)).isValid());
  ASSERT_EQ(model.rowCount(categories), 3);
  ASSERT_EQ(model.rowCount(modules), 4);
  // Only a group's column 0 has children; rows have none.
  EXPECT_EQ(model.rowCount(categories.siblingAtColumn(1)), 0);
  EXPECT_EQ(model.rowCount(model.index(0, 0, categories)), 0);

  const QModelIndex attention = model.categoryIndex("attention");
  ASSERT_TRUE(attention.isValid());
  EXPECT_EQ(attention.parent(), categories);
  EXPECT_EQ(model.data(attention, RankingModel::KindRole).toInt(), RankingModel::Category);
  EXPECT_EQ(text(model, attention, RankingModel::NameColumn), "attention");
  EXPECT_EQ(text(model, attention, RankingModel::TimeColumn), "6.000");
  EXPECT_EQ(text(model, attention, RankingModel::ShareColumn), "50.0%");
  EXPECT_EQ(text(model, attention, RankingModel::BoundColumn), "memory");
  EXPECT_EQ(text(model, attention, RankingModel::SavingColumn), "3.000");
  EXPECT_TRUE(text(model, attention, RankingModel::BoundColumn, Qt::ToolTipRole).contains("memory-bound"));

  const QModelIndex mlp = model.moduleIndex("transformer.h.0.mlp");
  ASSERT_TRUE(mlp.isValid());
  EXPECT_EQ(mlp.parent(), modules);
  EXPECT_EQ(model.data(mlp, RankingModel::KindRole).toInt(), RankingModel::Module);
  EXPECT_EQ(text(model, mlp, RankingModel::ShareColumn), "16.7%");
  EXPECT_EQ(text(model, mlp, RankingModel::BoundColumn), "compute");
  EXPECT_EQ(text(model, mlp, RankingModel::SavingColumn), "0.250");
  EXPECT_FALSE(model.moduleIndex("attention").isValid());
  EXPECT_FALSE(model.categoryIndex("transformer.h.0.mlp").isValid());
}

TEST_F(ViewsRanking, RawValuesForSorting) {
  RankingModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  model.setProfile(sample_profile());
  const QModelIndex attention = model.categoryIndex("attention");
  const QVariant time = model.data(attention.siblingAtColumn(RankingModel::TimeColumn), RankingModel::RawValueRole);
  EXPECT_EQ(time.typeId(), QMetaType::Double);
  EXPECT_DOUBLE_EQ(time.toDouble(), 6000.0);
  EXPECT_DOUBLE_EQ(
      model.data(attention.siblingAtColumn(RankingModel::ShareColumn), RankingModel::RawValueRole).toDouble(), 50.0);
  EXPECT_DOUBLE_EQ(
      model.data(attention.siblingAtColumn(RankingModel::SavingColumn), RankingModel::RawValueRole).toDouble(), 3000.0);
  EXPECT_EQ(model.data(attention, RankingModel::RawValueRole).toString(), "attention");
  for (int column = RankingModel::TimeColumn; column < RankingModel::ColumnCount; ++column) {
    const QVariant align = model.data(attention.siblingAtColumn(column), Qt::TextAlignmentRole);
    EXPECT_EQ(align.isValid() && (align.toInt() & Qt::AlignRight),
              column != RankingModel::BoundColumn) << column;
  }
}

TEST_F(ViewsRanking, FilterSortsByNumbersAndKeepsGroupsInOrder) {
  RankingModel model;
  RankingFilterModel proxy;
  proxy.setSourceModel(&model);
  QAbstractItemModelTester source_tester(&model, kWarn);
  QAbstractItemModelTester proxy_tester(&proxy, kWarn);
  model.setProfile(sample_profile());

  proxy.sort(RankingModel::TimeColumn, Qt::DescendingOrder);
  ASSERT_EQ(proxy.rowCount(), 2);
  const QModelIndex categories = proxy.index(0, 0);
  const QModelIndex modules = proxy.index(1, 0);
  EXPECT_EQ(categories.data(RankingModel::KeyRole).toString(), "Categories");
  EXPECT_EQ(modules.data(RankingModel::KeyRole).toString(), "Modules");
  EXPECT_EQ(keys(proxy, categories), (QStringList{"attention", "mlp", "idle/launch overhead"}));
  EXPECT_EQ(keys(proxy, modules),
            (QStringList{"transformer.h.0.attn", "transformer.h.1.attn", "transformer.h.0.mlp", "lm_head"}));

  proxy.sort(RankingModel::TimeColumn, Qt::AscendingOrder);
  EXPECT_EQ(proxy.index(0, 0).data(RankingModel::KeyRole).toString(), "Categories");
  EXPECT_EQ(keys(proxy, proxy.index(0, 0)), (QStringList{"idle/launch overhead", "mlp", "attention"}));

  // Savings sort by the number, not its text.
  proxy.sort(RankingModel::SavingColumn, Qt::DescendingOrder);
  EXPECT_EQ(keys(proxy, proxy.index(1, 0)),
            (QStringList{"transformer.h.0.attn", "transformer.h.1.attn", "transformer.h.0.mlp", "lm_head"}));
}

TEST_F(ViewsRanking, FilterByTextAndByGroup) {
  RankingModel model;
  RankingFilterModel proxy;
  proxy.setSourceModel(&model);
  QAbstractItemModelTester proxy_tester(&proxy, kWarn);
  model.setProfile(sample_profile());

  proxy.setText("ATTN");  // any case
  ASSERT_EQ(proxy.rowCount(), 1);  // no category matches: its group goes
  EXPECT_EQ(proxy.index(0, 0).data(RankingModel::KeyRole).toString(), "Modules");
  EXPECT_EQ(keys(proxy, proxy.index(0, 0)), (QStringList{"transformer.h.0.attn", "transformer.h.1.attn"}));

  proxy.setText("m");  // mlp, and every module path with an m
  EXPECT_EQ(proxy.rowCount(), 2);
  EXPECT_EQ(keys(proxy, proxy.index(0, 0)), (QStringList{"mlp"}));

  proxy.setShow(RankingFilterModel::ShowCategories);
  ASSERT_EQ(proxy.rowCount(), 1);
  EXPECT_EQ(proxy.index(0, 0).data(RankingModel::KeyRole).toString(), "Categories");

  proxy.setText({});
  proxy.setShow(RankingFilterModel::ShowModules);
  ASSERT_EQ(proxy.rowCount(), 1);
  EXPECT_EQ(proxy.rowCount(proxy.index(0, 0)), 4);

  proxy.setShow(RankingFilterModel::ShowAll);
  proxy.setText("no such thing");
  EXPECT_EQ(proxy.rowCount(), 0);
}

TEST_F(ViewsOpTable, RowsAreTheProfilesOps) {
  OpTableModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  EXPECT_EQ(model.rowCount(), 0);
  const auto profile = sample_profile();
  model.setProfile(profile);
  ASSERT_EQ(model.rowCount(), 4);
  EXPECT_EQ(model.columnCount(), OpTableModel::ColumnCount);
  EXPECT_FALSE(model.gpu());

  const QModelIndex matmul = model.index(0, 0);
  EXPECT_EQ(text(model, matmul, OpTableModel::OpColumn), "aten::matmul");
  EXPECT_EQ(text(model, matmul, OpTableModel::ModuleColumn), "transformer.h.0.attn");
  EXPECT_EQ(text(model, matmul, OpTableModel::CategoryColumn), "attention");
  EXPECT_EQ(text(model, matmul, OpTableModel::CallsColumn), "2");
  EXPECT_EQ(text(model, matmul, OpTableModel::SelfColumn), "2.400");
  EXPECT_EQ(text(model, matmul, OpTableModel::TotalColumn), "2.500");
  EXPECT_EQ(text(model, matmul, OpTableModel::GpuColumn), "");  // a CPU profile
  EXPECT_EQ(text(model, matmul, OpTableModel::ShapesColumn), "[1, 12, 16, 64], [1, 12, 64, 16]");
  EXPECT_EQ(text(model, matmul, OpTableModel::BoundColumn), "memory");
  EXPECT_EQ(text(model, matmul, OpTableModel::TflopsColumn), "0.500");
  EXPECT_EQ(text(model, matmul, OpTableModel::GbpsColumn), "12.5");
  EXPECT_EQ(text(model, matmul, OpTableModel::CeilingColumn), "10.0%");
  EXPECT_TRUE(text(model, matmul, OpTableModel::OpColumn, Qt::ToolTipRole).contains("graph node 5"));

  EXPECT_EQ(text(model, model.index(2, 0), OpTableModel::CallsColumn), "1.5");
  const QModelIndex list = model.index(3, 0);
  EXPECT_EQ(text(model, list, OpTableModel::ModuleColumn), "(root)");
  // No cost model: no rates rather than zeros.
  EXPECT_EQ(text(model, list, OpTableModel::TflopsColumn), "");
  EXPECT_EQ(text(model, list, OpTableModel::CeilingColumn), "");

  for (int row = 0; row < model.rowCount(); ++row) {
    for (int column = 0; column < OpTableModel::ColumnCount; ++column) {
      EXPECT_EQ(model.data(model.index(row, column), OpTableModel::OpIndexRole).toInt(), row);
    }
    EXPECT_EQ(model.op(row)->name, profile.ops[static_cast<std::size_t>(row)].name);
  }
  EXPECT_EQ(model.op(4), nullptr);
  EXPECT_EQ(model.op(-1), nullptr);
}

TEST_F(ViewsOpTable, SortsByRawNumbersAndShowsGpuTime) {
  OpTableModel model;
  QSortFilterProxyModel proxy;
  proxy.setSourceModel(&model);
  proxy.setSortRole(OpTableModel::RawValueRole);
  QAbstractItemModelTester tester(&model, kWarn);
  QAbstractItemModelTester proxy_tester(&proxy, kWarn);
  model.setProfile(sample_profile(/*gpu=*/true));
  EXPECT_TRUE(model.gpu());
  EXPECT_EQ(text(model, model.index(0, 0), OpTableModel::GpuColumn), "2.000");
  const QVariant raw = model.data(model.index(1, OpTableModel::SelfColumn), OpTableModel::RawValueRole);
  EXPECT_EQ(raw.typeId(), QMetaType::Double);
  EXPECT_DOUBLE_EQ(raw.toDouble(), 1500.0);

  // Self times 2400, 1500, 300, 10: "300" sorts above "1500" as text, not as a number.
  proxy.sort(OpTableModel::SelfColumn, Qt::AscendingOrder);
  QStringList order;
  for (int row = 0; row < proxy.rowCount(); ++row) order << proxy.index(row, OpTableModel::OpColumn).data().toString();
  EXPECT_EQ(order, (QStringList{"prim::ListConstruct", "aten::softmax", "aten::addmm", "aten::matmul"}));
  // The op index travels through the proxy.
  EXPECT_EQ(proxy.index(0, 0).data(OpTableModel::OpIndexRole).toInt(), 3);

  QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
  model.clear();
  EXPECT_EQ(reset.count(), 1);
  EXPECT_EQ(model.rowCount(), 0);
  EXPECT_FALSE(model.gpu());
}

TEST_F(ViewsRecommendations, TransformSavingSpeedupWhereAndWhy) {
  RecommendationsModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  EXPECT_EQ(model.rowCount(), 0);
  model.setProfile(sample_profile());
  ASSERT_EQ(model.rowCount(), 2);
  const QModelIndex flash = model.index(0, 0);
  EXPECT_EQ(text(model, flash, RecommendationsModel::TransformColumn), "flash_attention");
  EXPECT_EQ(text(model, flash, RecommendationsModel::SavingColumn), "2.500");
  EXPECT_EQ(text(model, flash, RecommendationsModel::SpeedupColumn), "1.30x");
  EXPECT_EQ(text(model, flash, RecommendationsModel::ModulesColumn), "2 modules");
  EXPECT_EQ(text(model, flash, RecommendationsModel::ModulesColumn, Qt::ToolTipRole),
            "transformer.h.0.attn\ntransformer.h.1.attn");
  EXPECT_EQ(text(model, flash, RecommendationsModel::ReasonColumn), "attention spends 6.0 ms outside its matmuls");
  EXPECT_EQ(text(model, model.index(1, 0), RecommendationsModel::ModulesColumn), "transformer.h.0.mlp");
  EXPECT_DOUBLE_EQ(model.data(model.index(1, RecommendationsModel::SavingColumn), RecommendationsModel::RawValueRole)
                       .toDouble(),
                   300.0);
  EXPECT_EQ(model.headerData(RecommendationsModel::ReasonColumn, Qt::Horizontal).toString(), "Why");
  model.clear();
  EXPECT_EQ(model.rowCount(), 0);
}

TEST_F(ViewsGraphOps, KindsCountsModulesAndShapes) {
  mlopt::ModelInfo info;
  auto node = [](const char* kind, const char* module, std::optional<std::vector<int64_t>> shape) {
    mlopt::NodeInfo n;
    n.kind = kind;
    n.module_path = module;
    mlopt::ValueInfo out;
    out.shape = std::move(shape);
    if (out.shape) out.dtype = mlopt::DType::F32;
    n.outputs.push_back(out);
    return n;
  };
  info.nodes = {node("prim::Constant", "", std::nullopt),
                node("aten::linear", "h.0.attn", std::vector<int64_t>{1, 16, 64}),
                node("aten::linear", "h.0.mlp", std::vector<int64_t>{1, 16, 256}),
                node("aten::linear", "h.1.attn", std::vector<int64_t>{1, 16, 64}),
                node("aten::gelu", "h.0.mlp", std::vector<int64_t>{1, 16, 256}),
                node("aten::add", "h.0", std::vector<int64_t>{1, 16, 64}),
                node("aten::add", "h.0", std::vector<int64_t>{1, 16, 64})};
  GraphOpModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  model.setModelInfo(info);
  EXPECT_TRUE(model.hasShapes());
  ASSERT_EQ(model.rowCount(), 3);  // constants left out
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::KindColumn), "aten::linear");
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::CountColumn), "3");
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::ModulesColumn), "3");
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::ShapesColumn), "[1, 16, 64] fp32 ×2; [1, 16, 256] fp32");
  EXPECT_EQ(text(model, model.index(1, 0), GraphOpModel::KindColumn), "aten::add");  // 2 nodes, 1 module
  EXPECT_EQ(text(model, model.index(1, 0), GraphOpModel::ModulesColumn), "1");
  EXPECT_EQ(text(model, model.index(2, 0), GraphOpModel::KindColumn), "aten::gelu");
  EXPECT_EQ(model.data(model.index(0, GraphOpModel::CountColumn), GraphOpModel::RawValueRole).typeId(),
            QMetaType::LongLong);

  for (auto& n : info.nodes) n.outputs.front().shape.reset();
  model.setModelInfo(info);
  EXPECT_FALSE(model.hasShapes());
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::ShapesColumn), "");
  model.clear();
  EXPECT_EQ(model.rowCount(), 0);
}

TEST_F(ViewsGraphOps, ManyShapesAreCutShortWithTheRestInTheToolTip) {
  mlopt::ModelInfo info;
  for (int64_t width = 1; width <= 5; ++width) {
    mlopt::NodeInfo n;
    n.kind = "aten::cat";
    mlopt::ValueInfo out;
    out.shape = std::vector<int64_t>{width};
    n.outputs.push_back(out);
    info.nodes.push_back(n);
  }
  GraphOpModel model;
  QAbstractItemModelTester tester(&model, kWarn);
  model.setModelInfo(info);
  ASSERT_EQ(model.rowCount(), 1);
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::ShapesColumn), "[1]; [2]; [3]; +2 more");
  EXPECT_EQ(text(model, model.index(0, 0), GraphOpModel::ShapesColumn, Qt::ToolTipRole).split('\n').size(), 5);
}
