#include "mlopt/views/op_table_model.h"

#include <QStringList>

#include "format.h"

namespace mlopt::views {
namespace {

bool isText(int column) {
  return column == OpTableModel::OpColumn || column == OpTableModel::ModuleColumn ||
         column == OpTableModel::CategoryColumn || column == OpTableModel::ShapesColumn ||
         column == OpTableModel::BoundColumn;
}

QString shapes(const profiler::OpSummary& op) {
  QStringList parts;
  for (const auto& s : op.input_shapes) parts << detail::shape(s);
  return parts.join(QStringLiteral(", "));
}

}  // namespace

OpTableModel::OpTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void OpTableModel::setProfile(const profiler::ProfileResult& profile) {
  beginResetModel();
  ops_ = profile.ops;
  // A GPU profile has kernel time (CPU profiles never do).
  gpu_ = profile.gpu_busy_us > 0 || !profile.kernels.empty();
  endResetModel();
}

void OpTableModel::clear() {
  beginResetModel();
  ops_.clear();
  gpu_ = false;
  endResetModel();
}

const profiler::OpSummary* OpTableModel::op(int row) const {
  if (row < 0 || row >= static_cast<int>(ops_.size())) return nullptr;
  return &ops_[static_cast<std::size_t>(row)];
}

int OpTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(ops_.size());
}

int OpTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant OpTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.model() != this || index.column() >= ColumnCount) return {};
  const profiler::OpSummary* o = op(index.row());
  if (!o) return {};
  switch (role) {
    case Qt::DisplayRole:
      return display(*o, index.column());
    case RawValueRole:
      return raw(*o, index.column());
    case OpIndexRole:
      return index.row();
    case Qt::ToolTipRole:
      if (index.column() == ShapesColumn) return shapes(*o);
      if (index.column() == ModuleColumn) return QString::fromStdString(o->module_path);
      if (index.column() == OpColumn && o->node_index >= 0) {
        return tr("%1, graph node %2").arg(QString::fromStdString(o->name)).arg(o->node_index);
      }
      return {};
    case Qt::TextAlignmentRole:
      if (!isText(index.column())) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    default:
      return {};
  }
}

QVariant OpTableModel::display(const profiler::OpSummary& o, int column) const {
  switch (column) {
    case OpColumn:
      return QString::fromStdString(o.name);
    case ModuleColumn:
      return o.module_path.empty() ? tr("(root)") : QString::fromStdString(o.module_path);
    case CategoryColumn:
      return QString::fromStdString(o.category);
    case CallsColumn:
      return detail::fixed(o.calls, o.calls == static_cast<double>(static_cast<int64_t>(o.calls)) ? 0 : 1);
    case SelfColumn:
      return detail::milliseconds(o.cpu_self_us);
    case TotalColumn:
      return detail::milliseconds(o.cpu_total_us);
    case GpuColumn:
      return gpu_ ? detail::milliseconds(o.gpu_us) : QString();
    case ShapesColumn:
      return shapes(o);
    case BoundColumn:
      return QString::fromStdString(profiler::to_string(o.roofline.bound));
    case TflopsColumn:
      return o.cost.known ? detail::fixed(o.roofline.achieved_tflops, 3) : QString();
    case GbpsColumn:
      return o.cost.known ? detail::fixed(o.roofline.achieved_gbps, 1) : QString();
    case CeilingColumn:
      return o.cost.known ? detail::percent(100.0 * o.roofline.share_of_ceiling) : QString();
    default:
      return {};
  }
}

QVariant OpTableModel::raw(const profiler::OpSummary& o, int column) const {
  switch (column) {
    case CallsColumn:
      return o.calls;
    case SelfColumn:
      return o.cpu_self_us;
    case TotalColumn:
      return o.cpu_total_us;
    case GpuColumn:
      return o.gpu_us;
    case TflopsColumn:
      return o.roofline.achieved_tflops;
    case GbpsColumn:
      return o.roofline.achieved_gbps;
    case CeilingColumn:
      return 100.0 * o.roofline.share_of_ceiling;
    case ModuleColumn:
      return QString::fromStdString(o.module_path);
    default:
      return display(o, column);
  }
}

QVariant OpTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractTableModel::headerData(section, orientation, role);
  if (role == Qt::TextAlignmentRole && section < ColumnCount && !isText(section)) {
    return int(Qt::AlignRight | Qt::AlignVCenter);
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case SelfColumn:
        return tr("CPU time inside the op minus its child ops, per iteration");
      case TotalColumn:
        return tr("CPU time inside the op, child ops included, per iteration");
      case GpuColumn:
        return tr("Time of the GPU kernels the op launched, per iteration");
      case CeilingColumn:
        return tr("Achieved rate over the device ceiling that binds the op");
      default:
        return {};
    }
  }
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case OpColumn:
      return tr("Op");
    case ModuleColumn:
      return tr("Module");
    case CategoryColumn:
      return tr("Category");
    case CallsColumn:
      return tr("Calls");
    case SelfColumn:
      return tr("Self (ms)");
    case TotalColumn:
      return tr("Total (ms)");
    case GpuColumn:
      return tr("GPU (ms)");
    case ShapesColumn:
      return tr("Input shapes");
    case BoundColumn:
      return tr("Bound");
    case TflopsColumn:
      return tr("TFLOP/s");
    case GbpsColumn:
      return tr("GB/s");
    case CeilingColumn:
      return tr("Of ceiling");
    default:
      return {};
  }
}

}  // namespace mlopt::views
