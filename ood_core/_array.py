"""Private array helpers shared by ``mining``, ``scoring`` and ``metrics``.

Conventions used everywhere in the package:

- Inputs may be numpy arrays or torch tensors (any real dtype; float16 / bfloat16 / float32 /
  float64 are the expected ones).
- **Compute dtype rule**: if any floating input is float64 the arithmetic is float64 (so tests
  with float64 inputs can compare to 1e-6 relative); otherwise float32 (float16 and bfloat16 are
  upcast, because ``exp(1 / 0.01)`` and long sums do not fit half precision).
- **Device rule**: ``device=None`` means "the device of the first torch-tensor input that is not
  on the CPU, else the CPU". Numpy inputs therefore always run on the CPU unless a device is
  named; CUDA tensors stay on their GPU.
- **Exact mode**: inside :func:`ood_core.exact.exact_products` the compute dtype is float64,
  unit rows are rounded to the ``2**-GRID_BITS`` grid and scores to float32 precision, so that
  products and scores do not depend on the CPU (see that module).
- Every check raises ``ValueError`` whose message names the argument, its offending value and
  the valid range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ood_core.exact import GRID_BITS, is_exact

__all__ = [
    "compute_dtype",
    "resolve_device",
    "to_tensor",
    "as_matrix",
    "as_bool_vector",
    "l2_normalize",
    "check_temperature",
    "check_finite_scores",
    "check_same_dim",
    "prepare_embeddings",
    "check_positive_finite",
    "check_fraction",
    "check_int_range",
    "to_numpy_float64",
]


def _torch_dtype_of(x: Any) -> torch.dtype:
    if isinstance(x, torch.Tensor):
        return x.dtype
    arr = np.asarray(x)
    if arr.dtype == np.float16:
        return torch.float16
    if arr.dtype == np.float64:
        return torch.float64
    return torch.float32


def compute_dtype(*arrays: Any) -> torch.dtype:
    """float64 if any input is float64 or inside ``exact_products``, else float32 (half precisions are upcast)."""
    if is_exact():
        return torch.float64
    return torch.float64 if any(_torch_dtype_of(a) == torch.float64 for a in arrays) else torch.float32


def resolve_device(device: Any, *arrays: Any) -> torch.device:
    """``device`` if given; else the first non-CPU torch tensor's device; else the CPU."""
    if device is not None:
        return torch.device(device)
    for a in arrays:
        if isinstance(a, torch.Tensor) and a.device.type != "cpu":
            return a.device
    return torch.device("cpu")


def to_tensor(x: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Convert ``x`` (numpy array, torch tensor or nested sequence) to a tensor.

    Rejects non-numeric dtypes (bool, complex, object, strings) with a ``ValueError`` naming
    ``name``. The result is detached and has ``dtype`` and ``device``.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} has dtype {t.dtype}; expected a real floating-point tensor")
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"{name} has dtype {arr.dtype}; expected a real floating-point array")
        if arr.dtype.kind in "iu" or arr.dtype == np.longdouble:
            arr = arr.astype(np.float64)
        t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.to(device=device, dtype=dtype)


def as_matrix(x: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A non-empty, finite 2-D tensor ``[rows, dim]`` (see :func:`to_tensor`).

    NaN or inf anywhere raises ``ValueError`` naming ``name``, the first bad position and the count;
    finite values too large for ``dtype`` (e.g. a long-double array above float32's max) are named
    as an overflow of the compute dtype.
    """
    t = to_tensor(x, name, dtype, device)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, dim]; got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); need at least 1 row and 1 column")
    if not bool(torch.isfinite(t).all()):
        bad = ~torch.isfinite(t)
        n_bad = int(bad.sum())
        row, col = (int(i) for i in torch.nonzero(bad)[0])
        source = x.detach() if isinstance(x, torch.Tensor) else np.asarray(x)
        src_finite = bool(torch.isfinite(source).all()) if isinstance(source, torch.Tensor) \
            else bool(np.isfinite(source).all())
        if src_finite:
            raise ValueError(
                f"{name} holds {n_bad} value(s) too large for the compute dtype {dtype} (first at row {row}, "
                f"column {col}: {source[row, col]!r}; max {torch.finfo(dtype).max:.4g}); rescale {name} "
                f"(only its direction is used) or pass float64 inputs"
            )
        raise ValueError(
            f"{name} holds {n_bad} non-finite value(s) (NaN or inf; first at row {row}, column {col}); "
            f"all values must be finite: drop or re-embed those rows"
        )
    return t


def as_bool_vector(x: Any, name: str, length: int) -> np.ndarray:
    """A 1-D numpy bool array of ``length``; accepts bools or 0/1 integers."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must be 1-D of length {length} (one flag per row); got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans (or 0/1 integers), one flag per row; got dtype {arr.dtype}"
                             + (f" (e.g. {arr[0].item()!r}): strings such as 'no' are not False"
                                if arr.dtype.kind in "USO" and arr.size else ""))
        arr = arr.astype(bool)
    return arr


def as_index_vector(x: Any, name: str, size: int, of: str = "rows") -> np.ndarray:
    """A 1-D int64 numpy array of indices into ``size`` ``of``: an integer dtype (floats, bools and
    strings refused, never truncated or read as a mask), each in ``[0, size)`` (no negative index
    wrapping around); an empty sequence is an empty index array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.size == 0 and arr.ndim == 1:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of indices; got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} has dtype {arr.dtype}: it must hold integer indices into the {size} {of} "
                         "(a float array would be truncated, a bool array read as 0/1; np.flatnonzero(mask) "
                         "turns a mask into indices)")
    outside = np.flatnonzero((arr < 0) | (arr >= size))
    if outside.size:
        first = int(outside[0])
        raise ValueError(f"{name} holds {outside.size} index(es) outside [0, {size}) (the {size} {of}); first "
                         f"{arr[first].item()!r} at position {first}: indices must be non-negative and smaller than {size}")
    return arr.astype(np.int64)


def l2_normalize(t: torch.Tensor, name: str) -> torch.Tensor:
    """Rows divided by their L2 norm; a zero row raises ``ValueError`` (its direction is undefined).

    Overflow- and underflow-safe: a row whose squared norm overflows (a float32 row of norm ~1e25)
    or falls into the subnormal range (norm below ``sqrt(tiny / eps)``, ~3e-16 in float32) is first
    divided by the power of two at or just below its max-abs entry (exact), then normalised. Other rows
    take the one-pass ``t / ||t||``; both give bit-identical results for a row and its power-of-two
    multiples. A row holding NaN or inf raises ``ValueError`` naming ``name`` and the row.
    Inside ``exact_products`` (float64) the unit rows are then rounded to multiples of
    ``2**-GRID_BITS``, which makes their products exact (:mod:`ood_core.exact`).
    """
    norms = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    info = torch.finfo(t.dtype)
    unsafe = ~torch.isfinite(norms[:, 0]) | (norms[:, 0] < math.sqrt(info.tiny / info.eps))
    if not bool(unsafe.any()):
        return _on_grid(t / norms)
    rows = torch.nonzero(unsafe)[:, 0]
    sub = t[rows]
    peak = sub.abs().amax(dim=1, keepdim=True)  # NaN if the row holds a NaN
    bad = ~torch.isfinite(peak[:, 0])
    if bool(bad.any()):
        row = int(rows[torch.nonzero(bad)[0, 0]])
        raise ValueError(f"{name} row {row} holds NaN or inf; embeddings must be finite to L2-normalise")
    zero = peak[:, 0] == 0
    if bool(zero.any()):
        row = int(rows[torch.nonzero(zero)[0, 0]])
        raise ValueError(f"{name} row {row} has zero norm; embeddings must be non-zero to L2-normalise")
    _, exponent = torch.frexp(peak)  # peak = m * 2**exponent, m in [0.5, 1)
    # Divide by 2**(exponent - 1), exact and representable even for peaks near the dtype's max
    # (2**exponent would be inf there) or subnormal: the max-abs entry becomes m * 2 in [1, 2).
    sub = sub / torch.ldexp(torch.ones_like(peak), exponent - 1)
    out = t / norms
    out[rows] = sub / torch.linalg.vector_norm(sub, dim=1, keepdim=True)
    return _on_grid(out)


def _on_grid(unit_rows: torch.Tensor) -> torch.Tensor:
    """Unit rows rounded to multiples of ``2**-GRID_BITS`` inside ``exact_products``, else unchanged."""
    if not is_exact():
        return unit_rows
    if unit_rows.dtype != torch.float64:
        raise TypeError(f"exact products need float64 unit rows, got {unit_rows.dtype}: convert with "
                        f"ood_core._array.compute_dtype, which is float64 inside exact_products")
    scale = float(2 ** GRID_BITS)
    return torch.round(unit_rows * scale).div_(scale)  # power-of-two scalings: exact


def check_temperature(temperature: Any, dtype: torch.dtype, name: str = "temperature") -> float:
    """A finite ``temperature > 0`` whose cosine logits ``s / temperature`` (``|s| <= 1``) fit ``dtype``.

    Below ``max(2 / finfo.max, finfo.tiny)`` (~1.2e-38 in float32, ~2.2e-308 in float64) the logits
    overflow to inf (or the temperature itself is subnormal) and softmax / logsumexp would return
    NaN or inf: ``ValueError`` names the dtype, the limit and the fixes.
    """
    def smallest(d: torch.dtype) -> float:
        return max(2.0 / torch.finfo(d).max, torch.finfo(d).tiny)

    t = check_positive_finite(temperature, name)
    info = torch.finfo(dtype)
    limit = smallest(dtype)
    if t < limit:
        hint = "" if dtype == torch.float64 else \
            f", or pass float64 inputs (valid down to {smallest(torch.float64):.3g})"
        raise ValueError(
            f"{name}={temperature!r} is too small for {dtype} arithmetic: the logits cosine / {name} (up to "
            f"1 / {name} = {1.0 / t:.3g}) overflow {dtype} (max {info.max:.3g}), so the scores would be NaN or "
            f"inf; use {name} >= {limit:.3g}{hint}"
        )
    return t


def check_finite_scores(scores: torch.Tensor, what: str, cause: str) -> torch.Tensor:
    """``scores`` if all finite; else ``ValueError`` naming ``what``, the first bad row and ``cause``.

    Inside ``exact_products`` a float64 ``scores`` is rounded to float32 precision in place (still
    float64), hiding last-bit differences of the float64 arithmetic between CPUs.
    """
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        row = int(torch.nonzero(bad)[0, 0])
        raise ValueError(
            f"{what} is non-finite ({float(scores[row])!r}) for {int(bad.sum())} image(s), first row {row}; "
            f"refusing to return it. Likely cause: {cause}"
        )
    if is_exact() and scores.dtype == torch.float64:
        scores.copy_(scores.to(torch.float32))
    return scores


def prepare_embeddings(img: Any, id_emb: Any, neg_emb: Any = None, device: Any = None):
    """Validate, convert (dtype rule) and L2-normalise image, ID-label and optional negative embeddings.

    Returns ``(dtype, device, img [N, d], id [K, d], neg [M, d] or None)``; dimensions must agree.
    """
    arrays = [a for a in (img, id_emb, neg_emb) if a is not None]
    dtype = compute_dtype(*arrays)
    dev = resolve_device(device, *arrays)
    img_t = l2_normalize(as_matrix(img, "img", dtype, dev), "img")
    id_t = l2_normalize(as_matrix(id_emb, "id_emb", dtype, dev), "id_emb")
    check_same_dim(img_t, "img", id_t, "id_emb")
    neg_t = None
    if neg_emb is not None:
        neg_t = l2_normalize(as_matrix(neg_emb, "neg_emb", dtype, dev), "neg_emb")
        check_same_dim(img_t, "img", neg_t, "neg_emb")
    return dtype, dev, img_t, id_t, neg_t


def check_same_dim(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Both matrices must share their embedding dimension (columns)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{b_name} has embedding dim {b.shape[1]} but {a_name} has {a.shape[1]}; they must match"
        )


def _refuse_non_number(value: Any, name: str, what: str) -> None:
    """Strings and bools are not numbers here (``float("0.01")``, ``float(True)`` would pass), as in params.yaml."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be {what}, not a {type(value).__name__} (write the number itself, "
                         "e.g. 0.01)")


def check_positive_finite(value: Any, name: str) -> float:
    """A finite float > 0 (strings and bools refused)."""
    _refuse_non_number(value, name, "a finite number > 0")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a finite number > 0") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    return v


def check_fraction(value: Any, name: str, *, low: float = 0.0, high: float = 1.0,
                   low_open: bool = True, high_open: bool = False) -> float:
    """A float in the interval given by ``low``/``high`` and their openness (default (0, 1])."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    _refuse_non_number(value, name, f"a number in {interval}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number in {interval}") from None
    ok = math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low)
    ok = ok and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name}={value!r} must be in {interval}")
    return v


def check_int_range(value: Any, name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (bools rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} must be an integer in [{low}, {high}]")
    v = int(value)
    if not low <= v <= high:
        raise ValueError(f"{name}={value!r} must be an integer in [{low}, {high}]")
    return v


def to_numpy_float64(x: Any, name: str) -> np.ndarray:
    """A non-empty, finite 1-D float64 numpy array (torch tensors are copied to the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} has dtype {arr.dtype}; expected real numbers")
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; need at least one score")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(arr)).sum())} non-finite value(s); all must be finite")
    return arr
