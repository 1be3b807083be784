"""Typed, validated parameter blocks: dataclasses whose fields declare their type and valid range.

A parameter block is a frozen dataclass whose fields are made with :func:`param`. :func:`parse`
builds one from a plain mapping (a block of ``params.yaml``) and fails before any work with a
``ValueError`` that names the dotted key, the value and the valid range, or, for an unknown key,
the closest valid key. :func:`parse_per_backbone` resolves a block with ``per_backbone``
overrides (the released code's per-backbone defaults).

Field types understood: ``int``, ``float``, ``bool``, ``str`` (optionally with ``choices``),
``tuple[...]`` of those, ``X | None``, and ``float | str`` (or ``int | str``): a number in the
range or one of ``choices`` (e.g. DNM's ``tau``: a fraction or ``"auto"``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Mapping

__all__ = ["param", "parse", "parse_per_backbone", "unknown_key_error", "PER_BACKBONE", "check_seed", "MAX_SEED"]

#: The largest seed (numpy takes any non-negative integer, torch.manual_seed one below 2**64).
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int in ``[0, MAX_SEED]``. Every library function that takes a seed calls this, so
    ``None`` (numpy's "fresh entropy", a different result on every call) is refused everywhere, as
    params.yaml refuses it; bools and floats are refused rather than read as 0/1 or truncated."""
    from numbers import Integral

    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= int(seed) <= MAX_SEED:
        extra = (" (None would draw fresh entropy, a different result on every call; pass a fixed seed such as 0)"
                 if seed is None else "")
        raise ValueError(f"{name}={seed!r} must be an integer in [0, 2**63 - 1]{extra}")
    return int(seed)

PER_BACKBONE = "per_backbone"


def param(default: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
          high_open: bool = False, choices: tuple | None = None, doc: str = "") -> Any:
    """A dataclass field with a default, a valid range ``[low, high]`` (either end open) or ``choices``."""
    meta = {"low": low, "high": high, "low_open": low_open, "high_open": high_open, "choices": choices, "doc": doc}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple default for sequence parameters")
    return dataclasses.field(default=default, metadata=meta)


def unknown_key_error(where: str, key: str, valid) -> ValueError:
    """``ValueError`` for an unknown ``where.key``, naming a close match and every valid key."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {where + '.' if where else ''}{close[0]!r}?)" if close else ""
    name = f"{where}.{key}" if where else str(key)
    return ValueError(f"unknown parameter {name!r}{hint}; valid keys here: {valid}")


def _range_text(meta: Mapping) -> str:
    if meta.get("choices") is not None:
        return f"one of {list(meta['choices'])}"
    low, high = meta.get("low"), meta.get("high")
    left = "(" if meta.get("low_open") else "["
    right = ")" if meta.get("high_open") else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    if low is None:
        left = "("  # infinities are never valid values
    if high is None:
        right = ")"
    return f"in {left}{lo}, {hi}{right}"


def _check_scalar(kind: type, value: Any, name: str, meta: Mapping) -> Any:
    given = value  # messages show the value as written in params.yaml
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} = {value!r} must be true or false")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} = {value!r} must be a string" +
                             (f", {_range_text(meta)}" if meta.get("choices") else ""))
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} = {value!r} must be an integer {_range_text(meta)}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} = {value!r} must be a finite number {_range_text(meta)}")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond the float range
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"{name} = {given!r} must be a finite number {_range_text(meta)}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        close = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{name} = {given!r} is not valid{hint}: must be {_range_text(meta)}")
    if kind in (int, float):
        low, high = meta.get("low"), meta.get("high")
        bad = (low is not None and (value <= low if meta.get("low_open") else value < low)) or \
              (high is not None and (value >= high if meta.get("high_open") else value > high))
        if bad:
            raise ValueError(f"{name} = {given!r} is out of range: must be {_range_text(meta)}")
    return value


def _check_value(tp: Any, value: Any, name: str, meta: Mapping) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 2 and str in args:  # a number or a named setting, e.g. tau: 0.5 or "auto"
            (number,) = [a for a in args if a is not str]
            if isinstance(value, str):
                return _check_scalar(str, value, name, {"choices": meta.get("choices")})
            try:
                return _check_scalar(number, value, name, {**meta, "choices": None})
            except ValueError as err:
                raise ValueError(f"{err} (or {_range_text(meta)})") from None
        return _check_value(args[0], value, name, meta)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{name} = {value!r} must be a non-empty list of {item.__name__} {_range_text(meta)}")
        return tuple(_check_scalar(item, v, f"{name}[{i}]", meta) for i, v in enumerate(value))
    return _check_scalar(tp, value, name, meta)


def parse(cls: type, mapping: Mapping[str, Any] | None, where: str) -> Any:
    """``cls(**mapping)`` after checking every key and value; missing keys keep their defaults.

    ``where`` is the dotted key of the block (e.g. ``"method_params.dnm.scoring"``), used in errors.
    """
    mapping = {} if mapping is None else mapping
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where} = {mapping!r} must be a mapping of parameters")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in mapping:
        if key not in fields:
            raise unknown_key_error(where, key, fields)
    values = {key: _check_value(hints[key], value, f"{where}.{key}", fields[key].metadata)
              for key, value in mapping.items()}
    try:
        return cls(**values)
    except ValueError as err:  # cross-field rules of __post_init__ name their own fields
        raise ValueError(f"{where}: {err}") from None


def parse_per_backbone(cls: type, block: Mapping[str, Any] | None, backbone: str, where: str,
                       known_backbones=None) -> Any:
    """``block`` with ``block["per_backbone"][backbone]`` merged over it, parsed as ``cls``.

    Every override entry is checked (keys and values), whichever backbone is asked for, so a
    typo in any backbone's override fails at once. ``known_backbones`` (optional) restricts the
    names allowed under ``per_backbone`` and ``backbone`` itself.
    """
    block = dict(block or {})
    overrides = block.pop(PER_BACKBONE, None) or {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{where}.{PER_BACKBONE} must map backbone names to parameter overrides")
    if known_backbones is not None and backbone not in known_backbones:  # never drop its overrides silently
        raise ValueError(f"{where}: backbone {backbone!r} is not a known backbone; use one of {sorted(known_backbones)} "
                         "(an unknown name would silently take none of the per_backbone values)")
    base = parse(cls, block, where)
    for name, override in overrides.items():
        if known_backbones is not None and name not in known_backbones:
            raise unknown_key_error(f"{where}.{PER_BACKBONE}", name, known_backbones)
        parse(cls, {**block, **(override or {})}, f"{where}.{PER_BACKBONE}.{name}")
    if backbone in overrides:
        return parse(cls, {**block, **(overrides[backbone] or {})}, f"{where}.{PER_BACKBONE}.{backbone}")
    return base
