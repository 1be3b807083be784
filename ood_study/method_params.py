"""Typed parameters of each method, from ``method_params.<method>`` in ``params.yaml``.

The method registry (:mod:`ood_core.methods`) owns the parameter types and their ranges; this
module only finds the block and resolves ``per_backbone`` overrides. :func:`check_methods`
validates every listed method for every backbone of the study; the mining and scoring stages
call it before any work.
"""

from __future__ import annotations

from ood_core import methods as _methods
from ood_study.params import StudyParams

__all__ = ["mining_params", "scoring_params", "check_methods"]


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


def check_methods(params: StudyParams, methods=None, backbones=None) -> None:
    """Validate the mining and scoring blocks of ``methods`` for every backbone (default: all listed)."""
    for method in methods or params.methods:
        _methods.get(method)
        for backbone in backbones or params.backbones:
            mining_params(params, method, backbone)
            scoring_params(params, method, backbone)


def _known_backbones():
    from ood_core.features.encoders import BACKBONES

    return BACKBONES
