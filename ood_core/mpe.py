"""Mixture-proportion estimation: which fraction of an unlabeled sample comes from a known class.

Setting (PU learning, "case-control"): ``positive`` ``[n_p, d]`` is a sample of the positive
component ``P+``; ``unlabeled`` ``[n_u, d]`` is a sample of the mixture
``alpha * P+ + (1 - alpha) * P-``. :func:`estimate_proportion` returns ``alpha`` with a bootstrap
interval. DNM uses it for ``tau`` (docs/methods.md §3, "Estimating tau"): the ID-label
embeddings are the positives, the mined negatives the unlabeled mixture.

Estimators (both need a classifier that tells positives from unlabeled; here scikit-learn's
``LogisticRegression`` on L2-normalised features, balanced class weights):

- ``"bbe"``: Best Bin Estimation (Garg, Wu, Smola, Balakrishnan, Lipton, NeurIPS 2021, "Mixture
  Proportion Estimation and PU Learning: A Modern Approach", Algorithm 1). On held-out data,
  for every top bin ``[c, inf)`` of the classifier's output, ``q_p(c)`` and ``q_u(c)`` are the
  fractions of held-out positives / unlabeled in the bin; the bin is chosen by the upper
  confidence bound ``q_u/q_p + (1 + gamma)/q_p * (sqrt(log(4/delta)/(2 n_p)) + sqrt(log(4/delta)/(2 n_u)))``
  and ``alpha = q_u(c*)/q_p(c*)``. It needs only the *ranking* of the outputs and is consistent
  when some region holds positives but (almost) no negatives (the paper's top-bin purity).
  Defaults ``delta = 0.1``, ``gamma = 0.01`` (the paper's experiments).
- ``"elkan_noto"``: Elkan & Noto (KDD 2008), estimator e1 adapted to the case-control setting:
  with balanced class weights a calibrated classifier gives ``g(x) = 1 / (1 + alpha)`` on the
  positive support, so ``alpha = (1 - c) / c`` with ``c`` the mean output on held-out positives.
  Needs calibrated probabilities and separable components; kept as a comparison.

Procedure (cross-fitted; a deviation from the paper's single train / held-out split): positives
and unlabeled are each dealt into ``n_folds`` seeded folds; for each fold a classifier fit on the
other folds scores it, so every row gets an out-of-fold output and the estimator reads all of
them. Why: BBE's confidence slack shrinks as ``1/sqrt(n_p)``; with DNM's 1,000 ID labels a single
50 % split leaves 500 held-out positives, and the larger slack pushes the bin choice to wide bins
that hold negatives (on the simulated study: 8.3 % against a true 2.9 %; cross-fitted: 2.7 %).

Bootstrap (``n_bootstrap`` resamples, seeded): the out-of-fold *classifier outputs* are
resampled, positives and unlabeled separately and with replacement, and the estimator is
recomputed on each resample; the interval is the percentile interval at ``confidence``. The
classifiers are *not* refit per resample (one cross-fit costs seconds on the study's 13k x 512
features, so 1,000 of them would dominate a pipeline run); the interval therefore covers the
sampling noise of the bin choice and of the bin fractions, not the variation of the classifier
itself, nor any mismatch between the positive sample and the positive component of the mixture.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ood_core._params import check_seed
from ood_core._progress import Progress

__all__ = ["ESTIMATORS", "MPEResult", "estimate_proportion", "bbe", "elkan_noto", "classifier_outputs"]

#: Ceiling of ``n_bootstrap`` (DNM's ``tau_n_bootstrap`` in params.yaml).
MAX_BOOTSTRAP = 100_000
#: From this many resamples on, a progress line on stderr every 30 s.
PROGRESS_FROM = 10_000

ESTIMATORS = ("bbe", "elkan_noto")


@dataclass(frozen=True)
class MPEResult:
    """An estimated mixture proportion.

    estimate : the proportion of positives in the unlabeled sample, in [0, 1].
    low, high : the bootstrap percentile interval at ``confidence``.
    estimator : ``"bbe"`` or ``"elkan_noto"``. n_positive, n_unlabeled : sample sizes given.
    n_folds, seed : the cross-fitting and bootstrap settings used.
    """

    estimate: float
    low: float
    high: float
    estimator: str
    confidence: float
    n_bootstrap: int
    n_positive: int
    n_unlabeled: int
    n_folds: int
    seed: int

    def as_dict(self) -> dict:
        return asdict(self)


def bbe(positive_scores, unlabeled_scores, *, delta: float = 0.1, gamma: float = 0.01) -> float:
    """Best Bin Estimation from held-out classifier outputs (higher = more positive-like).

    ``positive_scores`` ``[n_p]``, ``unlabeled_scores`` ``[n_u]``: outputs of one classifier on
    held-out positives and held-out unlabeled. Candidate bins are the top bins starting at each
    distinct positive output (the bin fractions only change there). Ties in the objective go to
    the lowest threshold. Returns ``min(q_u / q_p, 1)`` at the chosen bin: the exact minimiser of
    the paper's bound over every top bin ``[c, inf)``.

    The authors' released ``BBE_estimator`` (acmi-lab/PU_learning, ``estimator.py``) gives the same
    estimate on tie-free outputs (checked side by side on synthetic cases); it differs with ties:
    its candidate thresholds are the distinct unlabeled outputs (but the smallest), it counts the
    unlabeled at or above ``c`` minus one (``- 1 / (n_u q_p)`` in the estimate), needs at least 3
    unlabeled in the bin, breaks ties towards the highest threshold and does not clip at 1.
    """
    pos, unl = _scores(positive_scores, "positive_scores"), _scores(unlabeled_scores, "unlabeled_scores")
    if not (0.0 < delta < 1.0) or gamma < 0.0:
        raise ValueError(f"delta={delta} must be in (0, 1) and gamma={gamma} >= 0")
    return float(_bbe_sorted(np.sort(pos), np.sort(unl), delta, gamma))


def _bbe_sorted(pos: np.ndarray, unl: np.ndarray, delta: float, gamma: float) -> float:
    n_p, n_u = len(pos), len(unl)
    thresholds = np.unique(pos)
    q_p = (n_p - np.searchsorted(pos, thresholds, side="left")) / n_p
    q_u = (n_u - np.searchsorted(unl, thresholds, side="left")) / n_u
    slack = np.sqrt(np.log(4.0 / delta) / (2.0 * n_p)) + np.sqrt(np.log(4.0 / delta) / (2.0 * n_u))
    best = int(np.argmin((q_u + (1.0 + gamma) * slack) / q_p))
    return min(q_u[best] / q_p[best], 1.0)


def elkan_noto(positive_scores) -> float:
    """Elkan & Noto's e1 in the case-control setting with balanced class weights: ``(1 - c) / c``,
    ``c`` = mean predicted probability of held-out positives ``[n_p]`` (in (0, 1]); clipped to [0, 1]."""
    pos = _scores(positive_scores, "positive_scores")
    if np.any((pos < 0.0) | (pos > 1.0)):
        raise ValueError("elkan_noto needs probabilities in [0, 1] (predict_proba of the positive class)")
    c = float(pos.mean())
    if c <= 0.0:
        raise ValueError("the classifier gives every held-out positive probability 0: it failed to fit")
    return float(np.clip((1.0 - c) / c, 0.0, 1.0))


def classifier_outputs(positive, unlabeled, *, n_folds: int = 5, seed: int = 0, C: float = 1.0):
    """Cross-fitted classifier outputs: every row scored by a classifier that did not see it.

    Each sample is cut into ``n_folds`` seeded folds (positives and unlabeled separately); for
    each fold a logistic regression (balanced class weights, L2-normalised rows) is fit on the
    other folds and scores the held-out one. Returns ``(positive_proba [n_p], unlabeled_proba [n_u])``
    float64: the predicted probability of the positive class.
    """
    seed = check_seed(seed, "seed")
    from sklearn.linear_model import LogisticRegression

    pos, unl = _features(positive, "positive"), _features(unlabeled, "unlabeled")
    if pos.shape[1] != unl.shape[1]:
        raise ValueError(f"positive has dimension {pos.shape[1]} but unlabeled has {unl.shape[1]}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds={n_folds!r} must be an integer >= 2 (each row is scored out of fold)")
    for name, x in (("positive", pos), ("unlabeled", unl)):
        if len(x) < n_folds:
            raise ValueError(f"{name} has {len(x)} rows: fewer than n_folds={n_folds}; give more rows or "
                             "fewer folds")
    rng = np.random.default_rng(seed)
    # fold[i] of each sample: a seeded permutation dealt round-robin, so fold sizes differ by <= 1
    folds = [np.empty(len(x), dtype=np.int64) for x in (pos, unl)]
    for f in folds:
        f[rng.permutation(len(f))] = np.arange(len(f)) % n_folds
    x_all = np.concatenate([pos, unl])
    y_all = np.r_[np.ones(len(pos)), np.zeros(len(unl))]
    fold_all = np.concatenate(folds)
    out = np.empty(len(x_all))
    for k in range(n_folds):
        fit = fold_all != k
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
        clf.fit(x_all[fit], y_all[fit])
        out[~fit] = clf.predict_proba(x_all[~fit])[:, 1]
    return out[: len(pos)], out[len(pos):]


def estimate_proportion(positive, unlabeled, *, estimator: str = "bbe", n_folds: int = 5,
                        n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0, C: float = 1.0,
                        delta: float = 0.1, gamma: float = 0.01) -> MPEResult:
    """The proportion of ``positive``-like rows in ``unlabeled``, with a bootstrap interval.

    Args:
        positive: ``[n_p, d]`` float features of the positive component (e.g. ID-label embeddings).
        unlabeled: ``[n_u, d]`` float features of the mixture (e.g. mined negatives). Rows are
            L2-normalised here; raw features are fine.
        estimator: ``"bbe"`` (default) or ``"elkan_noto"`` (see the module docstring).
        n_folds: folds of the cross-fitting (each row is scored by a classifier fit on the others).
        n_bootstrap: resamples of the held-out outputs (0: the interval is the estimate itself).
        confidence: level of the percentile interval. seed: seeds the split and the bootstrap.
        C: inverse regularisation of the logistic regression. delta, gamma: BBE's bin rule.

    Returns:
        :class:`MPEResult`. Same inputs and seed give the same numbers.
    """
    seed = check_seed(seed, "seed")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r} is unknown; valid: {list(ESTIMATORS)}")
    if (isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer))
            or not 0 <= n_bootstrap <= MAX_BOOTSTRAP):
        raise ValueError(f"n_bootstrap={n_bootstrap!r} must be an integer in [0, {MAX_BOOTSTRAP:,}] (the default is "
                         "1000; each resample refits nothing but re-sorts both samples)")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must be in (0, 1)")
    if not (0.0 < delta < 1.0) or gamma < 0.0:
        raise ValueError(f"delta={delta} must be in (0, 1) and gamma={gamma} >= 0")
    pos_out, unl_out = classifier_outputs(positive, unlabeled, n_folds=n_folds, seed=seed, C=C)
    if estimator == "bbe":
        def stat(p, u):
            return _bbe_sorted(np.sort(p), np.sort(u), delta, gamma)
    else:
        def stat(p, u):
            return elkan_noto(p)
    estimate = float(stat(pos_out, unl_out))
    low = high = estimate
    if n_bootstrap:
        rng = np.random.default_rng([seed, 1])  # apart from the split's stream
        boot = np.empty(n_bootstrap)
        progress = Progress(f"{estimator} bootstrap", n_bootstrap, min_total=PROGRESS_FROM)
        for b in range(n_bootstrap):
            boot[b] = stat(pos_out[rng.integers(0, len(pos_out), len(pos_out))],
                           unl_out[rng.integers(0, len(unl_out), len(unl_out))])
            progress.update(1)
        tail = 100.0 * (1.0 - confidence) / 2.0
        low, high = (float(v) for v in np.percentile(boot, [tail, 100.0 - tail]))
    return MPEResult(estimate=estimate, low=low, high=high, estimator=estimator, confidence=float(confidence),
                     n_bootstrap=int(n_bootstrap), n_positive=len(pos_out), n_unlabeled=len(unl_out),
                     n_folds=int(n_folds), seed=int(seed))


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty [n, d] array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf")
    peak = np.abs(x).max(axis=1, keepdims=True)
    if np.any(peak == 0.0):
        raise ValueError(f"{name} has all-zero rows, which have no direction to normalise")
    x = x / peak  # first to max-abs 1: the squared norm of a 1e200-scale row would overflow to inf
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _scores(s, name: str) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} holds NaN or inf")
    return s
