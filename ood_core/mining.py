"""Negative-label selection from the wild corpus (SPEC section 2).

- :func:`neglabel_select`: NegLabel's percentile rule (and CSP's ``max_id_sim`` exclusion).
- :func:`density_select`: DNM's Step 1, kNN density among the candidates (ID labels unused);
  built from :func:`density_scores` (per-candidate density, several ``k`` from one kNN pass) and
  :func:`select_by_density` (the per-part-of-speech cut).

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

__all__ = ["neglabel_select", "density_scores", "select_by_density", "density_select", "keep_count"]

# Elements of one similarity block. 2^26 float32 = 256 MB: for M = 57k candidates a kNN block
# is ~1,400 rows, so peak memory stays well under 1 GB beyond the embeddings themselves.
_BLOCK_ELEMENTS = 1 << 26
METRICS = ("reference", "paper")


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
    from tqdm.auto import tqdm

    return tqdm(blocks, desc=f"kNN {name}", unit="block", leave=False, disable=None)


def _knn_log_density(x: torch.Tensor, ks: list[int], metric: str, bs: int, name: str) -> dict[int, np.ndarray]:
    """Density (higher = denser) of each row of ``x`` ``[n, d]`` for every ``k`` in ``ks``.

    One blocked pass with ``k_max = max(ks)``; the sorted neighbour distances serve every k.
    """
    n = x.shape[0]
    k_max = max(ks)
    out = {k: np.empty(n, dtype=np.float64) for k in ks}
    if metric == "reference":
        norms = torch.linalg.vector_norm(x, dim=1)
        unit = x / norms[:, None]
        # d_ij is a difference of O(norm) terms: below this it is rounding noise, not a distance
        # (normalised features give d_ii = 2 - 2 cos_ii ~ 1e-7 in float32 instead of exactly 0).
        d_tol = 16.0 * torch.finfo(x.dtype).eps * (2.0 * float(norms.max()) + 2.0)
        for start in _progress(range(0, n, bs), name):
            stop = min(n, start + bs)
            # d_ij - ||t_i|| = ||t_j|| - 2 cos_ij: the row constant ||t_i|| does not change the
            # neighbour order, and addmm fuses the ||t_j|| bias into the product (no extra pass).
            part = torch.addmm(norms[None, :].expand(stop - start, n), unit[start:stop], unit.T, beta=1.0, alpha=-2.0)
            vals = torch.topk(part, k_max, dim=1, largest=False, sorted=True).values
            d = vals.to(torch.float64) + norms[start:stop, None].to(torch.float64)
            if not bool((d > d_tol).all()):
                bad = int(torch.nonzero((d <= d_tol).any(dim=1))[0, 0]) + start
                raise ValueError(
                    f"{name}: metric='reference' found a distance d_ij = ||t_i|| + ||t_j|| - 2 cos <= 0 (up to rounding) "
                    f"(row {bad}, min d = {float(d.min()):.3g}); this metric needs raw, un-normalised text "
                    f"features (norms > 1, cached before normalisation). For normalised features use "
                    f"metric='paper'"
                )
            logd = torch.log(d)
            csum = torch.cumsum(logd, dim=1)
            for k in ks:
                out[k][start:stop] = (-(csum[:, k - 1] / k)).cpu().numpy()
    else:  # paper: normalised w, self excluded, Rep = -log sum ||w_i - w_j||^2 = -log sum (2 - 2 cos)
        unit = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
        for start in _progress(range(0, n, bs), name):
            stop = min(n, start + bs)
            cos = unit[start:stop] @ unit.T
            rows = torch.arange(stop - start, device=x.device)
            cos[rows, rows + start] = -math.inf  # mask self
            vals = torch.topk(cos, k_max, dim=1, largest=True, sorted=True).values
            # 2 - 2 cos can round slightly below 0 for near-duplicates: clamp at the true bound 0.
            sq = (2.0 - 2.0 * vals.to(torch.float64)).clamp_min(0.0)
            csum = torch.cumsum(sq, dim=1)
            for k in ks:
                out[k][start:stop] = (-torch.log(csum[:, k - 1])).cpu().numpy()
    return out


def density_scores(cand_emb_raw, is_adj, ks=(100,), metric: str = "reference", *, device=None,
                   block_size: int | None = None) -> dict[int, np.ndarray]:
    """Per-candidate kNN density for each ``k`` in ``ks``; **higher = denser**.

    The kNN is computed **within each part of speech** (nouns among nouns, adjectives among
    adjectives), since the two are selected separately and embedded with different prompts.

    - ``metric="reference"`` (default; the released code): on the un-normalised features ``t``,
      ``d_ij = ||t_i|| + ||t_j|| - 2 cos(t_i, t_j)``; the ``k`` smallest ``d_ij`` over all ``j``
      of the same part of speech, **self included** when it is among them (no masking);
      density = ``-mean(log d)`` over them. Any needed ``d <= 0`` up to rounding (``d`` within
      ``16 eps (2 max||t|| + 2)`` of 0; e.g. already-normalised features, where ``d_ii = 0``)
      raises ``ValueError``: the metric needs raw features with norms > 1.
    - ``metric="paper"``: on normalised ``w``, ``Rep_i = -log sum_{j in kNN(i), j != i}
      ||w_i - w_j||^2`` (self masked); density = ``Rep``.

    Blocks of rows (``block_size``; default ~64M elements per block) are compared with all rows
    of their part of speech and reduced by ``topk`` at once: memory is ``O(block * n)``.
    The largest ``k`` is computed once; smaller ones reuse its sorted neighbours.

    Args:
        cand_emb_raw: ``[M, d]`` raw (un-normalised) text features.
        is_adj: ``[M]`` bool. ks: iterable of ints, each in ``[1, n_pos - 1]`` for both parts of
        speech that are non-empty. metric: ``"reference"`` or ``"paper"``.

    Returns:
        ``{k: [M] float64}``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} must be one of {list(METRICS)}")
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
    is_adj = _array.as_bool_vector(is_adj, "is_adj", cand.shape[0])
    out = {int(k): np.empty(cand.shape[0], dtype=np.float64) for k in ks}
    for flag, pos_name in ((False, "nouns"), (True, "adjectives")):
        rows = np.flatnonzero(is_adj == flag)
        if rows.size == 0:
            continue
        for k in ks:
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k < rows.size:
                raise ValueError(
                    f"k={k!r} must be an integer in [1, {rows.size - 1}] (fewer than the {rows.size} {pos_name})"
                )
        x = cand[torch.from_numpy(rows).to(dev)]
        bs = _block_rows(block_size, rows.size, rows.size)
        part = _knn_log_density(x, [int(k) for k in ks], metric, bs, f"cand_emb_raw ({pos_name})")
        for k in out:
            out[k][rows] = part[k]
    return out


def select_by_density(density, is_adj, ratio_noun: float = 0.23, ratio_adj: float = 0.13) -> np.ndarray:
    """The densest ``floor(ratio_noun * n_nouns)`` nouns and ``floor(ratio_adj * n_adj)`` adjectives.

    ``density``: ``[M]`` from :func:`density_scores` (higher = denser). Ties: lower index first.
    Returns sorted int64 indices.
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
                   metric: str = "reference", *, device=None, block_size: int | None = None) -> np.ndarray:
    """DNM's density selection (the paper's Step 1; ID labels are not used).

    Keeps the densest ``floor(ratio_noun * n_nouns)`` nouns and ``floor(ratio_adj * n_adj)``
    adjectives by :func:`density_scores` with this ``k`` and ``metric`` (kNN within each part of
    speech). ``metric="reference"``: smallest mean log distance on raw features, self included;
    ``metric="paper"``: highest ``Rep``, self excluded. ``k`` in ``[1, n_pos - 1]``; ratios in
    ``(0, 1]``. ``device=None``: CPU unless the input is a CUDA tensor.

    Returns:
        Sorted int64 indices into the candidates.
    """
    _array.check_fraction(ratio_noun, "ratio_noun")
    _array.check_fraction(ratio_adj, "ratio_adj")
    density = density_scores(cand_emb_raw, is_adj, [k], metric, device=device, block_size=block_size)
    return select_by_density(density[int(k)], is_adj, ratio_noun, ratio_adj)
