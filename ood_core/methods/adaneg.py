"""AdaNeg (Zhang & Zhang, NeurIPS 2024, arXiv 2410.20149): adaptive negative proxies from a test-time memory.

A *test-time* method: the ID images and one OOD set are shuffled into one stream, scored in
batches, and each batch first updates a feature memory that the batch's own scores then use, so
a score depends on the images streamed before it (and on the OOD set it was streamed with).

Negatives: NegLabel's mining (:func:`ood_core.mining.neglabel_select`, the same ``MiningParams``).

Notation (cosines of L2-normalised features, ``T`` the temperature, ``K`` ID labels, ``M``
negatives, ``C = K + M`` labels, text feature ``t_c`` of label ``c``):

1. Static score ``S_nl(x)``: NegLabel's grouped score over the ``K`` ID labels and the ``M``
   negatives split into ``G`` groups (:func:`ood_core.scoring.make_groups` ``(M, G, seed)``; the
   ``M % G`` left over are dropped), ``S_nl = mean_g sum_i e^{s_i/T} / (sum_i e^{s_i/T} + sum_{j in g} e^{n_j/T})``.
2. Memory: every label ``c`` has a bank of ``memory_length - 1`` image slots next to its text
   feature. An image with ``S_nl > threshold + gap (1 - threshold)`` is cached under its
   top ID label (argmax of the ID cosines); one with ``S_nl < threshold - gap * threshold``
   under its top negative (argmax over all ``M`` negatives). Its entropy ``H = -sum_c p_c
   log(p_c + 1e-8)`` (``p`` the softmax of ``cos / T`` over the ID labels, resp. over the
   negatives) decides: a bank with a free slot takes the image; a full bank replaces its
   highest-entropy image if ``H`` is strictly lower (ties: the highest slot), else keeps it.
3. Adaptive proxies: sample-adaptive (``sample_adaptive=True``)
   ``p_c(x) = normalise(sum_{m in bank_c + t_c} exp(-beta (1 - cos(x, m))) m)``; task-adaptive
   (``False``) ``p_c = normalise(t_c + sum_{m in bank_c} m)``. A label with an empty bank keeps
   its text feature.
4. Adaptive score ``S_ada(x)``: the grouped score of 1. with the proxies in place of the text
   features (same groups). Final score ``S = S_ada + lam * S_nl`` (higher = ID).

Stream: ``[ID images; OOD images]`` permuted by ``np.random.default_rng(seed).permutation(N)``,
cut into consecutive batches of ``batch_size``; for each batch, first every image of the batch
updates the memory in stream order (ID-cached images, then OOD-cached ones, as the released
loop does; the two touch disjoint banks), then the whole batch is scored with the updated memory.
Scores are returned in the input order. The memory starts empty for every ID/OOD pair.

Released ImageNet run (YBZh/OpenOOD-VLM ``scripts/ood/adaneg/imagenet.sh``, postprocessor
``ttapromptnoadagap`` = ``TTAPromptPostprocessor_noadagap`` in
``openood/postprocessors/ttaprompt_postprocessor.py``): ``group_num 5``, ``thres 0.5``, ``gap 0.5``,
``memleng 10``, ``lambdaval 0.1``, ``beta 5.5``, ``in_score combine``, ``random_permute True``,
test batch size 256, CLIP ``logit_scale`` 100 (``T = 0.01``), 10,000 NegLabel negatives; the
script runs it with ``samada False`` and with ``samada True`` (``sample_adaptive`` here).

Where the released code differs from the paper's text, this follows the code:

- ``beta``: the script passes 5.5 but the code takes ``int(beta)``, so the effective value is 5.
- Memory length: the bank holds ``memleng - 1`` images besides the text feature (its write
  pointer starts at 1 and the bank counts as full when the pointer reaches ``memleng``).
- The final score adds the static score with weight ``lam`` to the adaptive one
  (``conf_in + conf_in_vanilla * lambdaval``); both are grouped NegLabel scores with ``group_num``
  groups.
- Grouping: the code drops the last ``M % G`` negatives, then permutes with ``torch.manual_seed(0)``;
  here the groups are :func:`~ood_core.scoring.make_groups` ``(M, G, seed)`` (permute, then drop),
  the project's NegLabel grouping, so with an empty memory ``S = (1 + lam) * NegLabel(G, seed)``.
- Replacement: the code compares ``H`` with every entry of the bank's entropy row, including the
  text slot and one never-written slot (both 0), and keeps that row in float32 whatever the
  features' dtype. In float32, ``H = -sum p log(p + 1e-8) >= 0``, so that is "lower than the
  highest stored image entropy", which is what is implemented (image slots only). In float64 a
  very confident image has ``H ~ -1e-8``, and the released code would then write a tenth image and
  later overwrite the text slot; this port does not. Its released ImageNet run used fp16 CLIP
  features, where every entropy is NaN and no image is ever replaced (each bank keeps the first
  ``memleng - 1`` images cached). Side by side with the released postprocessor on random data
  (same stream, batches and groups), scores agree to ~1e-6 in float32, and to 3e-15 in float64
  once the released code's slot range and entropy dtype are patched as described.
- The released stream order is a ``DataLoader(shuffle=True)``; here it is seeded (``seed``).

Computation: float64 if any input is float64, else float32 (``ood_core._array``). Per batch, one
product against the text features (labels-major ``[C, B]``, in logit units ``cos / T``) and one
against the cached features (each cached image has a fixed row of a store); a sample-adaptive
cosine is ``sum_s w_s cos_s / sqrt(w^T G_c w)`` with the bank's Gram matrix ``G_c`` (kept per
label, refreshed when the bank changes), so no proxy vector is ever formed. The memory bookkeeping is a Python
loop over the cached images (order matters within a label). Everything runs on one torch thread
(:func:`_threads`; the global thread count is switched for the duration of the call), so the
scores do not depend on the caller's thread count. Paper scale on 2 shared CPU cores
(``benchmarks/bench_adaneg.py``): 2.1-2.9x NegLabel's time (two products per batch instead of
one, two grouped softmaxes), peak RSS ~1.3 GB.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from ood_core import _array, scoring
from ood_core._params import check_seed, param
from ood_core.methods import neglabel
from ood_core.methods.base import Method

__all__ = ["MiningParams", "ScoringParams", "adaneg_stream", "score_stream", "METHOD"]

MiningParams = neglabel.MiningParams
mine = neglabel.mine

_ENTROPY_EPS = 1e-8  # the released entropy's log(p + 1e-8)


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(0.01, low=0.0, low_open=True, doc="temperature T (CLIP logit_scale 100)")
    n_groups: int = param(5, low=1, doc="released group_num: groups G of negatives in both grouped scores")
    seed: int = param(0, low=0, doc="seed of the stream order and of the group permutation")
    threshold: float = param(0.5, low=0.0, high=1.0, low_open=True, high_open=True, doc="released thres")
    gap: float = param(0.5, low=0.0, high=1.0, doc="released gap: cache ID above thres + gap (1 - thres), "
                                                   "OOD below thres - gap thres")
    memory_length: int = param(10, low=1, doc="released memleng: memleng - 1 images per label bank")
    lam: float = param(0.1, low=0.0, doc="released lambdaval: weight of the static NegLabel score")
    beta: float = param(5.0, low=0.0, doc="sharpness of the sample-adaptive weights (released int(5.5) = 5)")
    sample_adaptive: bool = param(True, doc="released samada: sample-adaptive (true) or task-adaptive proxies")
    batch_size: int = param(256, low=1, doc="released test batch size: memory updates once per batch")


def _non_negative(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a finite number >= 0") from None
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name}={value!r} must be a finite number >= 0")
    return v


def _check_params(temperature, n_groups, threshold, gap, memory_length, lam, beta, batch_size):
    temperature = _array.check_positive_finite(temperature, "temperature")
    threshold = _array.check_fraction(threshold, "threshold", low=0.0, high=1.0, low_open=True, high_open=True)
    gap = _array.check_fraction(gap, "gap", low=0.0, high=1.0, low_open=False, high_open=False)
    if isinstance(memory_length, (bool, np.bool_)) or not isinstance(memory_length, (int, np.integer)) \
            or memory_length < 1:
        raise ValueError(f"memory_length={memory_length!r} must be an integer >= 1 (the released memleng: each "
                         f"label's bank holds its text feature and memory_length - 1 images)")
    batch_size = _array.check_int_range(batch_size, "batch_size", 1, np.iinfo(np.int64).max)
    n_groups = _array.check_int_range(n_groups, "n_groups", 1, np.iinfo(np.int64).max)
    return (temperature, n_groups, threshold, gap, int(memory_length), _non_negative(lam, "lam"),
            _non_negative(beta, "beta"), batch_size)


def _available_bytes(device) -> int:
    """Free memory of ``device``: the GPU's free memory, or this machine's physical memory."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


def _check_sizes(n_labels: int, memory_length: int, dtype, device, sample_adaptive: bool, beta: float) -> None:
    """Refuse, before allocating, memory banks larger than the device and a ``beta`` whose bank weights
    ``exp(beta * cos)`` overflow ``dtype`` (each would otherwise fail far from its cause)."""
    limit = math.log(torch.finfo(dtype).max)
    if beta > limit:
        raise ValueError(f"beta={beta!r}: the bank weights exp(beta * cos) overflow {dtype} for beta above {limit:.1f}; "
                         "lower beta (the released value is int(5.5) = 5)")
    p = memory_length  # a bank: the label's text feature and memory_length - 1 images
    elem = torch.finfo(dtype).bits // 8
    need = n_labels * max(p - 1, 1) * 8  # the entropies of the banks' images (float64)
    if sample_adaptive:
        need += n_labels * p * p * elem  # the banks' Gram matrices
    have = _available_bytes(device)
    if need > have:
        raise ValueError(f"memory_length={memory_length}: the memory banks of {n_labels} labels need ~{need / 2**30:.1f} "
                         f"GiB, more than the {have / 2**30:.1f} GiB of {device}; lower memory_length (the released "
                         "memleng is 10)")


# Elements per chunk of the per-label passes (~2 MB of float32): small enough to stay in cache
# across the handful of elementwise passes over one chunk, large enough to amortise the per-op cost.
_CHUNK_ELEMS = 1 << 19


@contextlib.contextmanager
def _threads(n: int):
    """Run the block with ``n`` torch threads (the caller's count restored after).

    AdaNeg runs on one thread. Its memory decisions are thresholds on scores, so a last-bit
    difference from a thread-count-dependent reduction can change which images are cached and
    move a metric (seen at 6 significant digits between 1 and 2 threads); and it gains little from
    more threads anyway: each multi-threaded torch op ends at a barrier, and on a loaded machine a
    descheduled worker makes every small op wait for a time slice (measured: AdaNeg 4x slower with
    2 threads than with 1 on 2 busy cores).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _grouped_score(logits: torch.Tensor, k: int, g: int, q: int) -> torch.Tensor:
    """``[B]`` float64 NegLabel grouped score of **labels-major** logits ``[C, B]``.

    Rows: ``[id (k); negatives in group order (g * q); rest]``.
    """
    def sums(lg):
        e = torch.softmax(lg, dim=0)  # exps shifted by the column max, scaled by a common factor
        id_sum = e[:k].sum(dim=0).to(torch.float64)
        group = e[k:k + g * q].reshape(g, q, lg.shape[1]).sum(dim=1).to(torch.float64)
        return id_sum, group

    id_sum, group = sums(logits)
    low = id_sum < torch.finfo(logits.dtype).tiny
    if bool(low.any()):  # ID exps underflowed in float32: redo those images in float64
        cols = torch.nonzero(low)[:, 0]
        id_sum[cols], group[:, cols] = sums(logits[:, cols].to(torch.float64))
        if bool((id_sum[cols] < torch.finfo(torch.float64).tiny).any()):
            raise ValueError("the temperature is too small: ID exps underflow even in float64; use a larger one")
    return (id_sum[None, :] / (id_sum[None, :] + group)).mean(dim=0)


def _entropy(logits: torch.Tensor) -> np.ndarray:
    """The released entropy ``-sum p log(p + 1e-8)`` of ``softmax`` over each column of ``[C', B']``, float64."""
    p = torch.softmax(logits, dim=0)
    return (-(p * torch.log(p + _ENTROPY_EPS)).sum(dim=0)).to(torch.float64).cpu().numpy()


class _Memory:
    """Per-label banks of image features, updated image by image by the released rule.

    ``count [C]``: images in each bank; ``entropy [C, cap]``; ``row [C, cap]``: the row of
    ``store`` holding each slot's feature (``-1`` never filled). A slot gets its row the first
    time it is filled and keeps it (a bank never shrinks), so ``store[:n_rows]`` holds exactly the
    cached features and one product per batch gives every image-to-memory cosine.
    """

    def __init__(self, n_labels: int, capacity: int, n_images: int, d: int, dtype, device):
        self.capacity = capacity
        cap = max(capacity, 1)
        self.count = np.zeros(n_labels, dtype=np.int64)
        self.entropy = np.zeros((n_labels, cap), dtype=np.float64)
        self.row = np.full((n_labels, cap), -1, dtype=np.int64)
        self.n_rows = 0
        self.store = torch.zeros((min(n_labels * capacity, n_images), d), dtype=dtype, device=device)
        self.pending: dict[int, int] = {}  # store row -> stream index, written by flush()

    def offer(self, label: int, image: int, entropy: float) -> bool:
        """Cache ``image`` under ``label``; whether the bank changed."""
        if self.capacity == 0:
            return False
        n = self.count[label]
        if n < self.capacity:
            slot = n
            self.count[label] = n + 1
            self.row[label, slot] = self.n_rows
            self.n_rows += 1
        else:
            row = self.entropy[label]
            slot = self.capacity - 1 - int(np.argmax(row[::-1]))  # highest slot among the max-entropy ties
            if not entropy < row[slot]:
                return False
        self.entropy[label, slot] = entropy
        self.pending[int(self.row[label, slot])] = image
        return True

    def flush(self, stream: torch.Tensor) -> None:
        """Write the features of this batch's accepted images into their rows."""
        if self.pending:
            rows = torch.tensor(list(self.pending), dtype=torch.int64, device=stream.device)
            images = torch.tensor(list(self.pending.values()), dtype=torch.int64, device=stream.device)
            self.store[rows] = stream[images]
            self.pending.clear()


def _update_banks(memory: _Memory, text, changed: np.ndarray, gram, proxies) -> None:
    """Refresh the Gram matrices (sample-adaptive) or the proxies (task-adaptive) of ``changed`` labels."""
    p = memory.row.shape[1] + 1
    dev = text.device
    chg_t = torch.from_numpy(changed).to(dev)
    bank = torch.zeros((len(changed), p, text.shape[1]), dtype=text.dtype, device=dev)  # [text; images; 0...]
    bank[:, 0] = text[chg_t]
    rows = memory.row[changed]
    filled = np.arange(rows.shape[1])[None, :] < memory.count[changed][:, None]
    where = np.nonzero(filled)
    bank[torch.from_numpy(where[0]).to(dev), torch.from_numpy(where[1] + 1).to(dev)] = \
        memory.store[torch.from_numpy(rows[filled]).to(dev)]
    if gram is not None:
        gram[chg_t] = torch.bmm(bank, bank.transpose(1, 2))
    else:  # the released mean over the bank (empty slots are zeros), renormalised
        proxies[chg_t] = _array.l2_normalize(bank.sum(dim=1), "task-adaptive proxy")


def _sample_adaptive_logits(logits_all: torch.Tensor, n_labels: int, memory: _Memory, gram, labels: np.ndarray,
                            beta_t: float, out: torch.Tensor) -> None:
    """Write into ``out [len(labels), B]`` the logits ``cos / T`` of the batch to the sample-adaptive proxies.

    ``logits_all [C + n_rows, B]``: ``cos / T`` to the text features, then to ``memory.store`` rows;
    ``beta_t = beta * T``. With ``w = e^{beta cos}`` over the bank ``[t_c; m_1..m_n]`` (the released
    ``e^{-beta (1 - cos)}`` up to a common factor, which cancels), ``cos(x, p_c) = sum_s w_s cos_s /
    sqrt(w^T G_c w)``, ``G_c`` the bank's Gram matrix. Labels are processed by bank size ``n``, in
    cache-sized chunks.
    """
    counts = memory.count[labels]
    b = logits_all.shape[1]
    dev = logits_all.device
    for n in np.unique(counts):
        pos = np.nonzero(counts == n)[0]
        lab = labels[pos]
        index = np.concatenate([lab[:, None], n_labels + memory.row[lab, :n]], axis=1)  # [F, 1 + n]
        step = max(1, _CHUNK_ELEMS // ((n + 1) * b))
        for i in range(0, len(lab), step):
            idx = torch.from_numpy(index[i:i + step].reshape(-1)).to(dev)
            z = logits_all.index_select(0, idx).view(-1, n + 1, b)  # cos / T, [f, 1 + n, B]
            e = torch.mul(z, beta_t).exp_()
            num = (e * z).sum(dim=1)
            g = gram[torch.from_numpy(lab[i:i + step]).to(dev), :n + 1, :n + 1]
            den2 = (torch.bmm(g, e).mul_(e)).sum(dim=1)
            out[torch.from_numpy(pos[i:i + step]).to(dev)] = num.div_(den2.sqrt_())


def adaneg_stream(stream, id_emb, neg_emb, *, temperature: float = 0.01, n_groups: int = 5, seed: int = 0,
                  threshold: float = 0.5, gap: float = 0.5, memory_length: int = 10, lam: float = 0.1,
                  beta: float = 5.0, sample_adaptive: bool = True, batch_size: int = 256, device=None) -> np.ndarray:
    """AdaNeg scores of a test stream taken **in the given order** (module docstring, steps 1-4).

    Args:
        stream: ``[N, d]`` image embeddings in stream order. id_emb ``[K, d]``, neg_emb ``[M, d]``:
            ID-label and negative-label text embeddings. All are L2-normalised here; float64 if any
            input is float64, else float32 (``ood_core._array``).
        seed: seeds the groups only (:func:`ood_core.scoring.make_groups`); the order is the caller's.
        Other arguments: :class:`ScoringParams`.

    Returns:
        ``[N]`` float64, in ``(0, 1 + lam]``; higher = ID.
    """
    seed = check_seed(seed, "seed")
    temperature, n_groups, threshold, gap, memory_length, lam, beta, batch_size = _check_params(
        temperature, n_groups, threshold, gap, memory_length, lam, beta, batch_size)
    dtype, dev, x, id_t, neg_t = _array.prepare_embeddings(stream, id_emb, neg_emb, device)
    temperature = _array.check_temperature(temperature, dtype)
    k, m = id_t.shape[0], neg_t.shape[0]
    n_groups = _array.check_int_range(n_groups, "n_groups", 1, m)
    groups = scoring.make_groups(m, n_groups, seed)
    g, q = groups.shape
    # negatives in group order, then the M % G left over (they still count for the memory's argmax)
    order = np.concatenate([groups.reshape(-1), np.setdiff1d(np.arange(m), groups.reshape(-1))])
    text = torch.cat([id_t, neg_t[torch.from_numpy(order).to(dev)]])  # [C, d]
    _check_sizes(text.shape[0], memory_length, dtype, dev, sample_adaptive, beta)
    n_labels, d = text.shape
    memory = _Memory(n_labels, memory_length - 1, x.shape[0], d, dtype, dev)
    p = 1 + memory.capacity
    gram = torch.zeros((n_labels, p, p), dtype=dtype, device=dev) if sample_adaptive else None
    proxies = None if sample_adaptive else text.clone()
    hi = threshold + gap * (1.0 - threshold)
    lo = threshold - gap * threshold
    out = torch.empty(x.shape[0], dtype=torch.float64, device=dev)
    logits_all = torch.empty((n_labels + memory.store.shape[0], min(batch_size, x.shape[0])), dtype=dtype,
                             device=dev)
    with _threads(1):  # one thread: bit-identical on any thread count (see _threads)
        for start in range(0, x.shape[0], batch_size):
            x_b = x[start:start + batch_size]
            b = x_b.shape[0]
            full = b == logits_all.shape[1]  # else a short last batch
            logits = logits_all[:n_labels] if full else torch.empty((n_labels, b), dtype=dtype, device=dev)
            x_t = (x_b / temperature).T  # every product below is in logit units, cos / T
            torch.mm(text, x_t, out=logits)  # [C, B], labels-major
            s_nl = _grouped_score(logits, k, g, q)
            changed = set()
            for mask, rows, offset in ((s_nl > hi, slice(0, k), 0), (s_nl < lo, slice(k, n_labels), k)):
                cols = torch.nonzero(mask)[:, 0]
                if len(cols) == 0:
                    continue
                sub = logits[rows][:, cols]
                pred = (torch.argmax(sub, dim=0).cpu().numpy() + offset).tolist()
                ent = _entropy(sub).tolist()
                for i, c, h in zip((cols + start).cpu().numpy().tolist(), pred, ent):
                    if memory.offer(c, i, h):
                        changed.add(c)
            memory.flush(x)
            if changed:
                _update_banks(memory, text, np.array(sorted(changed), dtype=np.int64), gram, proxies)
            filled = np.nonzero(memory.count)[0]
            if len(filled):
                filled_t = torch.from_numpy(filled).to(dev)
                ada = torch.empty((len(filled), b), dtype=dtype, device=dev)
                if sample_adaptive:
                    if full:
                        torch.mm(memory.store[:memory.n_rows], x_t,
                                 out=logits_all[n_labels:n_labels + memory.n_rows])
                        both = logits_all[:n_labels + memory.n_rows]
                    else:
                        both = torch.cat([logits, memory.store[:memory.n_rows] @ x_t])
                    _sample_adaptive_logits(both, n_labels, memory, gram, filled, beta * temperature, ada)
                else:
                    torch.mm(proxies.index_select(0, filled_t), x_t, out=ada)
                logits.index_copy_(0, filled_t, ada)  # the static logits are no longer needed
                s_ada = _grouped_score(logits, k, g, q)
            else:
                s_ada = s_nl
            out[start:start + b] = s_ada + lam * s_nl
    _array.check_finite_scores(out, "the AdaNeg score", "an overflow in the logits; use a larger temperature")
    return out.cpu().numpy()


def score_stream(id_images, ood_images, texts, negatives, params: ScoringParams):
    """``(id_scores [N_id], ood_scores [N_ood])`` float64 of the stream ``[ID; OOD]`` shuffled by ``params.seed``."""
    n_id, n_ood = len(id_images), len(ood_images)
    if n_id == 0 or n_ood == 0:
        raise ValueError(f"AdaNeg scores a test stream of ID and OOD images together; got {n_id} ID and "
                         f"{n_ood} OOD images: give both, non-empty")
    dtype = _array.compute_dtype(id_images, ood_images, texts.id_labels, texts.candidates)
    dev = _array.resolve_device(None, id_images, ood_images)
    both = torch.cat([_array.as_matrix(id_images, "id_images", dtype, dev),
                      _array.as_matrix(ood_images, "ood_images", dtype, dev)])
    perm = np.random.default_rng(params.seed).permutation(n_id + n_ood)
    stream = both[torch.from_numpy(perm).to(dev)]
    scores = np.empty(n_id + n_ood, dtype=np.float64)
    scores[perm] = adaneg_stream(
        stream, texts.id_labels, METHOD.negative_features(texts, negatives), temperature=params.temperature,
        n_groups=params.n_groups, seed=params.seed, threshold=params.threshold, gap=params.gap,
        memory_length=params.memory_length, lam=params.lam, beta=params.beta,
        sample_adaptive=params.sample_adaptive, batch_size=params.batch_size)
    return scores[:n_id], scores[n_id:]


METHOD = Method(name="adaneg", title="AdaNeg", scoring_params=ScoringParams, score=None, score_stream=score_stream,
                mining_params=MiningParams, mine=mine, color="#F0E442")
