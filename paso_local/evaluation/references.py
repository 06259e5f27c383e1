"""Predictors that need no language model, computed from the subjects file itself.

Each returns the predicted answers (1..5, float) to the 180 held-out items of the target subjects, as an
array [n_targets, 180] in 300-form order (NaN = no prediction; the metric skips it). The "population" is
every subject of the file; leave-one-subject-out predictors never use the target's own held-out answers.

- `answer_c`: "C" (3) to every item.
- `loo_mean`: each item's mean answer over the other subjects of the file.
- `ridge_loo`: ridge regression from the 120 alignment answers to the 180 held-out answers, fitted on the
  other subjects; the penalty is chosen by an inner k-fold cross-validation on those other subjects only.
- `acquiescence_only`: the subject's own median answer over their 120 alignment answers (nothing else: not the
  held-out answers, not other subjects), given to every held-out item. The most a uniform "agree more / agree
  less" shift can achieve.
- `trait_model`: the subject's own facet score from their 120 answers (the mean keyed score, as `profile`
  reports it; the domain score where the facet has too few answers), keyed back to each held-out item of that
  facet (6 - score on a minus-keyed item) and rounded half up. Ten lines of psychometrics and no other
  subject: the bar a personalised model has to clear.

All values are chosen options (paso_local.person.subjects converts keyed files at read time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paso_local.evaluation.split import SplitSubject, held_out_numbers
from paso_local.person.inventory import item
from paso_local.person.scoring import score_answers

RIDGE_PENALTIES = tuple(float(x) for x in np.logspace(-1, 5, 13))
RIDGE_FOLDS = 5
RIDGE_SEED = 0
LOW, HIGH = 1.0, 5.0


def answer_c(n_targets: int, n_items: int = 180) -> np.ndarray:
    return np.full((n_targets, n_items), 3.0)


def acquiescence_only(targets: Sequence[SplitSubject]) -> np.ndarray:
    """Each target's median over their own answered alignment items, repeated over the held-out items."""
    rows = []
    for subject in targets:
        answers = subject.alignment_vector()
        answered = answers[answers > 0]
        value = float(np.median(answered)) if answered.size else np.nan
        rows.append(np.full(len(subject.held_out), value))
    return np.array(rows)


def trait_model(targets: Sequence[SplitSubject]) -> np.ndarray:
    """Each target's facet score (domain score, else 3) keyed back to every held-out item, rounded half up."""
    rows = []
    for subject in targets:
        scores = score_answers(subject.alignment, "120")
        row = []
        for number in held_out_numbers():
            it = item(number)
            score = scores.facets.get(it.facet) or scores.domains.get(it.domain) or 3.0
            row.append(score if it.plus_keyed else 6.0 - score)
        rows.append(np.floor(np.array(row) + 0.5))
    return np.array(rows)


def loo_mean(pool_held_out: np.ndarray, target_rows: Sequence[int]) -> np.ndarray:
    """Per item, the mean non-missing answer of every pool subject but the target (a row of the pool)."""
    answered = pool_held_out > 0
    totals = np.where(answered, pool_held_out, 0.0).sum(axis=0)
    counts = answered.sum(axis=0)
    out = []
    for row in target_rows:
        own = answered[row]
        total = totals - np.where(own, pool_held_out[row], 0.0)
        count = counts - own
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return np.array(out)


# --- ridge regression ----------------------------------------------------------------------------------


def column_means(values: np.ndarray) -> np.ndarray:
    """Mean of the non-missing (> 0) entries per column; 3 (the scale's middle) for a column with none."""
    answered = values > 0
    counts = answered.sum(axis=0)
    totals = np.where(answered, values, 0.0).sum(axis=0)
    return np.where(counts > 0, totals / np.maximum(counts, 1), 3.0)


def impute(values: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Missing answers (0) replaced by the given column means."""
    return np.where(values > 0, values, means)


class RidgeFit:
    """Closed-form ridge on centred data, for many penalties at once through one SVD of the features."""

    def __init__(self, features: np.ndarray, targets: np.ndarray):
        self.x_mean = features.mean(axis=0)  # [p]
        self.y_mean = targets.mean(axis=0)  # [q]
        u, s, vt = np.linalg.svd(features - self.x_mean, full_matrices=False)
        self._v = vt.T  # [p, r]
        self._s = s  # [r]
        self._uty = u.T @ (targets - self.y_mean)  # [r, q]

    def weights(self, penalty: float) -> np.ndarray:
        """W [p, q] minimising |Xc W - Yc|^2 + penalty |W|^2."""
        shrink = self._s / (self._s**2 + penalty)
        return self._v @ (shrink[:, None] * self._uty)

    def predict(self, features: np.ndarray, penalty: float) -> np.ndarray:
        return (features - self.x_mean) @ self.weights(penalty) + self.y_mean


def choose_penalty(
    features: np.ndarray,
    targets: np.ndarray,
    answered: np.ndarray,
    penalties: Sequence[float] = RIDGE_PENALTIES,
    folds: int = RIDGE_FOLDS,
    seed: int = RIDGE_SEED,
) -> float:
    """The penalty with the lowest mean absolute error (clipped to 1..5, answered targets) over k folds."""
    n = features.shape[0]
    folds = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    errors = np.zeros(len(penalties))
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        fit = RidgeFit(features[train], targets[train])
        for k, penalty in enumerate(penalties):
            predicted = np.clip(fit.predict(features[fold], penalty), LOW, HIGH)
            mask = answered[fold]
            errors[k] += np.abs(predicted - targets[fold])[mask].sum()
    return float(penalties[int(np.argmin(errors))])


def ridge_predict(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    test_features: np.ndarray,
    penalties: Sequence[float] = RIDGE_PENALTIES,
) -> tuple[np.ndarray, float]:
    """Fit on the training rows (0 = missing: imputed with training means); predict the test rows."""
    x_means = column_means(train_features)
    y_means = column_means(train_targets)
    features = impute(train_features, x_means)
    targets = impute(train_targets, y_means)
    penalty = choose_penalty(features, targets, train_targets > 0, penalties)
    fit = RidgeFit(features, targets)
    predicted = fit.predict(impute(np.atleast_2d(test_features), x_means), penalty)
    return np.clip(predicted, LOW, HIGH), penalty


def ridge_loo(
    pool_alignment: np.ndarray,
    pool_held_out: np.ndarray,
    target_rows: Sequence[int],
    feature_rows: Sequence[int] | None = None,
) -> np.ndarray:
    """For each target row: ridge fitted on every other pool subject, applied to the 120 answers of the
    matching `feature_rows` entry (default: the target's own; another subject's for the other-person control,
    so that nothing of the target is in the fit either way)."""
    out = []
    for k, row in enumerate(target_rows):
        others = np.arange(pool_alignment.shape[0]) != row
        features = pool_alignment[row if feature_rows is None else feature_rows[k]]
        predicted, _ = ridge_predict(pool_alignment[others], pool_held_out[others], features)
        out.append(predicted[0])
    return np.array(out)


REFERENCE_NAMES = ("answer-C", "acquiescence-only", "population-mean-LOO", "trait-model", "ridge-LOO")


def reference_predictions(
    pool: Sequence[SplitSubject], targets: Sequence[SplitSubject], *, other_person: bool = False
) -> dict[str, np.ndarray]:
    """All references for the targets; `pool` is every subject of the file (targets among them, by index).

    `other_person`: the personal references (acquiescence-only, trait-model, ridge-LOO) given the next
    target's 120 answers instead (cyclically), for the other-person control; ridge is still fitted without
    the target. The population mean and answer C use no one's answers and have no control."""
    row_of = {s.index: row for row, s in enumerate(pool)}
    rows = [row_of[s.index] for s in targets]
    pool_alignment = np.array([s.alignment_vector() for s in pool])
    pool_held_out = np.array([s.held_out_vector() for s in pool])
    fed = [targets[(k + 1) % len(targets)] for k in range(len(targets))] if other_person else list(targets)
    predictions = (
        {}
        if other_person
        else {
            "answer-C": answer_c(len(targets), pool_held_out.shape[1]),
            "population-mean-LOO": loo_mean(pool_held_out, rows),
        }
    )
    predictions["acquiescence-only"] = acquiescence_only(fed)
    predictions["trait-model"] = trait_model(fed)
    if len(pool) >= 3:  # ridge needs at least two other subjects for its inner cross-validation
        fed_rows = [row_of[s.index] for s in fed]
        predictions["ridge-LOO"] = ridge_loo(pool_alignment, pool_held_out, rows, fed_rows)
    return predictions
