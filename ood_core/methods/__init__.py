"""Method registry: one module per method, found automatically.

Each module of this package that defines ``METHOD`` (a :class:`~ood_core.methods.base.Method`)
is a method: its typed parameters, its mining (none for zero-shot scores) and its score live
there and nowhere else. Adding a method = adding one module here (plus its ``params.yaml`` block
and its tests); the pipeline, the notebooks and the report take the list from :func:`names`.

>>> from ood_core import methods
>>> methods.get("dnm").mines
True
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from ood_core.methods.base import Method

__all__ = ["Method", "get", "names", "all_methods"]


def _discover() -> dict[str, Method]:
    found: dict[str, Method] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        method = getattr(module, "METHOD", None)
        if not isinstance(method, Method):
            raise TypeError(f"{module.__name__} defines no METHOD = Method(...); every module of "
                            f"{__name__} is a method")
        if method.name != info.name:
            raise ValueError(f"{module.__name__}: METHOD.name={method.name!r} must equal the module name")
        found[method.name] = method
    return found


_REGISTRY = _discover()


def names() -> list[str]:
    """Every registered method name, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Method:
    """The method called ``name``; an unknown name raises ``ValueError`` listing the valid ones."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"method={name!r} is unknown{hint}; valid methods: {names()}")
    return _REGISTRY[name]


def all_methods() -> list[Method]:
    """Every registered method, sorted by name."""
    return [_REGISTRY[n] for n in names()]
