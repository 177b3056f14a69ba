#pragma once
// The Compare view's choice of variants: one row per run and profile of the
// project, with a check box; the checked ones are drawn.
#include <QAbstractListModel>

#include <vector>

#include "mlopt/views/compare_data.h"

namespace mlopt::views {

class VariantListModel : public QAbstractListModel {
  Q_OBJECT

 public:
  enum Role {
    KindRole = Qt::UserRole,  // int(Variant::Kind)
    IndexRole,                // int: into Project::runs or ::profiles
  };

  explicit VariantListModel(QObject* parent = nullptr);

  // Replaces the rows. Variants checked before (same kind, index and
  // label) stay checked and ones not listed before (a new profile) are
  // checked; with none of those, the last two are (e.g. before and after).
  void setVariants(std::vector<Variant> variants);
  void clear();

  const std::vector<Variant>& variants() const { return variants_; }
  std::vector<const Variant*> checkedVariants() const;
  std::vector<int> checkedRows() const;
  void setChecked(int row, bool checked);
  void setCheckedRows(const std::vector<int>& rows);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;

 signals:
  // After any change of which variants are checked (not after setVariants:
  // modelReset says that).
  void checkedChanged();

 private:
  std::vector<Variant> variants_;
  std::vector<char> checked_;
};

}  // namespace mlopt::views
