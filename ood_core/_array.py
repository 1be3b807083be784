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
- Every check raises ``ValueError`` whose message names the argument, its offending value and
  the valid range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "compute_dtype",
    "resolve_device",
    "to_tensor",
    "as_matrix",
    "as_bool_vector",
    "l2_normalize",
    "check_same_dim",
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
    """float64 if any input is float64, else float32 (half precisions are upcast)."""
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
    """A non-empty, finite 2-D tensor ``[rows, dim]`` (see :func:`to_tensor`)."""
    t = to_tensor(x, name, dtype, device)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, dim]; got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); need at least 1 row and 1 column")
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} holds {n_bad} non-finite value(s) (NaN or inf); all values must be finite")
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
            raise ValueError(f"{name} must hold booleans (or 0/1); got dtype {arr.dtype}")
        arr = arr.astype(bool)
    return arr


def l2_normalize(t: torch.Tensor, name: str) -> torch.Tensor:
    """Rows divided by their L2 norm; a zero row raises ``ValueError`` (its direction is undefined)."""
    norms = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    if bool((norms == 0).any()):
        row = int(torch.nonzero(norms[:, 0] == 0)[0, 0])
        raise ValueError(f"{name} row {row} has zero norm; embeddings must be non-zero to L2-normalise")
    return t / norms


def check_same_dim(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Both matrices must share their embedding dimension (columns)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{b_name} has embedding dim {b.shape[1]} but {a_name} has {a.shape[1]}; they must match"
        )


def check_positive_finite(value: Any, name: str) -> float:
    """A finite float > 0."""
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
