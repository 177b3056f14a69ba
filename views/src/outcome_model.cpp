#include "mlopt/views/outcome_model.h"

#include <QFont>

#include <string>

namespace mlopt::views {
namespace {

// Index ids: 0 for a transform row; a child row carries its transform's
// row + 1, so parent() finds it without storing anything per row.
constexpr quintptr kTopLevel = 0;

QString q(const std::string& s) { return QString::fromStdString(s); }
QString module_name(const std::string& module) { return module.empty() ? QStringLiteral("(root)") : q(module); }
QString scientific(double v) { return QString::number(v, 'e', 1); }

// How far over (or under) its tolerance an output is; 0/0 counts as within.
double ratio(const OutputComparison& c) {
  if (c.tolerance > 0) return c.error / c.tolerance;
  return c.error > 0 ? c.error * 1e30 : 0;
}

}  // namespace

OutcomeModel::OutcomeModel(QObject* parent) : QAbstractItemModel(parent) {}

void OutcomeModel::setOutcomes(std::vector<TransformOutcome> outcomes) {
  beginResetModel();
  outcomes_ = std::move(outcomes);
  endResetModel();
}

void OutcomeModel::clear() { setOutcomes({}); }

QModelIndex OutcomeModel::transformIndex(const QString& transform) const {
  for (std::size_t i = 0; i < outcomes_.size(); ++i) {
    if (q(outcomes_[i].transform) == transform) return index(static_cast<int>(i), 0);
  }
  return {};
}

int OutcomeModel::childCount(const TransformOutcome& o) const {
  const std::size_t outputs = o.verification ? o.verification->outputs.size() : 0;
  return static_cast<int>(o.matched.size() + o.missed.size() + outputs);
}

OutcomeModel::Child OutcomeModel::child(const TransformOutcome& o, int row) const {
  auto r = static_cast<std::size_t>(row);
  if (r < o.matched.size()) return {RowKind::Matched, r};
  r -= o.matched.size();
  if (r < o.missed.size()) return {RowKind::LeftAlone, r};
  return {RowKind::Output, r - o.missed.size()};
}

QModelIndex OutcomeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  if (!parent.isValid()) return createIndex(row, column, kTopLevel);
  return createIndex(row, column, static_cast<quintptr>(parent.row()) + 1);
}

QModelIndex OutcomeModel::parent(const QModelIndex& child) const {
  if (!child.isValid() || child.internalId() == kTopLevel) return {};
  return createIndex(static_cast<int>(child.internalId() - 1), 0, kTopLevel);
}

int OutcomeModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return static_cast<int>(outcomes_.size());
  // Only column 0 has children, and child rows have none.
  if (parent.column() != 0 || parent.internalId() != kTopLevel) return 0;
  return childCount(outcomes_[static_cast<std::size_t>(parent.row())]);
}

int OutcomeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant OutcomeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case TransformColumn:
      return tr("Transform");
    case StatusColumn:
      return tr("Status");
    case ModuleColumn:
      return tr("Module / output");
    case DetailColumn:
      return tr("Detail, reason or verification");
    default:
      return {};
  }
}

const OutputComparison* OutcomeModel::worstOutput(const Verification& v) {
  const OutputComparison* worst = nullptr;
  for (const auto& c : v.outputs) {
    // A failed comparison (shape mismatch, NaN) decides over any within tolerance.
    if (!worst || (!c.passed && worst->passed) || (c.passed == worst->passed && ratio(c) > ratio(*worst))) {
      worst = &c;
    }
  }
  return worst;
}

QString OutcomeModel::verificationSummary(const TransformOutcome& o) {
  if (!o.verification) return tr("not verified (nothing was rewritten)");
  const Verification& v = *o.verification;
  const QString verdict = v.passed ? tr("passed") : tr("FAILED");
  if (!v.error.empty()) return tr("%1: the transformed forward failed: %2").arg(verdict, q(v.error));
  const OutputComparison* worst = worstOutput(v);
  if (!worst) return verdict;
  if (!worst->problem.empty()) return tr("%1: %2 (%3)").arg(verdict, q(worst->problem), q(worst->name));
  return tr("%1: worst error %2 %3 tolerance %4 (%5)")
      .arg(verdict, scientific(worst->error), worst->passed ? QStringLiteral("≤") : QStringLiteral(">"),
           scientific(worst->tolerance), q(worst->name));
}

QVariant OutcomeModel::transformData(const TransformOutcome& o, int column, int role) const {
  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case TransformColumn:
          return q(o.transform);
        case StatusColumn:
          return o.applied ? tr("applied") : tr("not applied");
        case ModuleColumn:
          return tr("%1 matched, %2 left alone").arg(o.matched.size()).arg(o.missed.size());
        case DetailColumn:
          return o.note.empty() ? verificationSummary(o) : q(o.note) + QStringLiteral(" — ") + verificationSummary(o);
      }
      return {};
    case Qt::ToolTipRole:
      return o.note.empty() ? verificationSummary(o) : q(o.note);
    case Qt::FontRole: {
      QFont bold;
      bold.setBold(true);
      return bold;
    }
    case PassedRole:
      return o.verification ? QVariant(o.verification->passed) : QVariant();
    case ErrorRole:
    case ToleranceRole: {
      if (!o.verification) return {};
      const OutputComparison* worst = worstOutput(*o.verification);
      if (!worst) return {};
      return role == ErrorRole ? worst->error : worst->tolerance;
    }
    default:
      return {};
  }
}

QVariant OutcomeModel::childData(const TransformOutcome& o, Child c, int column, int role) const {
  if (c.kind == RowKind::Matched) {
    const PassMatch& m = o.matched[c.item];
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (column) {
      case StatusColumn:
        return tr("matched");
      case ModuleColumn:
        return module_name(m.module);
      case DetailColumn:
        return q(m.detail);
    }
    return {};
  }
  if (c.kind == RowKind::LeftAlone) {
    const PassMiss& m = o.missed[c.item];
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (column) {
      case StatusColumn:
        return tr("left alone");
      case ModuleColumn:
        return module_name(m.module);
      case DetailColumn:
        return m.op.empty() ? q(m.reason) : q(m.op) + QStringLiteral(": ") + q(m.reason);
    }
    return {};
  }
  const OutputComparison& out = o.verification->outputs[c.item];
  switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
      switch (column) {
        case StatusColumn:
          return out.passed ? tr("output ok") : tr("output failed");
        case ModuleColumn:
          return q(out.name);
        case DetailColumn:
          if (!out.problem.empty()) return q(out.problem);
          return tr("error %1 %2 tolerance %3 (max |error| %4, max |original| %5)")
              .arg(scientific(out.error), out.passed ? QStringLiteral("≤") : QStringLiteral(">"),
                   scientific(out.tolerance), scientific(out.max_abs_error), scientific(out.max_reference));
      }
      return {};
    case PassedRole:
      return out.passed;
    case ErrorRole:
      return out.error;
    case ToleranceRole:
      return out.tolerance;
    default:
      return {};
  }
}

QVariant OutcomeModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const bool top = index.internalId() == kTopLevel;
  const auto& o = outcomes_[top ? static_cast<std::size_t>(index.row()) : index.internalId() - 1];
  if (role == TransformRole) return q(o.transform);
  if (top) {
    if (role == KindRole) return static_cast<int>(RowKind::Transform);
    return transformData(o, index.column(), role);
  }
  const Child c = child(o, index.row());
  if (role == KindRole) return static_cast<int>(c.kind);
  return childData(o, c, index.column(), role);
}

}  // namespace mlopt::views
