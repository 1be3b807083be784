"""Typed parameters of each method, from ``method_params.<method>`` in ``params.yaml``.

The method registry (:mod:`ood_core.methods`) owns the parameter types and their ranges; this
module only finds the block and resolves ``per_backbone`` overrides (the one place a method block
is validated: the mine and score stages and the notebooks call these). :func:`methods_taking` is
the one rule for "the methods a sweep of one parameter covers" (notebooks and queued sweeps).
"""

from __future__ import annotations

import dataclasses

from ood_core import methods as _methods
from ood_study.params import StudyParams

__all__ = ["mining_params", "scoring_params", "methods_taking"]


def mining_params(params: StudyParams, method: str, backbone: str):
    """The method's typed mining parameters for ``backbone`` (``None`` for a method that mines none)."""
    m = _methods.get(method)
    return m.mining_params_for(_block(params, method, "mining"), backbone, backbones=_known_backbones())


def scoring_params(params: StudyParams, method: str, backbone: str):
    """The method's typed score parameters for ``backbone``."""
    m = _methods.get(method)
    return m.scoring_params_for(_block(params, method, "scoring"), backbone, backbones=_known_backbones())


def _block(params: StudyParams, method: str, step: str):
    try:
        return params.get(f"method_params.{method}.{step}")
    except KeyError as err:
        if "does not exist" not in str(err):
            raise
        raise ValueError(f"params.yaml has no block method_params.{method}: add one (its keys are the "
                         f"fields of ood_core.methods.{method}'s parameter classes)") from None


def methods_taking(params: StudyParams, parameter: str, block: str = "scoring") -> list[str]:
    """params.yaml's listed methods (in its order) whose typed ``block`` parameters (``"scoring"`` or
    ``"mining"``) have the field ``parameter``: the methods a sweep of ``parameter`` covers."""
    if block not in ("scoring", "mining"):
        raise ValueError(f"block={block!r} must be 'scoring' or 'mining'")
    out = []
    for method in params.methods:
        m = _methods.get(method)
        typed = m.scoring_params if block == "scoring" else m.mining_params
        if typed is not None and parameter in {f.name for f in dataclasses.fields(typed)}:
            out.append(method)
    return out


def _known_backbones():
    from ood_core.backbones import BACKBONES, RANDOM_WEIGHT_BACKBONES

    return {**BACKBONES, **RANDOM_WEIGHT_BACKBONES}
