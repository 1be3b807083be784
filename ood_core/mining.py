"""Negative-label selection from the wild corpus (docs/methods.md §2).

- :func:`neglabel_select`: NegLabel's percentile rule (and CSP's ``max_id_sim`` exclusion).
- :func:`density_select`: DNM's Step 1, kNN density among the candidates (ID labels unused;
  neighbours over the whole pool, as the released code); built from :func:`density_scores`
  (per-candidate density, several ``k`` from one kNN pass) and :func:`select_by_density` (the
  per-part-of-speech cut). :func:`knn_block_rows`: the row blocking they use.

Inputs are numpy arrays or torch tensors (float16/32/64; float64 if any input is float64, else
float32 arithmetic). ``is_adj`` ``[M]`` bool marks adjectives; the rest are nouns. Every
selector returns sorted int64 indices into the candidate rows. Ties in a ranking are broken by
candidate index (stable sorts), so results are reproducible. ``device=None`` = the device of a
CUDA tensor input, else the CPU; candidate blocks keep memory bounded (never ``M x M``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ood_core import _array

__all__ = ["neglabel_select", "density_scores", "select_by_density", "density_select", "keep_count",
           "knn_block_rows", "METRICS", "NEIGHBOURS"]

# Elements of one similarity block. 2^26 float32 = 256 MB: for M = 57k candidates a kNN block
# is 1,177 rows, so peak memory stays well under 1 GB beyond the embeddings themselves.
_BLOCK_ELEMENTS = 1 << 26
# The kNN selection (see _smallest_sorted): minima over strided chunks of _CHUNK distances, then
# over groups of _GROUP chunk minima, until a row is short enough (<= _DIRECT_TOPK * m) for topk.
_CHUNK = 8
_GROUP = 4
_DIRECT_TOPK = 32
METRICS = ("reference", "paper")
NEIGHBOURS = ("pool", "per_pos")


def keep_count(ratio: float, n: int) -> int:
    """``floor(ratio * n)`` with the plain float product, as the released code truncates it."""
    return int(math.floor(ratio * n))


def _block_rows(block_size: Any, n_cols: int, n_rows: int) -> int:
    if block_size is None:
        return max(1, min(n_rows, _BLOCK_ELEMENTS // max(1, n_cols)))
    return _array.check_int_range(block_size, "block_size", 1, np.iinfo(np.int64).max)


def _lowest_per_pos(values: np.ndarray, is_adj: np.ndarray, ratio_noun: float, ratio_adj: float,
                    eligible: np.ndarray | None = None) -> np.ndarray:
    """Per part of speech, the ``floor(ratio * n_pos)`` eligible rows with the lowest ``values``.

    ``n_pos`` counts *all* rows of that part of speech (eligible or not); if fewer rows are
    eligible, all eligible ones are kept. Ties go to the lower index. Returns sorted int64.
    """
    kept = []
    for flag, ratio in ((False, ratio_noun), (True, ratio_adj)):
        rows = np.flatnonzero(is_adj == flag)
        n_keep = keep_count(ratio, rows.size)
        if eligible is not None:
            rows = rows[eligible[rows]]
        order = np.argsort(values[rows], kind="stable")
        kept.append(rows[order[:n_keep]])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def neglabel_select(cand_emb, id_emb, is_adj, percentile: float = 0.95, ratio: float = 0.15,
                    max_id_sim: float | None = None, *, device=None, block_size: int | None = None) -> np.ndarray:
    """NegLabel's selection (Jiang et al. 2024), optionally with CSP's exclusion rule.

    For each candidate ``j``: ``eta_j`` = the ``percentile``-quantile (linear interpolation,
    numpy's default method) of its cosines to all ``K`` ID labels. Within nouns and within
    adjectives separately, candidates are sorted by ``eta`` ascending (ties: lower index first)
    and the lowest ``floor(ratio * n_pos)`` are kept.

    CSP (``max_id_sim=0.95``): a candidate whose max cosine to any ID label exceeds
    ``max_id_sim`` is never kept. They are filtered out first; the count kept is still
    ``floor(ratio * n_pos)`` with ``n_pos`` counted over *all* candidates of that part of
    speech, taken from the rest (all of the rest if fewer remain).

    Args:
        cand_emb: ``[M, d]`` candidate text embeddings. id_emb: ``[K, d]`` ID-label embeddings.
        is_adj: ``[M]`` bool, True for adjectives.
        percentile, ratio: in ``(0, 1]``. max_id_sim: ``None`` or in ``[-1, 1]``.
        block_size: candidate rows per similarity block (default ~64M elements / K).

    Returns:
        Sorted int64 indices into the candidates.
    """
    percentile = _array.check_fraction(percentile, "percentile")
    ratio = _array.check_fraction(ratio, "ratio")
    if max_id_sim is not None:
        max_id_sim = _array.check_fraction(max_id_sim, "max_id_sim", low=-1.0, low_open=False)
    dtype = _array.compute_dtype(cand_emb, id_emb)
    dev = _array.resolve_device(device, cand_emb, id_emb)
    cand = _array.l2_normalize(_array.as_matrix(cand_emb, "cand_emb", dtype, dev), "cand_emb")
    ids = _array.l2_normalize(_array.as_matrix(id_emb, "id_emb", dtype, dev), "id_emb")
    _array.check_same_dim(ids, "id_emb", cand, "cand_emb")
    is_adj = _array.as_bool_vector(is_adj, "is_adj", cand.shape[0])

    # torch.quantile refuses inputs above 2^24 elements, so blocks also respect that.
    bs = _block_rows(block_size, ids.shape[0], cand.shape[0])
    bs = min(bs, max(1, (1 << 24) // ids.shape[0]))
    eta, max_sim = [], []
    for start in range(0, cand.shape[0], bs):
        sims = cand[start:start + bs] @ ids.T  # [B, K]
        eta.append(torch.quantile(sims, percentile, dim=1, interpolation="linear"))
        max_sim.append(sims.amax(dim=1))
    eta_np = torch.cat(eta).cpu().numpy()
    eligible = None
    if max_id_sim is not None:
        eligible = torch.cat(max_sim).cpu().numpy() <= max_id_sim
    return _lowest_per_pos(eta_np, is_adj, ratio, ratio, eligible)


def _progress(blocks, name: str):
    """A progress bar over row blocks, shown on a terminal only (tqdm's ``disable=None``)."""
    from tqdm import tqdm  # plain: off a terminal it is disabled anyway (no widget warning in kernels)

    return tqdm(blocks, desc=f"kNN {name}", unit="block", leave=False, disable=None)


def knn_block_rows(n_search: int, block_size: int | None = None) -> int:
    """Rows per block that :func:`density_scores` compares at once with ``n_search`` candidates.

    ``block_size`` given: checked (an integer >= 1) and returned as is. ``None`` (the default):
    ``min(n_search, max(1, 2**26 // n_search))``, i.e. blocks of about 64M distances (256 MB in
    float32; 1,177 rows for the 57k-candidate pool). ``n_search`` is the size of the set searched
    for neighbours: the whole pool (``neighbours="pool"``) or one part of speech (``"per_pos"``).
    Public so benchmarks can reproduce the blocking.
    """
    n_search = _array.check_int_range(n_search, "n_search", 1, np.iinfo(np.int64).max)
    return _block_rows(block_size, n_search, n_search)


def _smallest_indices(vals: torch.Tensor, m: int) -> torch.Tensor:
    """``[b, m]`` column indices of ``m`` entries of each row of ``vals`` ``[b, L]`` holding its ``m``
    smallest values (as a multiset: which of several tied entries is returned is unspecified).

    Long rows are first reduced by minima over strided groups of ``_GROUP`` columns (column
    ``g + r * L2`` belongs to group ``g``): the ``m`` groups with the smallest minima hold ``m``
    smallest values of the row (every entry below the largest selected minimum lies in a selected
    group, and enough entries equal to it do), so only their ``_GROUP * m`` members are searched.
    """
    b, n = vals.shape
    n2 = n // _GROUP
    if n2 < m or n <= _DIRECT_TOPK * m:
        return torch.topk(vals, m, dim=1, largest=False, sorted=False).indices
    group_min = vals[:, :n2 * _GROUP].view(b, _GROUP, n2).amin(dim=1)  # [b, n2]
    groups = _smallest_indices(group_min, m)  # [b, m]
    offsets = torch.arange(_GROUP, device=vals.device)[None, :, None] * n2
    cols = (groups[:, None, :] + offsets).reshape(b, _GROUP * m)
    if n > n2 * _GROUP:  # the last n % _GROUP columns are in no group: always candidates
        tail = torch.arange(n2 * _GROUP, n, device=vals.device)
        cols = torch.cat([cols, tail.expand(b, tail.numel())], dim=1)
    sel = torch.topk(torch.gather(vals, 1, cols), m, dim=1, largest=False, sorted=False).indices
    return torch.gather(cols, 1, sel)


def _smallest_sorted(buf: torch.Tensor, m: int, width: int) -> torch.Tensor:
    """The ``m`` smallest values of each row of ``buf`` ``[b, width * n_chunks]``, ascending ``[b, m]``.

    Exactly ``torch.topk(buf, m, largest=False, sorted=True).values`` (the same values, which is
    all the densities use), but cheaper for ``m << row length``: one pass takes the minimum of
    each strided chunk of ``width`` columns (chunk ``q`` = columns ``q + r * n_chunks``), the
    ``m`` chunks with the smallest minima are found (:func:`_smallest_indices`), and only their
    ``width * m`` entries are sorted. Exact by the argument in :func:`_smallest_indices`.
    """
    b, n = buf.shape
    if width == 1:
        return torch.topk(buf, m, dim=1, largest=False, sorted=True).values
    view = buf.view(b, width, n // width)
    chunks = _smallest_indices(view.amin(dim=1), m)  # [b, m]
    cand = torch.gather(view, 2, chunks[:, None, :].expand(b, width, m)).reshape(b, width * m)
    return torch.topk(cand, m, dim=1, largest=False, sorted=True).values


def _knn_smallest(unit: torch.Tensor, bias: torch.Tensor, m: int, mask_self: bool, bs: int, name: str):
    """Yield ``(start, stop, vals)`` per row block: ``vals`` ``[stop - start, m]`` ascending holds the
    ``m`` smallest of ``e_ij = bias_j - 2 <unit_i, unit_j>`` over all ``j`` (``j != i`` if
    ``mask_self``), in the compute dtype. ``unit`` ``[n, d]``, ``bias`` ``[n]``.

    The bias rides in the product: ``e_ij = <[unit_i, 1], [-2 unit_j, bias_j]>``, one ``mm`` of
    inner size ``d + 1`` per block into a reused buffer (no separate pass to add the bias). Columns
    are padded to a multiple of the chunk width with ``+inf`` (zero vector, bias ``inf``).
    """
    n, d = unit.shape
    width = max(1, min(_CHUNK, n // m))  # n // width >= m chunks, as _smallest_sorted needs
    n_pad = -(-n // width) * width
    cols = unit.new_zeros((n_pad, d + 1))  # [-2 unit_j, bias_j]; -2 x is exact in floating point
    torch.mul(unit, -2.0, out=cols[:n, :d])
    cols[:n, d] = bias
    cols[n:, d] = math.inf
    lhs = unit.new_ones((min(bs, n), d + 1))  # [unit_i, 1] of the current block
    buf = unit.new_empty((min(bs, n), n_pad))
    for start in _progress(range(0, n, bs), name):
        stop = min(n, start + bs)
        blk, rows_in = buf[:stop - start], lhs[:stop - start]
        rows_in[:, :d] = unit[start:stop]
        torch.mm(rows_in, cols.T, out=blk)
        if mask_self:
            rows = torch.arange(stop - start, device=unit.device)
            blk[rows, rows + start] = math.inf
        yield start, stop, _smallest_sorted(blk, m, width)


def _knn_log_density(x: torch.Tensor, ks: list[int], metric: str, bs: int, name: str) -> dict[int, np.ndarray]:
    """Density (higher = denser) of each row of ``x`` ``[n, d]``, neighbours among the rows of ``x``.

    One blocked pass with ``max(ks)``; the sorted neighbour distances serve every ``k``.
    """
    n = x.shape[0]
    k_max = max(ks)
    out = {k: np.empty(n, dtype=np.float64) for k in ks}
    norms = torch.linalg.vector_norm(x, dim=1)
    unit = x / norms[:, None]
    if metric == "reference":
        # d_ij - ||t_i|| = ||t_j|| - 2 cos_ij: the row constant ||t_i|| does not change the
        # neighbour order, so the block holds ||t_j|| - 2 cos_ij and ||t_i|| is added to the k+1 kept.
        # d_ij is a difference of O(norm) terms: below d_tol it is rounding noise, not a distance
        # (normalised features give d_ii = 2 - 2 cos_ii ~ 1e-7 in float32 instead of exactly 0).
        d_tol = 16.0 * torch.finfo(x.dtype).eps * (2.0 * float(norms.max()) + 2.0)
        for start, stop, vals in _knn_smallest(unit, norms, k_max + 1, False, bs, name):
            d = vals.to(torch.float64) + norms[start:stop, None].to(torch.float64)
            if not bool((d > d_tol).all()):
                bad = int(torch.nonzero((d <= d_tol).any(dim=1))[0, 0]) + start
                raise ValueError(
                    f"{name}: metric='reference' found a distance d_ij = ||t_i|| + ||t_j|| - 2 cos <= 0 "
                    f"(up to rounding) "
                    f"(row {bad}, min d = {float(d.min()):.3g}); this metric needs raw, un-normalised text "
                    f"features (norms > 1, cached before normalisation). For normalised features use "
                    f"metric='paper'"
                )
            csum = torch.cumsum(torch.log(d), dim=1)
            for k in ks:  # the k + 1 smallest distances, as the released code's topk(-d, k + 1)
                out[k][start:stop] = (-(csum[:, k] / (k + 1))).cpu().numpy()
    else:  # paper: normalised w, self masked; ||w_i - w_j||^2 = 2 - 2 cos_ij
        two = torch.full_like(norms, 2.0)
        for start, stop, vals in _knn_smallest(unit, two, k_max, True, bs, name):
            # 2 - 2 cos can round slightly below 0 for near-duplicates: clamp at the true bound 0.
            csum = torch.cumsum(vals.to(torch.float64).clamp_min(0.0), dim=1)
            for k in ks:
                out[k][start:stop] = (-torch.log(csum[:, k - 1])).cpu().numpy()
    return out


def _check_k(k: Any, n_search: int, what: str) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k < n_search:
        raise ValueError(f"k={k!r} must be an integer in [1, {n_search - 1}] (fewer than the {n_search} {what})")
    return int(k)


def density_scores(cand_emb_raw, is_adj, ks=(100,), metric: str = "reference", *, neighbours: str = "pool",
                   device=None, block_size: int | None = None) -> dict[int, np.ndarray]:
    """Per-candidate kNN density for each ``k`` in ``ks``; **higher = denser**.

    Neighbourhood (``neighbours``):

    - ``"pool"`` (default; the released code): every candidate's neighbours are searched over the
      **whole pool**, nouns and adjectives together (the released code joins the two lists before
      the kNN and splits them only for the selection, :func:`select_by_density`).
    - ``"per_pos"``: nouns among nouns, adjectives among adjectives (not the released rule; kept
      as an option for ablations).

    Metric:

    - ``metric="reference"`` (default; the released code): on the un-normalised features ``t``,
      ``d_ij = ||t_i|| + ||t_j|| - 2 cos(t_i, t_j)``; the **``k + 1``** smallest ``d_ij`` over all
      ``j`` of the search set, ``j = i`` included (``d_ii = 2 ||t_i|| - 2``, no masking: ``i`` is
      among them only when ``d_ii`` is small enough, which is not always so); density =
      ``-mean(log d)`` over those ``k + 1``. This is the released code's
      ``torch.topk(-d, k + 1)`` with the same ``k`` (``k = 100`` uses 101 distances). Any needed
      ``d <= 0`` up to rounding (``d`` within ``16 eps (2 max||t|| + 2)`` of 0; e.g. already
      normalised features, where ``d_ii = 0``) raises ``ValueError``: the metric needs raw
      features with norms > 1.
    - ``metric="paper"`` (the paper's written formula): on normalised ``w``,
      ``Rep_i = -log sum_{j in kNN(i), j != i} ||w_i - w_j||^2`` over the **``k``** nearest other
      candidates of the same search set (self masked by index, so exactly ``k`` neighbours,
      duplicates of ``i`` included); density = ``Rep``.

    Rows are processed in blocks (``block_size`` rows, default :func:`knn_block_rows`): one
    matrix product per block against the whole search set, then an exact selection of the
    smallest values (chunk minima narrow the search; the result equals ``torch.topk``'s values).
    Memory is ``O(block * n_search)``, never ``M x M``. The largest ``k`` is computed once;
    smaller ones reuse its sorted neighbours. Arithmetic is float32 (float64 if the input is
    float64); the per-row means/sums of logs are float64.

    Args:
        cand_emb_raw: ``[M, d]`` raw (un-normalised) text features, numpy or torch, no zero rows.
        is_adj: ``[M]`` bool (or 0/1), True for adjectives.
        ks: an int or an iterable of ints, each in ``[1, M - 1]`` (``neighbours="pool"``) or in
            ``[1, n_pos - 1]`` for each non-empty part of speech (``"per_pos"``).
        metric: ``"reference"`` or ``"paper"``. neighbours: ``"pool"`` or ``"per_pos"``.
        device: ``None`` = the CUDA tensor's device, else the CPU. block_size: rows per block.

    Returns:
        ``{k: [M] float64}`` (keys are Python ints).
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} must be one of {list(METRICS)}")
    if neighbours not in NEIGHBOURS:
        raise ValueError(f"neighbours={neighbours!r} must be one of {list(NEIGHBOURS)}")
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = list(ks)
    if not ks:
        raise ValueError("ks=[] is empty; give at least one k >= 1")
    dtype = _array.compute_dtype(cand_emb_raw)
    dev = _array.resolve_device(device, cand_emb_raw)
    cand = _array.as_matrix(cand_emb_raw, "cand_emb_raw", dtype, dev)
    norms = torch.linalg.vector_norm(cand, dim=1)
    if bool((norms == 0).any()):
        row = int(torch.nonzero(norms == 0)[0, 0])
        raise ValueError(f"cand_emb_raw row {row} has zero norm; embeddings must be non-zero")
    m = cand.shape[0]
    is_adj = _array.as_bool_vector(is_adj, "is_adj", m)
    if neighbours == "pool":
        ks = [_check_k(k, m, "candidates of the pool") for k in ks]
        return _knn_log_density(cand, ks, metric, knn_block_rows(m, block_size), "cand_emb_raw (pool)")
    out = {int(k): np.empty(m, dtype=np.float64) for k in ks}
    for flag, pos_name in ((False, "nouns"), (True, "adjectives")):
        rows = np.flatnonzero(is_adj == flag)
        if rows.size == 0:
            continue
        pos_ks = [_check_k(k, rows.size, pos_name) for k in ks]
        x = cand[torch.from_numpy(rows).to(dev)]
        part = _knn_log_density(x, pos_ks, metric, knn_block_rows(rows.size, block_size),
                                f"cand_emb_raw ({pos_name})")
        for k in out:
            out[k][rows] = part[k]
    return out


def select_by_density(density, is_adj, ratio_noun: float = 0.23, ratio_adj: float = 0.13) -> np.ndarray:
    """The densest ``floor(ratio_noun * n_nouns)`` nouns and ``floor(ratio_adj * n_adj)`` adjectives.

    ``density``: ``[M]`` from :func:`density_scores` (higher = denser), numpy or torch. The cut is
    per part of speech whatever neighbourhood produced the density (the released code splits the
    pool after the kNN). Ties: lower index first. Returns sorted int64 indices.
    """
    ratio_noun = _array.check_fraction(ratio_noun, "ratio_noun")
    ratio_adj = _array.check_fraction(ratio_adj, "ratio_adj")
    if isinstance(density, torch.Tensor):
        density = density.detach().cpu().numpy()
    dens = np.asarray(density, dtype=np.float64)
    if dens.ndim != 1 or dens.size == 0:
        raise ValueError(f"density must be 1-D and non-empty; got shape {dens.shape}")
    if np.isnan(dens).any():
        raise ValueError(f"density holds {int(np.isnan(dens).sum())} NaN value(s)")
    is_adj = _array.as_bool_vector(is_adj, "is_adj", dens.size)
    return _lowest_per_pos(-dens, is_adj, ratio_noun, ratio_adj)


def density_select(cand_emb_raw, is_adj, k: int = 100, ratio_noun: float = 0.23, ratio_adj: float = 0.13,
                   metric: str = "reference", *, neighbours: str = "pool", device=None,
                   block_size: int | None = None) -> np.ndarray:
    """DNM's density selection (the paper's Step 1; ID labels are not used).

    Keeps the densest ``floor(ratio_noun * n_nouns)`` nouns and ``floor(ratio_adj * n_adj)``
    adjectives (ties: lower index) by :func:`density_scores` with this ``k``, ``metric`` and
    ``neighbours``. Defaults are the released code: neighbours over the whole pool (nouns and
    adjectives together), ``metric="reference"``: the smallest mean log of the ``k + 1`` smallest
    raw-feature distances (self not masked; ``k = 100`` uses 101 distances). ``metric="paper"``:
    the highest ``Rep`` over ``k`` neighbours, self excluded. ``k`` in ``[1, M - 1]`` (or
    ``[1, n_pos - 1]`` with ``neighbours="per_pos"``); ratios in ``(0, 1]``. ``device=None``: CPU
    unless the input is a CUDA tensor.

    Returns:
        Sorted int64 indices into the candidates.
    """
    _array.check_fraction(ratio_noun, "ratio_noun")
    _array.check_fraction(ratio_adj, "ratio_adj")
    density = density_scores(cand_emb_raw, is_adj, [k], metric, neighbours=neighbours, device=device,
                             block_size=block_size)
    return select_by_density(density[int(k)], is_adj, ratio_noun, ratio_adj)
