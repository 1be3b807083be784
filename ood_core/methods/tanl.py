"""TANL (CVPR 2026): test-time activated negative labels, picked from the whole corpus.

A *test-time* method, like AdaNeg (same authors, same released codebase): the ID images and one
OOD set are shuffled into one stream and scored in batches; two memories of recent *activation
vectors* decide which corpus labels serve as negatives, so a score depends on the images streamed
before it (and on the OOD set it was streamed with).

Notation (cosines of L2-normalised features, logits ``cos / T``; ``K`` ID labels, the whole wild
corpus of ``M`` labels, ``beta`` activated negatives, ``L`` the memory length):

- Activation of an image (or text) ``x``: ``a(x) = softmax(cos(x, [ID; corpus]) / T)[K:]``
  ``[M]`` (the softmax runs over the ``K + M`` labels; the ID part is dropped).
- Memories: ``P`` (ID side) and ``O`` (OOD side), each the last ``L`` activation vectors put in
  it. ``P`` starts with the activations of the ``K`` ID-label text features in a seeded random
  order (the last ``L`` of them stay); ``O`` with those of the noise-image features (see below).
  The mean of an empty memory is 0.
- Selection: ``sel(c) = the beta corpus labels with the largest c``, in decreasing order of ``c``
  ``[M]`` (``torch.sort`` descending, stable: ties in corpus order; the released sort is not
  stable); ``c = mean(O) - mean(P)`` by default.
- Activation-aware score of ``x`` with negatives ``n_1..n_beta`` in that order (``gamma`` > 0):
  the mean over the prefixes ``j = gamma, 2 gamma, ... (the last capped at beta)`` of
  ``sum_i e^{s_i/T} / (sum_i e^{s_i/T} + sum_{l <= j} e^{n_l/T})``, so the most activated negatives
  weigh most; ``gamma = 0``: one softmax over the ``K + beta`` labels. Higher = ID.
- Threshold: Otsu's rule on a queue of the last 20,000 scores (initially those of the ID texts and
  the noise images, scored with ``sel(mean(O) - mean(P))`` of the initial memories): for ``th`` in
  ``0, 0.01, ..., 0.99`` (float32) the weighted within-class variance of ``score >= th`` vs the
  rest (``inf`` if a class is empty); the minimising ``th`` (the middle one of exact ties).

Per batch (of ``batch_size`` consecutive stream images):

1. ``conf = score(x; sel(mean(O) - mean(P)))``; append ``conf`` to the score queue; ``th = Otsu``.
2. Images with ``conf > th + gap (1 - th)`` are *ID-activated*, those with ``conf < th - gap th``
   *OOD-activated*.
3. ``c = [alpha mean(O) + (1 - alpha) mean_{OOD-activated} a] - [alpha mean(P) + (1 - alpha)
   mean_{ID-activated} a]`` (a side with no activated image keeps ``mean`` of its memory).
4. The batch's scores: ``score(x; sel(c))``.
5. Append the activations of the ID-activated images to ``P`` and of the OOD-activated to ``O``.

Stream: ``[ID images; OOD images]`` permuted by ``np.random.default_rng(seed).permutation(N)``
(:func:`score_stream`); scores are returned in the input order; the memories start afresh for
every ID/OOD pair.

Released run (YBZh/OpenOOD-VLM ``scripts/ood/TANL/official.sh``; ``--postprocessor.name actneg``
loads ``ActivatedNegPostprocessor`` from ``openood/postprocessors/activated_neg_postprocessor.py``,
which differs from ``activated_neg_postprocessor_official.py`` only by a debugger line and two
feature queues the score never reads): ``beta 1000``, ``memleng 300``, ``alpha 0.0`` (the
script's comment: the transductive choice), ``gap 0.5``, ``gamma`` looped over ``2 1 0``, test
batch 256, CLIP ``logit_scale`` 100 (``T = 0.01``), ``text_center True`` with prompt ``nice``.
Where the sources disagree, the script's command line wins (it overrides the config):

- ``configs/postprocessors/tanl.yml`` says ``beta 5.5`` (``int()`` -> 5), ``alpha 1.0``,
  ``gap 0.0``, ``memleng 1000``, ``gamma 1.0``, ``thres 0.8``, ``group_num 1``,
  ``random_permute True``; the script passes ``1000, 0.0, 0.5, 300, {2,1,0}, 0.5, 5, False``.
  The default ``gamma`` here is 1 (the config's value, one of the script's three); the sweep
  ``tanl_gamma`` runs the script's ``2 1 0``.
- Parameters of the script with **no effect** on the score, so not ported: ``thres`` (overwritten
  by the Otsu threshold before its first use), ``group_num``, ``group_size``, ``random_permute``
  and ``tau`` (read only by ``setup``, which returns at its first line), ``ood_number 10000``
  (it sizes NegLabel's negatives in ``net.text_features``, used only for the predicted class;
  the negatives are picked from ``text_features_all`` = ID + the whole corpus), ``cluster_num 0``,
  ``cossim False`` (activations are softmax probabilities), ``in_score sum``.
- The queue of 20,000 scores for the threshold and the grid ``0:0.01:1`` are hard-coded in the
  released code; here ``score_memory_length`` (default 20,000).
- The paper's abstract gives the average ImageNet-1k FPR95 (17.5 -> 9.8); the paper's text was
  not available to this port, so every rule above is the released code's.

Where this port departs from the released code:

- **Noise images.** The released ``O`` starts with the activations of 15 CLIP features of noise
  images (3 each Gaussian, uniform, Poisson, Gamma, salt-and-pepper, drawn unseeded at network
  construction). :func:`tanl_stream` takes them as ``noise_emb``; the registry method has none
  (the study's features hold no noise images), so its ``O`` starts empty (mean 0) and fills with
  the first OOD-activated images. With ``noise_emb`` given, side by side with the released code,
  see docs/methods.md §3.
- The released memory orders are unseeded ``torch.randperm``; here ``default_rng(seed)``. The
  released stream order is a ``DataLoader``; here seeded (``seed``).
- The activation-aware score is computed from one cumulative sum per image (float64) instead of
  ``beta / gamma`` separate softmaxes (the same value, ~1e-7 apart in float32); the scores that
  feed the threshold and the activation decisions are rounded to the compute dtype, as the
  released float32 scores are.

Computation: float64 if any input is float64, else float32 (``ood_core._array``). Per batch one
``[b, K + M]`` product, in the released code's operand layouts so that side by side the activation
means agree to the last bit; both scores gather their ``K + beta`` columns from it (the released
code multiplies by the selected features again). One torch thread
(:func:`ood_core.methods.adaneg._threads`): threshold decisions must not depend on the caller's
thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ood_core import _array
from ood_core._params import check_seed, param
from ood_core.methods.adaneg import _threads
from ood_core.methods.base import Method

__all__ = ["MiningParams", "mine", "ScoringParams", "tanl_stream", "activation_aware_score", "otsu_threshold", "score_stream", "METHOD"]

THRESHOLD_GRID = torch.arange(0, 1, 0.01, dtype=torch.float32)  # the released grid, float32


@dataclass(frozen=True)
class MiningParams:
    """None: TANL's candidates are the whole corpus; it picks its negatives at test time."""


def mine(texts, params: MiningParams) -> np.ndarray:
    """Every corpus label, ``np.arange(M)``: the negatives are picked per batch from all of them."""
    return np.arange(len(texts.candidates), dtype=np.int64)


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(0.01, low=0.0, low_open=True, doc="temperature T (CLIP logit_scale 100)")
    n_activated: int = param(1000, low=1, doc="released beta: activated negatives picked per batch")
    memory_length: int = param(300, low=0, doc="released memleng: activation vectors kept per memory (0: both "
                                                "stay empty; the released queue[-0:] would keep all)")
    alpha: float = param(0.0, low=0.0, high=1.0, doc="released alpha: weight of the memories vs the batch")
    gamma: int = param(1, low=0, doc="released gamma: prefix step of the activation-aware score (0: one softmax)")
    gap: float = param(0.5, low=0.0, high=1.0, doc="released gap: activated above th + gap (1 - th), "
                                                   "below th - gap th")
    score_memory_length: int = param(20000, low=1, doc="released score_queue_len: scores behind the threshold")
    seed: int = param(0, low=0, doc="seed of the stream order and of the initial ID memory order")
    batch_size: int = param(256, low=1, doc="released test batch size: the memories update once per batch")


def _check_params(temperature, n_activated, memory_length, alpha, gamma, gap, score_memory_length, batch_size):
    big = np.iinfo(np.int64).max
    return (_array.check_positive_finite(temperature, "temperature"),
            _array.check_int_range(n_activated, "n_activated", 1, big),
            _array.check_int_range(memory_length, "memory_length", 0, big),
            _array.check_fraction(alpha, "alpha", low_open=False),
            _array.check_int_range(gamma, "gamma", 0, big),
            _array.check_fraction(gap, "gap", low_open=False),
            _array.check_int_range(score_memory_length, "score_memory_length", 1, big),
            _array.check_int_range(batch_size, "batch_size", 1, big))


def activation_aware_score(id_logits: torch.Tensor, neg_logits: torch.Tensor, gamma: int) -> torch.Tensor:
    """``[b]`` float64 activation-aware score (module docstring) of logits ``id [b, K]``, ``neg [b, beta]``.

    ``neg_logits`` columns in decreasing activation order. ``gamma = 0``: ``sum_i e^{s_i} / (sum_i
    e^{s_i} + sum_l e^{n_l})``; ``gamma > 0``: the mean of that ratio over the prefixes ``n_1..n_j``,
    ``j = gamma, 2 gamma, ...``, the last ``min(., beta)`` (the released ``range(K, K + beta, gamma)``).
    """
    a = id_logits.to(torch.float64)
    n = neg_logits.to(torch.float64)
    shift = torch.maximum(a.max(dim=1).values, n.max(dim=1).values)[:, None]
    id_sum = torch.exp(a - shift).sum(dim=1, keepdim=True)
    e = torch.exp(n - shift)
    beta = n.shape[1]
    if gamma == 0:
        return (id_sum / (id_sum + e.sum(dim=1, keepdim=True)))[:, 0]
    ends = np.minimum(np.arange(gamma, beta + gamma, gamma), beta) - 1  # the released prefixes, 0-based ends
    cum = torch.cumsum(e, dim=1)[:, torch.from_numpy(ends).to(n.device)]
    return (id_sum / (id_sum + cum)).mean(dim=1)


def otsu_threshold(scores: torch.Tensor) -> float:
    """The released ``find_best_threshold``: the grid value minimising the within-class variance.

    ``scores [n]`` (any float dtype). For ``th`` in :data:`THRESHOLD_GRID`, classes ``scores >= th``
    and the rest; criterion ``w0 var0 + w1 var1`` (population variances, ``w`` the class fractions),
    ``inf`` when a class is empty. Returns the middle (``len // 2``) of the grid values with the
    minimal criterion, as a python float (a float32 value).
    """
    ordered = torch.sort(scores).values.cpu()
    # classes compared in the scores' dtype, as the released `os_tensor >= th` does
    below = torch.searchsorted(ordered, THRESHOLD_GRID.to(scores.dtype), right=False).numpy()  # count of s < th
    s = ordered.to(torch.float64).numpy()
    n = s.size
    c1 = np.concatenate([[0.0], np.cumsum(s)])
    c2 = np.concatenate([[0.0], np.cumsum(s * s)])
    crit = np.full(below.size, np.inf)
    for i, n0 in enumerate(below):
        n1 = n - n0
        if n0 == 0 or n1 == 0:
            continue
        m0, m1 = c1[n0] / n0, (c1[n] - c1[n0]) / n1
        v0 = max(c2[n0] / n0 - m0 * m0, 0.0)
        v1 = max((c2[n] - c2[n0]) / n1 - m1 * m1, 0.0)
        crit[i] = (n0 / n) * v0 + (n1 / n) * v1
    cand = np.flatnonzero(crit == crit.min())
    return float(THRESHOLD_GRID[cand[len(cand) // 2]])


def _mean(memory: torch.Tensor, m: int) -> torch.Tensor:
    return memory.mean(dim=0) if memory.shape[0] else torch.zeros(m, dtype=memory.dtype, device=memory.device)


def _push(memory: torch.Tensor, rows: torch.Tensor, length: int) -> torch.Tensor:
    """The released ``update_queue``: append, keep the last ``length`` rows."""
    both = torch.cat([memory, rows]) if rows.shape[0] else memory
    return both[both.shape[0] - min(length, both.shape[0]):]


def tanl_stream(stream, id_emb, corpus_emb, noise_emb=None, *, temperature: float = 0.01, n_activated: int = 1000,
                memory_length: int = 300, alpha: float = 0.0, gamma: int = 1, gap: float = 0.5,
                score_memory_length: int = 20000, seed: int = 0, batch_size: int = 256, device=None,
                memory_orders: tuple | None = None) -> np.ndarray:
    """TANL scores of a test stream taken **in the given order** (module docstring).

    Args:
        stream ``[N, d]``: image embeddings in stream order. id_emb ``[K, d]``: ID labels.
            corpus_emb ``[M, d]``: the whole wild corpus (``M >= n_activated``). noise_emb ``[P, d]``
            or None: noise-image features that start the OOD memory (None / ``P = 0``: it starts
            empty). All L2-normalised here; float64 if any is float64, else float32.
        seed: seeds the initial memory orders (``default_rng(seed).permutation(K)``, then ``(P)``);
            ``memory_orders = (order_K, order_P)`` gives them explicitly instead.
        Other arguments: :class:`ScoringParams`.

    Returns:
        ``[N]`` float64 in ``[0, 1]``; higher = ID.
    """
    seed = check_seed(seed, "seed")
    temperature, n_activated, memory_length, alpha, gamma, gap, score_memory_length, batch_size = _check_params(
        temperature, n_activated, memory_length, alpha, gamma, gap, score_memory_length, batch_size)
    dtype, dev, x, id_t, corpus_t = _array.prepare_embeddings(stream, id_emb, corpus_emb, device)
    temperature = _array.check_temperature(temperature, dtype)
    if noise_emb is not None and len(noise_emb):
        noise_t = _array.l2_normalize(_array.as_matrix(noise_emb, "noise_emb", dtype, dev), "noise_emb")
        _array.check_same_dim(x, "stream", noise_t, "noise_emb")
    else:
        noise_t = torch.zeros((0, x.shape[1]), dtype=dtype, device=dev)
    k, m = id_t.shape[0], corpus_t.shape[0]
    if n_activated > m:
        raise ValueError(f"n_activated={n_activated} exceeds the corpus size {m}: TANL picks its activated "
                         f"negatives from the corpus; use n_activated <= {m}")
    if memory_orders is None:
        rng = np.random.default_rng(seed)
        memory_orders = (rng.permutation(k), rng.permutation(noise_t.shape[0]))
    id_order, noise_order = (np.array(o, dtype=np.int64) for o in memory_orders)  # a copy: any strides
    if sorted(id_order.tolist()) != list(range(k)) or sorted(noise_order.tolist()) != list(range(noise_t.shape[0])):
        raise ValueError("memory_orders must be (a permutation of range(K), a permutation of range(P))")
    scale = 1.0 / temperature  # the released logit_scale (1 / 0.01 = 100.0 exactly)
    # The released layouts ([d, labels] text matrices, scalar times features, then the product):
    # with gamma > 0 the score depends on the *order* of the selected negatives, so near-equal
    # activation means must come out bit-identical for a side-by-side run to agree.
    labels_dn = torch.cat([id_t, corpus_t]).T.contiguous()  # [d, K + M], the released text_features_all

    def logits_all(feats):  # [b, K + M]: cos / T to ID + corpus, the released product
        return (scale * feats) @ labels_dn

    def start_memory(logits, order):  # the released reset: rows permuted, corpus part, the last L rows (views)
        rows = torch.softmax(logits, dim=1)[torch.from_numpy(order).to(dev)][:, k:]
        return rows[rows.shape[0] - memory_length:] if rows.shape[0] > memory_length else rows

    def scores_with(logits, selected):  # [b] float64 activation-aware score with the selected corpus labels
        # gathered from the full product (the released code multiplies by the selected features
        # again: the same cosines up to the GEMM's last bits)
        return activation_aware_score(logits[:, :k], logits[:, k + selected], gamma)

    def select(c):
        return torch.sort(c, descending=True, stable=True)[1][:n_activated]  # ties: lower index first

    out = torch.empty(x.shape[0], dtype=torch.float64, device=dev)
    with _threads(1):
        id_logits = logits_all(labels_dn[:, :k].t())  # the ID texts scored as images, in the released layout
        noise_logits = logits_all(noise_t)
        pos, neg = start_memory(id_logits, id_order), start_memory(noise_logits, noise_order)
        sel0 = select(_mean(neg, m) - _mean(pos, m))
        queue = torch.cat([scores_with(id_logits, sel0), scores_with(noise_logits, sel0)]).to(dtype)
        queue = queue[max(0, queue.shape[0] - score_memory_length):]
        del id_logits, noise_logits
        for start in range(0, x.shape[0], batch_size):
            x_b = x[start:start + batch_size]
            logits = logits_all(x_b)
            pos_mean, neg_mean = _mean(pos, m), _mean(neg, m)
            conf = scores_with(logits, select(neg_mean - pos_mean)).to(dtype)
            queue = torch.cat([queue, conf])
            queue = queue[max(0, queue.shape[0] - score_memory_length):]
            th = otsu_threshold(queue)
            hi = torch.tensor(th + gap * (1 - th), dtype=dtype)
            lo = torch.tensor(th - gap * th, dtype=dtype)
            act_id = torch.nonzero(conf > hi)[:, 0]
            act_ood = torch.nonzero(conf < lo)[:, 0]
            a_all = torch.softmax(logits, dim=1) if len(act_id) or len(act_ood) else None  # whole batch, as released
            a_id = a_all[act_id][:, k:] if len(act_id) else None  # row copies, then the corpus part (a view)
            a_ood = a_all[act_ood][:, k:] if len(act_ood) else None
            ins_pos = alpha * pos_mean + (1 - alpha) * a_id.mean(dim=0) if len(act_id) else pos_mean
            ins_neg = alpha * neg_mean + (1 - alpha) * a_ood.mean(dim=0) if len(act_ood) else neg_mean
            out[start:start + x_b.shape[0]] = scores_with(logits, select(ins_neg - ins_pos))
            if a_id is not None:
                pos = _push(pos, a_id, memory_length)
            if a_ood is not None:
                neg = _push(neg, a_ood, memory_length)
    _array.check_finite_scores(out, "the TANL score", "an overflow in the logits; use a larger temperature")
    return out.cpu().numpy()


def score_stream(id_images, ood_images, texts, negatives, params: ScoringParams):
    """``(id_scores [N_id], ood_scores [N_ood])`` float64 of the stream ``[ID; OOD]`` shuffled by ``params.seed``.

    The corpus is ``negatives``' features (:func:`mine` gives the whole corpus); no noise images
    (module docstring).
    """
    n_id, n_ood = len(id_images), len(ood_images)
    if n_id == 0 or n_ood == 0:
        raise ValueError(f"TANL scores a test stream of ID and OOD images together; got {n_id} ID and "
                         f"{n_ood} OOD images: give both, non-empty")
    dtype = _array.compute_dtype(id_images, ood_images, texts.id_labels, texts.candidates)
    dev = _array.resolve_device(None, id_images, ood_images)
    both = torch.cat([_array.as_matrix(id_images, "id_images", dtype, dev),
                      _array.as_matrix(ood_images, "ood_images", dtype, dev)])
    perm = np.random.default_rng(params.seed).permutation(n_id + n_ood)
    scores = np.empty(n_id + n_ood, dtype=np.float64)
    scores[perm] = tanl_stream(
        both[torch.from_numpy(perm).to(dev)], texts.id_labels, METHOD.negative_features(texts, negatives), None,
        temperature=params.temperature, n_activated=params.n_activated, memory_length=params.memory_length,
        alpha=params.alpha, gamma=params.gamma, gap=params.gap, score_memory_length=params.score_memory_length,
        seed=params.seed, batch_size=params.batch_size)
    return scores[:n_id], scores[n_id:]


METHOD = Method(name="tanl", title="TANL", scoring_params=ScoringParams, score=None, score_stream=score_stream,
                mining_params=MiningParams, mine=mine, color="#117733")
