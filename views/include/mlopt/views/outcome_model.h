#pragma once
// What an optimize did, as a tree: one top-level row per transform (applied
// or not, how many blocks matched and were left alone, and its verification:
// passed or failed, the worst output error against the tolerance), and under
// it one row per matched block, per block left alone (with the reason) and
// per output compared in verification.
#include <QAbstractItemModel>

#include <optional>
#include <vector>

#include "mlopt/core/transforms.h"

namespace mlopt::views {

class OutcomeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { TransformColumn, StatusColumn, ModuleColumn, DetailColumn, ColumnCount };
  enum class RowKind { Transform, Matched, LeftAlone, Output };
  enum Role {
    KindRole = Qt::UserRole,  // int(RowKind)
    TransformRole,            // QString: the transform the row belongs to
    // Transform rows: whether verification passed (no value when nothing
    // was verified); output rows: whether that output passed.
    PassedRole,
    // Transform rows: the worst OutputComparison::error over the outputs;
    // output rows: that output's. No value when there is none.
    ErrorRole,
    ToleranceRole,  // as ErrorRole, the tolerance it was held to
  };

  explicit OutcomeModel(QObject* parent = nullptr);

  void setOutcomes(std::vector<TransformOutcome> outcomes);
  void clear();
  const std::vector<TransformOutcome>& outcomes() const { return outcomes_; }

  // The top-level row of `transform` ("flash_attention"); invalid if absent.
  QModelIndex transformIndex(const QString& transform) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  // The comparison with the largest error relative to its tolerance (the
  // one that decides), or null when nothing was compared.
  static const OutputComparison* worstOutput(const Verification& verification);
  // "passed: worst error 3.1e-07 ≤ tolerance 1.0e-04 (output['logits'])".
  static QString verificationSummary(const TransformOutcome& outcome);

 private:
  // A child row's place: which kind and which element of the outcome's list.
  struct Child {
    RowKind kind;
    std::size_t item;
  };
  Child child(const TransformOutcome& outcome, int row) const;
  int childCount(const TransformOutcome& outcome) const;
  QVariant transformData(const TransformOutcome& outcome, int column, int role) const;
  QVariant childData(const TransformOutcome& outcome, Child c, int column, int role) const;

  std::vector<TransformOutcome> outcomes_;
};

}  // namespace mlopt::views
