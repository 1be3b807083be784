"""Bootstrap intervals of the OOD metrics over images (docs/methods.md §4).

:func:`metric_intervals` resamples the ID images and each OOD set's images with replacement
(separately: the two populations keep their sizes) and returns the percentile interval of
FPR95, AUROC, AUPR-In and AUPR-Out per OOD set and for their average.

**How it stays fast.** A resample is a vector of multinomial counts (how often each image was
drawn), i.e. integer sample weights. Every metric is a function of cumulative weighted counts
along the score ranking, so the scores are sorted once; for a chunk of resamples the counts are
permuted into that order and cumulated (``[B, n]`` arrays of integers held in float64, exact
below 2**53), and each metric is read from them with gathers, vectorised over the resamples:
per image for AUROC and the AUPRs, and for FPR95 by counting where the recall crosses 0.95.
Nothing is re-sorted per resample. Chunks keep the memory bounded (about
:data:`CHUNK_ELEMENTS` elements per array); the OOD sets of a chunk may run in threads
(``n_jobs``). ``benchmarks/bench_bootstrap.py`` times it against a resample-and-call loop.

**Definitions** (:func:`weighted_metrics`): a sample of weight ``w`` counts as ``w`` copies
(weight 0: absent), so each weighted metric equals :func:`ood_core.metrics.ood_metrics` on the
arrays repeated by their weights (``np.repeat``), and scikit-learn's ``roc_auc_score`` /
``average_precision_score`` with ``sample_weight``:

- AUROC ``= P(s_id > s_ood) + 0.5 P(s_id = s_ood)`` (ties count a half), computed exactly in integers;
- AUPR-In: average precision with ID positive, ``sum_g (dTP_g / P) * TP_g / (TP_g + FP_g)`` over
  the distinct scores ``g`` in descending order (scikit-learn's definition, no interpolation);
- AUPR-Out: the same with OOD positive on negated scores (the ranking read from the bottom);
- FPR95: :func:`ood_core.metrics.fpr_at_recall`'s rule: thresholds are the distinct scores, only
  those down to the first with recall 1 count, and among equally near ones the lowest wins.

**Paired differences.** Two score sets on the same images (two methods, or two settings of one)
are compared by the interval of the *difference* of a metric: :func:`paired_difference_intervals`
draws the resample weights once per draw and evaluates both score sets with them
(:func:`bootstrap_draws` with the same seed draws the same counts for equal set sizes), so the
images common to both cancel in the difference. :func:`difference_intervals` does it from draws
already made (a sweep computes each point's draws once, for its own interval, and reuses them).

**Shared ID draws.** The ID images are the same in every pair (a test-time method may score them
differently per OOD set, but they are the same images), so each bootstrap draw resamples the ID
set once and uses those counts for every OOD set; the ``"average"`` interval is that of the
per-draw average over the sets, as the reported average is the mean of the per-set metrics.

Seeded: one :class:`numpy.random.SeedSequence` per call spawns one stream for the ID set and one
per OOD set (in the order of ``pairs``); draws are 64-bit and every per-row sum has a fixed
order, so the result does not depend on the chunk size or the number of threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from typing import Mapping, Sequence

import numpy as np

from ood_core import _array
from ood_core._params import check_seed
from ood_core._progress import Progress
from ood_core.metrics import check_ood_set_names

__all__ = ["metric_intervals", "bootstrap_draws", "weighted_metrics", "paired_difference_intervals",
           "difference_intervals", "METRICS", "CHUNK_ELEMENTS"]

#: Ceiling of ``n_resamples`` (documented in params.yaml ``evaluation.n_resamples``).
MAX_RESAMPLES = 100_000
#: From this many resamples on, a progress line on stderr every 30 s.
PROGRESS_FROM = 10_000

METRICS = ("fpr95", "auroc", "aupr_in", "aupr_out")
CHUNK_ELEMENTS = 2_000_000
"""Resamples per chunk = this // (n_id + largest n_ood): about 16 MB per ``[B, n]`` float64 array."""
RECALL_LEVEL = 0.95


def _gather(cum: np.ndarray, columns: np.ndarray | slice) -> np.ndarray:
    """``cum[:, columns]``: a view for a slice (the no-ties case), a gather otherwise."""
    return cum[:, columns] if isinstance(columns, slice) else np.take(cum, columns, axis=1)


def _row_dot(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(weights * values)``; overwrites ``values``. ``ndarray.sum`` (pairwise per row)
    rather than ``einsum``, whose SIMD order can depend on memory alignment: the result must not
    depend on the chunk a row is computed in."""
    np.multiply(values, weights, out=values)
    return values.sum(axis=1)


def _columns(idx: np.ndarray, offset: int) -> np.ndarray | slice:
    """``idx``, or the equivalent slice when it is ``offset, offset + 1, ...`` (no ties: no gather)."""
    if np.array_equal(idx, np.arange(offset, offset + idx.size)):
        return slice(offset, offset + idx.size)
    return idx


class _Ranking:
    """One score vector sorted once (descending, stable) with the lookups the metrics need."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores
        self.order = np.argsort(-scores, kind="stable")
        self.sorted = scores[self.order]  # descending
        self._neg = -self.sorted  # ascending, for searchsorted

    def n_at_least(self, values: np.ndarray) -> np.ndarray:
        """``[len(values)]`` int: how many scores are >= each value (a column of :meth:`cumulative`)."""
        return np.searchsorted(self._neg, -values, side="right")

    def n_above(self, values: np.ndarray) -> np.ndarray:
        """How many scores are > each value."""
        return np.searchsorted(self._neg, -values, side="left")

    def sort_counts(self, counts: np.ndarray) -> np.ndarray:
        """``[B, n]`` counts permuted into the descending order of the scores."""
        return counts[:, self.order]

    @staticmethod
    def cumulative(sorted_counts: np.ndarray) -> np.ndarray:
        """``[B, n + 1]`` float64: column ``k`` = total count of the ``k`` highest scores (column 0 is 0).

        Counts are integers held in float64 (exact below 2**53), so the metrics need no casts."""
        out = np.zeros((sorted_counts.shape[0], sorted_counts.shape[1] + 1), dtype=np.float64)
        np.cumsum(sorted_counts, axis=1, out=out[:, 1:])
        return out


class _Pair:
    """The weight-independent lookups of one (ID, OOD) pair, every per-image array in sorted order."""

    def __init__(self, id_rank: _Ranking, ood_rank: _Ranking):
        self.id_rank, self.ood_rank = id_rank, ood_rank
        s_id, s_ood = id_rank.sorted, ood_rank.sorted
        # Per ID image: columns of the cumulative ID / OOD counts of the images scoring at least as much.
        self.id_ge_id = _columns(id_rank.n_at_least(s_id), 1)
        self.id_ge_ood = _columns(ood_rank.n_at_least(s_id), 0)
        # Per OOD image: columns of the ID images above / at least as high, and of the OOD images above.
        gt_id, ge_id = id_rank.n_above(s_ood), id_rank.n_at_least(s_ood)
        self.ood_gt_id = _columns(gt_id, 0)
        self.ood_ge_id = None if np.array_equal(gt_id, ge_id) else ge_id  # None: no ID score equals an OOD one
        self.ood_gt_ood = _columns(ood_rank.n_above(s_ood), 0)
        # FPR95 candidates: per distinct ID score u (descending), the lowest threshold above u
        # (ID / OOD columns of the scores > u) and the threshold u itself (OOD column of scores >= u).
        distinct_id = np.unique(s_id)[::-1]
        self.u_id_gt = _columns(id_rank.n_above(distinct_id), 0)
        self.u_ood_gt = ood_rank.n_above(distinct_id)
        self.u_ood_ge = ood_rank.n_at_least(distinct_id)

    def metrics(self, id_sorted: np.ndarray, ood_counts: np.ndarray, id_cum: np.ndarray) -> dict:
        """Each metric as a ``[B]`` float64 array.

        ``id_sorted``: ``[B, n_id]`` float64 ID counts in this pair's ID order, ``id_cum`` their cumulative;
        ``ood_counts``: ``[B, n_ood]`` OOD counts in the original order.
        """
        ood_sorted = self.ood_rank.sort_counts(ood_counts).astype(np.float64)
        cid, cood = id_cum, self.ood_rank.cumulative(ood_sorted)
        pos, neg = cid[:, -1], cood[:, -1]  # total ID / OOD weight per resample
        if (pos <= 0).any() or (neg <= 0).any():
            raise ValueError("every resample needs a positive total ID weight and OOD weight")

        # AUROC: sum over OOD images of w * (ID weight above + ID weight at least) / (2 P N). Every
        # product and partial sum is an integer below 2 P N << 2**53: exact in float64.
        id_above_ood = _gather(cid, self.ood_gt_id)
        pairs_won = 2.0 * id_above_ood if self.ood_ge_id is None else id_above_ood + _gather(cid, self.ood_ge_id)
        auroc = np.einsum("ij,ij->i", ood_sorted, pairs_won) / (2.0 * pos * neg)

        # AUPR-In: sum over ID images of w * precision at the image's own score, / P. A denominator
        # is 0 only where the image's weight is 0 (then so is the term).
        tp = _gather(cid, self.id_ge_id)
        prec_in = tp / np.maximum(tp + _gather(cood, self.id_ge_ood), 1)
        aupr_in = _row_dot(id_sorted, prec_in) / pos

        # AUPR-Out: OOD positive, the ranking read from the bottom: at an OOD image's score the
        # accepted set is everything scoring at most that much.
        ood_low = neg[:, None] - _gather(cood, self.ood_gt_ood)
        prec_out = ood_low / np.maximum(ood_low + (pos[:, None] - id_above_ood), 1)
        aupr_out = _row_dot(ood_sorted, prec_out) / neg

        return {"fpr95": self._fpr95(cid, cood, pos, neg), "auroc": auroc, "aupr_in": aupr_in,
                "aupr_out": aupr_out}

    def _fpr95(self, cid, cood, pos, neg) -> np.ndarray:
        """:func:`ood_core.metrics.fpr_at_recall`'s rule with weights, without scanning every threshold.

        Recall depends on the threshold only through the ID weight above it, so among thresholds of
        equal recall the lowest is the one just above the next ID score of positive weight (or, at
        recall 1, the first threshold reaching it). These candidates are ``above[q]`` (scores > the
        q-th distinct ID score) and ``full``; recall grows with ``q``, so the nearest to 0.95 is one
        of the two around the crossing, found by counting. Equally near: the lower threshold wins.
        """
        rows = np.arange(cid.shape[0])
        tps_above = _gather(cid, self.u_id_gt)  # [B, m] nondecreasing along q
        # Smallest integer t with t / P >= 0.95 in floating point (the reference compares floats).
        t_min = np.ceil(RECALL_LEVEL * pos)
        t_min = np.where((t_min - 1) / pos >= RECALL_LEVEL, t_min - 1, t_min)
        t_min = np.where(t_min / pos < RECALL_LEVEL, t_min + 1, t_min)
        k = np.count_nonzero(tps_above < t_min[:, None], axis=1)  # >= 1: tps_above[:, 0] = 0
        q_last = np.count_nonzero(tps_above < pos[:, None], axis=1) - 1  # last distinct ID score of positive weight
        lo_tps = tps_above[rows, k - 1]  # the largest recall below 0.95, at its lowest threshold
        gap_lo = np.abs(lo_tps / pos - RECALL_LEVEL)
        fps_lo = cood[rows, self.u_ood_gt[k - 1]]
        # Above 0.95: the candidate at k (its lowest threshold: the last q with the same tps), unless
        # the crossing is at recall 1 (k > q_last), which is reached only at the threshold `full`.
        has_hi = k <= q_last
        k_safe = np.minimum(k, tps_above.shape[1] - 1)
        hi_tps = tps_above[rows, k_safe]
        q_hi = np.count_nonzero(tps_above <= hi_tps[:, None], axis=1) - 1
        hi_recall = np.where(has_hi, hi_tps / pos, 1.0)
        fps_hi = np.where(has_hi, cood[rows, self.u_ood_gt[np.minimum(q_hi, tps_above.shape[1] - 1)]],
                          cood[rows, self.u_ood_ge[q_last]])
        gap_hi = np.abs(hi_recall - RECALL_LEVEL)
        return np.where(gap_hi <= gap_lo, fps_hi, fps_lo) / neg


def _check_scores(x, name: str) -> np.ndarray:
    arr = _array.to_numpy_float64(x, name)  # 1-D, non-empty, finite
    return arr


def _check_weights(w, n: int, name: str) -> np.ndarray:
    arr = np.asarray(w)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{name} must be [B, {n}] (one row of weights per resample); got shape {np.shape(w)}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold non-negative integers (resample counts); got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise ValueError(f"{name} holds negative weights; weights are resample counts (>= 0)")
    if (arr.sum(axis=1) == 0).any():
        raise ValueError(f"{name} has a row of zero total weight; every resample needs at least one image")
    return arr


def weighted_metrics(id_scores, ood_scores, id_weights, ood_weights) -> dict[str, np.ndarray]:
    """FPR95, AUROC, AUPR-In, AUPR-Out (fractions) for each row of integer sample weights.

    Args:
        id_scores ``[n_id]``, ood_scores ``[n_ood]``: 1-D finite scores, higher = ID.
        id_weights ``[B, n_id]``, ood_weights ``[B, n_ood]``: non-negative integer weights (a
            1-D vector is one row); weight ``w`` counts a score ``w`` times, 0 drops it.

    Returns:
        metric -> ``[B]`` float64, each equal to :func:`ood_core.metrics.ood_metrics` on
        ``np.repeat(scores, weights)`` (up to float rounding of sums, ~1e-15).
    """
    s_id, s_ood = _check_scores(id_scores, "id_scores"), _check_scores(ood_scores, "ood_scores")
    w_id = _check_weights(id_weights, s_id.size, "id_weights")
    w_ood = _check_weights(ood_weights, s_ood.size, "ood_weights")
    if w_id.shape[0] != w_ood.shape[0]:
        raise ValueError(f"id_weights has {w_id.shape[0]} rows but ood_weights {w_ood.shape[0]}; one row per resample")
    pair = _Pair(_Ranking(s_id), _Ranking(s_ood))
    id_sorted = pair.id_rank.sort_counts(w_id).astype(np.float64)
    return pair.metrics(id_sorted, w_ood, pair.id_rank.cumulative(id_sorted))


def _check_pairs(pairs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(pairs, Mapping) or not pairs:
        raise ValueError("pairs must be a non-empty mapping OOD set -> (id_scores, ood_scores)")
    check_ood_set_names(pairs, "pairs")
    out = {}
    for name, pair in pairs.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"pairs[{name!r}] must be (id_scores, ood_scores)")
        out[name] = (_check_scores(pair[0], f"pairs[{name!r}] id_scores"),
                     _check_scores(pair[1], f"pairs[{name!r}] ood_scores"))
    sizes = {name: s_id.size for name, (s_id, _) in out.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the ID scores of every pair must cover the same ID images; their sizes differ: {sizes}")
    return out


def _counts(rng: np.random.Generator, n_rows: int, n: int) -> np.ndarray:
    """``[n_rows, n]`` int64 multinomial counts: ``n`` draws with replacement per row (64-bit draws)."""
    idx = rng.integers(0, n, size=(n_rows, n), dtype=np.int64)
    idx += (np.arange(n_rows, dtype=np.int64) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=n_rows * n).reshape(n_rows, n)


def bootstrap_draws(pairs, *, n_resamples: int = 1000, seed: int = 0, n_jobs: int | None = None,
                    groups: Mapping[str, Sequence[str]] | None = None, _chunk: int | None = None) -> dict:
    """The per-resample metrics behind :func:`metric_intervals` (same arguments).

    Returns:
        OOD set (plus ``"average"`` and each group) -> metric -> ``[n_resamples]`` float64 (fractions).
    """
    if (isinstance(n_resamples, bool) or not isinstance(n_resamples, Integral)
            or not 1 <= n_resamples <= MAX_RESAMPLES):
        raise ValueError(f"n_resamples={n_resamples!r} must be an integer in [1, {MAX_RESAMPLES:,}] (the default is "
                         "1000; intervals stop changing long before the ceiling, which takes ~100x the default's time)")
    seed = check_seed(seed)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs < 1):
        raise ValueError(f"n_jobs={n_jobs!r} must be an integer >= 1, or None (one thread per CPU, at most one per set)")
    pairs = _check_pairs(pairs)
    names = list(pairs)
    groups = _check_groups(groups, names)
    n_id = pairs[names[0]][0].size
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(1 + len(names))]
    id_stream, ood_streams = streams[0], dict(zip(names, streams[1:]))

    # Sort each distinct ID score vector once (one for a method that scores images one by one).
    id_ranks: list[_Ranking] = []
    set_pairs: dict[str, tuple[_Pair, int]] = {}
    for name, (s_id, s_ood) in pairs.items():
        k = next((i for i, r in enumerate(id_ranks) if r.scores is s_id or np.array_equal(r.scores, s_id)), None)
        if k is None:
            id_ranks.append(_Ranking(s_id))
            k = len(id_ranks) - 1
        set_pairs[name] = (_Pair(id_ranks[k], _Ranking(s_ood)), k)

    largest = n_id + max(s_ood.size for _, s_ood in pairs.values())
    chunk = _chunk or max(1, min(int(n_resamples), CHUNK_ELEMENTS // largest))
    draws = {name: {m: np.empty(n_resamples) for m in METRICS} for name in names}
    n_jobs = min(len(names), os.cpu_count() or 1) if n_jobs is None else min(int(n_jobs), len(names))

    def one_set(name, start, b, id_sorted, id_cums):
        # Each set draws from its own stream and writes its own slots: the result does not depend
        # on which thread runs it or when (numpy releases the GIL in the array work).
        pair, k = set_pairs[name]
        ood_counts = _counts(ood_streams[name], b, pair.ood_rank.scores.size)
        for m, v in pair.metrics(id_sorted[k], ood_counts, id_cums[k]).items():
            draws[name][m][start:start + b] = v

    progress = Progress("bootstrap resamples", n_resamples, min_total=PROGRESS_FROM)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for start in range(0, n_resamples, chunk):
            b = min(chunk, n_resamples - start)
            id_counts = _counts(id_stream, b, n_id)
            id_sorted = [r.sort_counts(id_counts).astype(np.float64) for r in id_ranks]
            id_cums = [r.cumulative(c) for r, c in zip(id_ranks, id_sorted)]
            for future in [pool.submit(one_set, name, start, b, id_sorted, id_cums) for name in names]:
                future.result()  # re-raises a worker's error
            progress.update(b)
    draws["average"] = {m: np.mean([draws[name][m] for name in names], axis=0) for m in METRICS}
    for group, members in groups.items():  # e.g. OpenOOD's near / far: the per-draw mean over its sets
        draws[group] = {m: np.mean([draws[name][m] for name in members], axis=0) for m in METRICS}
    return draws


def _check_groups(groups, names: list[str]) -> dict[str, tuple[str, ...]]:
    if groups is None:
        return {}
    out = {}
    for group, members in dict(groups).items():
        members = tuple(members)
        if group in names or group == "average":
            raise ValueError(f"group {group!r} is named like an OOD set or 'average'; rename the group")
        missing = [m for m in members if m not in names]
        if not members or missing:
            raise ValueError(f"group {group!r} must list some of the OOD sets {names}; unknown: {missing}")
        out[group] = members
    return out


def metric_intervals(pairs, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                     n_jobs: int | None = None,
                     groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """Percentile bootstrap intervals of FPR95, AUROC, AUPR-In and AUPR-Out over images.

    Args:
        pairs: OOD set -> ``(id_scores [n_id], ood_scores [n_ood])``, 1-D finite scores (higher =
            ID). The ID scores of every pair belong to the same ``n_id`` ID images (one ID resample
            per draw is shared by the sets); they may differ per set (test-time methods).
        n_resamples: bootstrap draws (>= 1). confidence: in (0, 1). seed: seeds every draw.
        n_jobs: threads, each computing some OOD sets (None: one per CPU, at most one per set);
            the result is the same for any value.
        groups: optional group -> its OOD sets (OpenOOD's near / far): each group's interval is
            that of the per-draw mean over its sets, like ``"average"``'s.

    Returns:
        OOD set (plus ``"average"``, the per-draw mean over the sets, and each group) -> metric (``"fpr95"``,
        ``"auroc"``, ``"aupr_in"``, ``"aupr_out"``) -> ``(low, high)``: the
        ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled metric
        (numpy's linear interpolation), python floats, fractions in ``[0, 1]``.
    """
    confidence = _array.check_fraction(confidence, "confidence", high_open=True)
    draws = bootstrap_draws(pairs, n_resamples=n_resamples, seed=seed, n_jobs=n_jobs, groups=groups)
    q = [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)]
    out = {}
    for name, per_metric in draws.items():
        out[name] = {}
        for m, v in per_metric.items():
            low, high = np.percentile(v, q)
            out[name][m] = (float(low), float(high))
    return out


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = np.percentile(values, [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)])
    return float(low), float(high)


def difference_intervals(draws_a: Mapping, draws_b: Mapping, *, confidence: float = 0.95) -> dict:
    """Percentile intervals of ``a - b`` per draw, from :func:`bootstrap_draws` of two score sets.

    Args:
        draws_a, draws_b: outputs of :func:`bootstrap_draws` made with the **same** ``seed``,
            ``n_resamples`` and set sizes (so draw ``i`` of both used the same resample weights);
            the same keys (OOD sets, ``"average"``, groups) and metrics.
        confidence: in (0, 1).

    Returns:
        key -> metric -> ``(low, high)``, fractions (``a - b``: positive when ``a`` is higher).
        Identical draws give exactly ``(0.0, 0.0)``.
    """
    confidence = _array.check_fraction(confidence, "confidence", high_open=True)
    if set(draws_a) != set(draws_b):
        raise ValueError(f"the two draws cover different sets: {sorted(draws_a)} vs {sorted(draws_b)}; a paired "
                         "difference needs the same OOD sets scored on the same images")
    out = {}
    for name in draws_a:
        out[name] = {}
        for m, va in draws_a[name].items():
            vb = np.asarray(draws_b[name][m])
            if np.shape(va) != vb.shape:
                raise ValueError(f"{name}/{m}: {np.shape(va)} draws vs {vb.shape}; use the same n_resamples")
            out[name][m] = _percentile_interval(np.asarray(va) - vb, confidence)
    return out


def paired_difference_intervals(pairs_a, pairs_b, *, n_resamples: int = 1000, confidence: float = 0.95,
                                seed: int = 0, n_jobs: int | None = None,
                                groups: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Paired percentile bootstrap intervals of ``metric(a) - metric(b)`` for two score sets on the same images.

    Args:
        pairs_a, pairs_b: OOD set -> ``(id_scores [n_id], ood_scores [n_ood])`` as for
            :func:`metric_intervals`, the same OOD sets with the same sizes, entry ``j`` of both
            being the score of the same image (e.g. two methods' scores of one split).
        n_resamples, confidence, seed, n_jobs, groups: as for :func:`metric_intervals`.

    Returns:
        OOD set (plus ``"average"`` and each group) -> metric -> ``(low, high)`` of ``a - b``
        (fractions). Each draw resamples the images once and evaluates both score sets on that
        resample; an interval that excludes 0 marks a difference significant at ``confidence``.
    """
    a, b = _check_pairs(pairs_a), _check_pairs(pairs_b)
    if list(a) != list(b):
        raise ValueError(f"pairs_a and pairs_b must list the same OOD sets in the same order; got {list(a)} and "
                         f"{list(b)}")
    for name in a:
        if a[name][0].size != b[name][0].size or a[name][1].size != b[name][1].size:
            raise ValueError(f"pairs[{name!r}]: sizes differ ({a[name][0].size} + {a[name][1].size} vs "
                             f"{b[name][0].size} + {b[name][1].size}); a paired difference needs scores of the "
                             "same images")
    kw = dict(n_resamples=n_resamples, seed=seed, n_jobs=n_jobs, groups=groups)
    return difference_intervals(bootstrap_draws(a, **kw), bootstrap_draws(b, **kw), confidence=confidence)
