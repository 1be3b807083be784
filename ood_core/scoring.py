"""Zero-shot OOD scores (docs/methods.md §3): MCM, NegLabel's grouped score, DNM's debiased score.

Every score takes image embeddings ``img`` ``[N, d]``, ID-label embeddings ``id_emb`` ``[K, d]``
and (for the grouped scores) negative-label embeddings ``neg_emb`` ``[M, d]``, as numpy arrays
or torch tensors of float16/float32/float64. All embeddings are L2-normalised here. Each returns
a 1-D float64 numpy array of length ``N``; **higher = more in-distribution**.

Computation (shared by all scores):

- Precision: float64 if any input is float64 (then everything is float64); otherwise the
  matrix products, exps and row sums are float32 and the final per-image formula is float64.
- Each similarity matrix is computed once: per block of images, one product against the
  stacked text matrix ``[id; (noisy id copies); negatives in group order] / T``. Negatives are
  permuted once into group order, so group sums are a reshape ``[B, G, Q]`` and a sum.
- Stability: every score is invariant to a common shift of one image's logits, so the per-image
  max over *all* its logits (ID and negatives) is subtracted before ``exp`` (done by a softmax
  over all of them; the grouped scores are also invariant to its per-image normalisation);
  cosines of exactly 1 at ``T = 0.01`` give finite scores. If an image's ID exp-sum still
  underflows in float32 (its ID logits lie more than ~87 below its best negative), that image is
  recomputed in float64; if it underflows even there, a ``ValueError`` names the temperature.
- No silent numbers: a temperature so small that ``cosine / T`` overflows the compute dtype
  (``T < ~1.2e-38`` in float32, ``~2.2e-308`` in float64) raises ``ValueError`` before any
  scoring, and every returned score is checked finite (else ``ValueError`` naming the cause).
  Non-finite inputs raise ``ValueError`` naming the argument; rows of any finite non-zero norm,
  e.g. ~1e25 in float32, are normalised exactly (``ood_core._array.l2_normalize``).
- Memory is bounded for any ``N``: ``batch_size`` images at a time (default: about 4M logits
  per block).
- ``device=None``: the device of a CUDA tensor input, else the CPU (see ``ood_core._array``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ood_core import _array
from ood_core._params import check_seed

__all__ = ["make_groups", "mcm", "neglabel", "dnm", "smallest_valid_n_groups"]

# Logits per image block when batch_size is None: 4M values = 16 MB in float32, small enough to
# stay in cache-friendly territory for the elementwise passes and large enough for an efficient GEMM.
_BLOCK_LOGITS = 1 << 22


def make_groups(n_neg: int, n_groups: int, seed: int = 0) -> np.ndarray:
    """Random equal-size groups of negative indices.

    Returns an int64 array ``[n_groups, n_neg // n_groups]``: the seeded permutation
    ``np.random.default_rng(seed).permutation(n_neg)`` with its last ``n_neg % n_groups`` entries
    dropped, reshaped row-major (row ``g`` = group ``g``).
    """
    seed = check_seed(seed, "seed")
    n_neg = _array.check_int_range(n_neg, "n_neg", 1, np.iinfo(np.int64).max)
    n_groups = _array.check_int_range(n_groups, "n_groups", 1, n_neg)
    q = n_neg // n_groups
    perm = np.random.default_rng(seed).permutation(n_neg).astype(np.int64)
    return perm[: n_groups * q].reshape(n_groups, q)


def smallest_valid_n_groups(n_neg: int, n_id: int, tau: float) -> int | None:
    """Smallest ``G`` in ``[1, n_neg]`` with ``(n_neg // G) * tau < (1 - tau) * n_id``, or ``None``.

    ``n_neg // G`` never grows with ``G``, so the valid ``G`` form a suffix of ``[1, n_neg]``:
    binary search for its start.
    """
    def ok(g: int) -> bool:
        return (n_neg // g) * tau < (1.0 - tau) * n_id

    if not ok(n_neg):
        return None
    lo, hi = 1, n_neg  # invariant: ok(hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _auto_batch_size(batch_size: Any, n_cols: int, n_rows: int) -> int:
    if batch_size is None:
        return max(1, min(n_rows, _BLOCK_LOGITS // max(1, n_cols)))
    return _array.check_int_range(batch_size, "batch_size", 1, np.iinfo(np.int64).max)


def _block_sums(img_block: torch.Tensor, text_over_t: torch.Tensor, n_id: int, n_pos: int,
                n_groups: int, q: int):
    """Exp-sums of one image block, each image's exps scaled by ``e^{-max logit} / sum of all``.

    ``text_over_t`` = ``[id (n_id); noisy id copies (n_pos); negatives in group order
    (n_groups * q)] / T``. Returns float64 tensors ``id_sum [B]``, ``pos_mean [B]`` (mean exp of
    the noisy copies; zeros if ``n_pos == 0``), ``group_sums [B, G]`` (empty if ``n_groups == 0``).
    """
    # Every score is invariant to a common per-image scale of these exps, so softmax over all of
    # an image's logits (exp(l - max) / sum) serves: it shifts by the max, cannot overflow, and
    # torch fuses max/exp/sum into one kernel (faster on CPU than amax + sub_ + exp_).
    probs = torch.softmax(img_block @ text_over_t.T, dim=1)  # [B, C], the only product
    # Sums in the compute dtype (torch reduces pairwise/vectorised: ~1e-7 relative in float32),
    # then float64 for the per-image formula; summing with dtype=float64 costs a second pass.
    id_sum = probs[:, :n_id].sum(dim=1).to(torch.float64)
    if n_pos:
        pos_mean = probs[:, n_id:n_id + n_pos].sum(dim=1).to(torch.float64) / n_pos
    else:
        pos_mean = torch.zeros_like(id_sum)
    start = n_id + n_pos
    b = probs.shape[0]
    group_sums = probs[:, start:start + n_groups * q].reshape(b, n_groups, q).sum(dim=2).to(torch.float64)
    return id_sum, pos_mean, group_sums


def _overflow_cause(temperature: float, dtype: torch.dtype) -> str:
    return (f"an overflow or NaN in the {dtype} logits cosine / temperature (temperature={temperature!r}); "
            f"use a larger temperature or float64 inputs")


def _scores_by_block(img_t, text_t, temperature, n_id, n_pos, n_groups, q, batch_size, per_image, what):
    """Run ``per_image(id_sum, pos_mean, group_sums) -> [B] float64`` over image blocks.

    Images whose ID exp-sum is below the compute dtype's smallest normal number (underflow) are
    recomputed in float64; if that still underflows a ``ValueError`` names the temperature. A
    non-finite score (``what``) raises ``ValueError`` instead of being returned.
    """
    text_over_t = text_t / temperature
    n = img_t.shape[0]
    bs = _auto_batch_size(batch_size, text_t.shape[0], n)
    out = torch.empty(n, dtype=torch.float64, device=img_t.device)
    tiny = torch.finfo(img_t.dtype).tiny
    text64 = None
    for start in range(0, n, bs):
        block = img_t[start:start + bs]
        id_sum, pos_mean, group_sums = _block_sums(block, text_over_t, n_id, n_pos, n_groups, q)
        low = id_sum < tiny
        if bool(low.any()) and img_t.dtype != torch.float64:
            if text64 is None:
                text64 = text_t.to(torch.float64) / temperature
            rows = torch.nonzero(low)[:, 0]
            s64 = _block_sums(block[rows].to(torch.float64), text64, n_id, n_pos, n_groups, q)
            id_sum[rows], pos_mean[rows], group_sums[rows] = s64
            low = id_sum < torch.finfo(torch.float64).tiny
        if bool(low.any()):
            row = start + int(torch.nonzero(low)[0, 0])
            raise ValueError(
                f"temperature={temperature!r} is too small for image row {row}: its ID logits lie so far "
                f"below its best negative logit that exp underflows even in float64; use a larger "
                f"temperature (valid: > 0, with (max cosine gap) / temperature < ~700)"
            )
        out[start:start + bs] = per_image(id_sum, pos_mean, group_sums)
    _array.check_finite_scores(out, what, _overflow_cause(temperature, img_t.dtype))
    return out.cpu().numpy()


def mcm(img, id_emb, temperature: float = 1.0, *, device=None, batch_size: int | None = None) -> np.ndarray:
    """MCM (Ming et al. 2022): ``max_i softmax(s / T)_i`` with ``s_i = cos(x, y_i)``.

    Args:
        img: ``[N, d]`` image embeddings. id_emb: ``[K, d]`` ID-label text embeddings.
        temperature: ``T > 0`` (paper default 1).

    Returns:
        ``[N]`` float64 in ``[1/K, 1]``; higher = ID (softmax in the compute dtype, max-shifted).
    """
    temperature = _array.check_positive_finite(temperature, "temperature")
    dtype, _, img_t, id_t, _ = _array.prepare_embeddings(img, id_emb, None, device)
    temperature = _array.check_temperature(temperature, dtype)
    id_over_t = id_t / temperature
    bs = _auto_batch_size(batch_size, id_t.shape[0], img_t.shape[0])
    out = torch.empty(img_t.shape[0], dtype=torch.float64, device=img_t.device)
    for start in range(0, img_t.shape[0], bs):
        # max softmax >= 1/K: no underflow question here
        out[start:start + bs] = torch.softmax(img_t[start:start + bs] @ id_over_t.T, dim=1).amax(dim=1)
    _array.check_finite_scores(out, "the MCM score", _overflow_cause(temperature, dtype))
    return out.cpu().numpy()


def neglabel(img, id_emb, neg_emb, temperature: float = 0.01, n_groups: int = 100, seed: int = 0, *,
             device=None, batch_size: int | None = None) -> np.ndarray:
    """NegLabel's grouped score (Jiang et al. 2024).

    Negatives are split by :func:`make_groups` ``(M, n_groups, seed)`` into ``G`` groups of
    ``Q = M // G`` (remainder dropped). Per group
    ``S_g = sum_i e^{s_i/T} / (sum_i e^{s_i/T} + sum_{j in g} e^{n_j/T})``; score = mean_g S_g.

    ``n_groups = 1`` follows the paper's formula: one group holding every negative, i.e. the ID
    share of one softmax over the ID labels and all negatives. The released NegLabel code differs
    there: for ``ngroup = 1`` it skips the negatives and returns the plain sum of the ID logits
    ``sum_i s_i / T`` (``mmcls/models/ood/clip_ood.py``), which is not this score.

    Args:
        img ``[N, d]``, id_emb ``[K, d]``, neg_emb ``[M, d]``: embeddings (normalised here).
        temperature: ``T > 0``. n_groups: ``G`` in ``[1, M]``. seed: seeds the grouping.

    Returns:
        ``[N]`` float64 in ``(0, 1]``; higher = ID.
    """
    seed = check_seed(seed, "seed")
    temperature = _array.check_positive_finite(temperature, "temperature")
    dtype, _, img_t, id_t, neg_t = _array.prepare_embeddings(img, id_emb, neg_emb, device)
    temperature = _array.check_temperature(temperature, dtype)
    groups = make_groups(neg_t.shape[0], n_groups, seed)
    g, q = groups.shape
    text_t = torch.cat([id_t, neg_t[torch.from_numpy(groups.reshape(-1)).to(neg_t.device)]])

    def per_image(id_sum, pos_mean, group_sums):
        return (id_sum[:, None] / (id_sum[:, None] + group_sums)).mean(dim=1)

    return _scores_by_block(img_t, text_t, temperature, id_t.shape[0], 0, g, q, batch_size, per_image,
                            "the NegLabel score")


def dnm(img, id_emb, neg_emb, temperature: float = 0.01, tau: float = 0.5, n_groups: int = 100, seed: int = 0,
        sigma: float = 0.0, n_pos_samples: int = 1, *, device=None, batch_size: int | None = None) -> np.ndarray:
    """DNM's debiased score (the paper's Theorem 1 estimator, docs/methods.md §3).

    With groups from :func:`make_groups` ``(M, n_groups, seed)`` (``Q = M // G``)::

        E-_g = (mean_{j in g} e^{n_j/T} - tau * P) / (1 - tau)
        Z_g  = sum_i e^{s_i/T} + Q * E-_g
        S_g  = mean_i e^{s_i/T} / Z_g ;   score = mean_g S_g

    where ``P = mean_i e^{s_i/T}`` when ``sigma == 0``. ``E-_g`` is **not floored** (negative
    values for ID images are what lift their scores).

    ``tau`` is the ID-like (false-negative) fraction of the wild corpus; the released code's
    ``tau_ood`` is ``1 - tau`` (released ``tau_ood = 0.5`` -> ``tau = 0.5``; ``0.12`` -> ``0.88``).
    ``tau = 0`` gives NegLabel's score divided by ``K``.

    ``Z_g > 0`` for every input iff ``Q * tau < (1 - tau) * K`` (with ``sigma = 0``); this is
    checked before any scoring and a violation raises ``ValueError`` naming the smallest valid
    ``n_groups``. For ``sigma = 0`` ``Z_g`` is evaluated in its cancellation-free form
    ``(1 - Q tau / ((1 - tau) K)) sum_i e^{s_i/T} + sum_{j in g} e^{n_j/T} / (1 - tau)``.

    Positive sampling (the paper's Step 2), ``sigma > 0``: ``n_pos_samples`` noisy copies
    ``l2norm(y_i + sigma * eps)`` of every (normalised) ID label, ``eps ~ N(0, I)`` drawn from
    ``np.random.default_rng([seed, 1])`` (independent of the grouping stream) as float64 of shape
    ``[n_pos_samples, K, d]``. ``P`` is then the mean of ``e^{s'/T}`` over all ``n_pos_samples * K``
    noisy copies; only the ``tau * P`` term uses them — the numerator ``mean_i e^{s_i/T}`` and
    ``Z_g``'s ``sum_i e^{s_i/T}`` keep the clean labels. The condition above no longer guarantees
    ``Z_g > 0`` then, so a non-positive ``Z_g`` raises ``ValueError`` (never a silent number).

    Args:
        img ``[N, d]``, id_emb ``[K, d]``, neg_emb ``[M, d]``: embeddings (normalised here).
        temperature: ``T > 0``. tau: in ``[0, 1)``. n_groups: ``G`` in ``[1, M]``.
        seed: seeds grouping and noise. sigma: ``>= 0``. n_pos_samples: ``>= 1``.

    Returns:
        ``[N]`` float64, positive; higher = ID.
    """
    seed = check_seed(seed, "seed")
    temperature = _array.check_positive_finite(temperature, "temperature")
    tau = _array.check_fraction(tau, "tau", low=0.0, high=1.0, low_open=False, high_open=True)
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma={sigma!r} must be a finite number >= 0") from None
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma={sigma!r} must be a finite number >= 0")
    n_pos_samples = _array.check_int_range(n_pos_samples, "n_pos_samples", 1, np.iinfo(np.int32).max)
    return _dnm_kernel(img, id_emb, neg_emb, temperature, tau, n_groups, seed, sigma, n_pos_samples, device,
                       batch_size)


def _dnm_kernel(img, id_emb, neg_emb, temperature: float, tau: float, n_groups: int, seed: int, sigma: float,
                n_pos_samples: int, device=None, batch_size: int | None = None) -> np.ndarray:
    """:func:`dnm` on checked parameters: ``temperature > 0`` finite, ``tau`` in ``[0, 1)``, ``sigma >= 0``
    finite, ``n_pos_samples >= 1`` (the public function checks them; the registry's ``dnm`` method
    calls this with parameters its typed ``ScoringParams`` already range-checked). What depends on
    the data is checked here: the embeddings, ``n_groups`` against ``M``, the normaliser condition,
    and the temperature and ``sigma`` against the dtype."""
    dtype, dev, img_t, id_t, neg_t = _array.prepare_embeddings(img, id_emb, neg_emb, device)
    temperature = _array.check_temperature(temperature, dtype)
    if sigma > torch.finfo(dtype).max / 64:
        raise ValueError(
            f"sigma={sigma!r} is too large for {dtype} arithmetic: the noisy copies id_emb + sigma * noise would "
            f"overflow (max {torch.finfo(dtype).max:.3g}); use sigma <= {torch.finfo(dtype).max / 64:.3g}"
        )
    k, m = id_t.shape[0], neg_t.shape[0]
    n_groups = _array.check_int_range(n_groups, "n_groups", 1, m)
    q = m // n_groups
    if not q * tau < (1.0 - tau) * k:
        best = smallest_valid_n_groups(m, k, tau)
        fix = (f"the smallest n_groups that satisfies it is {best} (Q = {m // best})" if best is not None
               else f"no n_groups works with M={m} negatives; lower tau below K/(K+1) = {k / (k + 1):.6g}")
        raise ValueError(
            f"DNM's normaliser condition Q * tau < (1 - tau) * K fails: Q = M // n_groups = {m} // {n_groups} "
            f"= {q}, tau={tau}, K={k}: {q * tau:.6g} >= {(1.0 - tau) * k:.6g}, so Z_g can be <= 0; {fix}"
        )
    groups = make_groups(m, n_groups, seed)
    parts = [id_t]
    n_pos = 0
    if sigma > 0:
        rng = np.random.default_rng([seed, 1])
        eps = rng.standard_normal((n_pos_samples, k, id_t.shape[1]))
        eps_t = torch.from_numpy(eps).to(device=dev, dtype=dtype)
        noisy = _array.l2_normalize((id_t[None] + sigma * eps_t).reshape(-1, id_t.shape[1]), "noisy id_emb")
        parts.append(noisy)
        n_pos = noisy.shape[0]
    parts.append(neg_t[torch.from_numpy(groups.reshape(-1)).to(dev)])
    text_t = torch.cat(parts)
    c_id = 1.0 - q * tau / ((1.0 - tau) * k)  # > 0 by the condition

    def per_image(id_sum, pos_mean, group_sums):
        if n_pos:
            z = id_sum[:, None] + (group_sums - tau * q * pos_mean[:, None]) / (1.0 - tau)
            if not bool((z > 0).all()):
                raise ValueError(
                    f"sigma={sigma!r} with tau={tau}: the noisy positives make Z_g <= 0 for some image "
                    f"(their mean exp exceeds what the ID labels bound); lower sigma or tau"
                )
        else:
            z = c_id * id_sum[:, None] + group_sums / (1.0 - tau)
        return ((id_sum / k)[:, None] / z).mean(dim=1)

    return _scores_by_block(img_t, text_t, temperature, k, n_pos, n_groups, q, batch_size, per_image,
                            "the DNM score")
