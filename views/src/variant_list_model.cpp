#include "mlopt/views/variant_list_model.h"

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace mlopt::views {

VariantListModel::VariantListModel(QObject* parent) : QAbstractListModel(parent) {}

void VariantListModel::setVariants(std::vector<Variant> variants) {
  // A variant is known by its kind, index and label (model, dtype, device,
  // inputs, date): another project's run 1 is not this one's.
  using Key = std::tuple<int, int, std::string>;
  const auto key = [](const Variant& v) { return Key{static_cast<int>(v.kind), v.index, v.label}; };
  std::set<Key> known, was_checked;
  for (std::size_t i = 0; i < variants_.size(); ++i) {
    known.insert(key(variants_[i]));
    if (checked_[i]) was_checked.insert(key(variants_[i]));
  }
  beginResetModel();
  variants_ = std::move(variants);
  checked_.assign(variants_.size(), 0);
  // New variants are ticked only where the list goes on (a profile added),
  // not when it is another project's.
  bool continues = false;
  for (const Variant& v : variants_) continues = continues || known.count(key(v)) > 0;
  bool any = false;
  for (std::size_t i = 0; i < variants_.size(); ++i) {
    const bool added = continues && known.count(key(variants_[i])) == 0;
    checked_[i] = was_checked.count(key(variants_[i])) > 0 || added;
    any = any || checked_[i];
  }
  if (!any) {
    for (std::size_t i = variants_.size() >= 2 ? variants_.size() - 2 : 0; i < variants_.size(); ++i) checked_[i] = 1;
  }
  endResetModel();
}

void VariantListModel::clear() { setVariants({}); }

std::vector<const Variant*> VariantListModel::checkedVariants() const {
  std::vector<const Variant*> out;
  for (std::size_t i = 0; i < variants_.size(); ++i) {
    if (checked_[i]) out.push_back(&variants_[i]);
  }
  return out;
}

std::vector<int> VariantListModel::checkedRows() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < variants_.size(); ++i) {
    if (checked_[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

void VariantListModel::setChecked(int row, bool checked) {
  if (row < 0 || row >= rowCount() || bool(checked_[row]) == checked) return;
  checked_[row] = checked;
  const QModelIndex i = index(row);
  emit dataChanged(i, i, {Qt::CheckStateRole});
  emit checkedChanged();
}

void VariantListModel::setCheckedRows(const std::vector<int>& rows) {
  for (int row = 0; row < rowCount(); ++row) {
    const bool checked = std::find(rows.begin(), rows.end(), row) != rows.end();
    if (bool(checked_[row]) == checked) continue;
    checked_[row] = checked;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {Qt::CheckStateRole});
  }
  emit checkedChanged();
}

int VariantListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(variants_.size());
}

QVariant VariantListModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Variant& v = variants_[index.row()];
  switch (role) {
    case Qt::DisplayRole:
      return QString::fromStdString(v.label);
    case Qt::ToolTipRole:
      return QString::fromStdString(v.label + (v.device_name.empty() ? "" : "\n" + v.device_name));
    case Qt::CheckStateRole:
      return checked_[index.row()] ? Qt::Checked : Qt::Unchecked;
    case KindRole:
      return static_cast<int>(v.kind);
    case IndexRole:
      return v.index;
    default:
      return {};
  }
}

bool VariantListModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (role != Qt::CheckStateRole ||
      !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return false;
  }
  setChecked(index.row(), value.toInt() == Qt::Checked);
  return true;
}

Qt::ItemFlags VariantListModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable | Qt::ItemNeverHasChildren;
}

}  // namespace mlopt::views
