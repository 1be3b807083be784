"""Deprecated names of :mod:`ood_core.features.image_sets`, kept only for callers outside the
features package that have not moved yet (``ood_study/params.py``); delete this module once
they import ``image_sets`` directly. It adds nothing: ``get_dataset`` is ``image_set``,
``BENCHMARKS`` is ``IMAGE_SETS``, ``list_benchmarks`` is ``list_image_sets``.
"""

from __future__ import annotations

from ood_core.features.image_sets import IMAGE_SETS as BENCHMARKS
from ood_core.features.image_sets import image_set as get_dataset
from ood_core.features.image_sets import list_image_sets as list_benchmarks

__all__ = ["BENCHMARKS", "get_dataset", "list_benchmarks"]
