"""The notebooks and the ablations, each declared once.

An **ablation** is one :class:`Ablation` entry in :data:`ABLATIONS`: the typed block of its grid
(``ablations.<name>`` in params.yaml, parsed at the edge by :func:`parse_ablation`), the sweep
functions of :mod:`ood_study.experiments` its notebook calls, its notebook and what that reads, the
method keys a queued DVC experiment sets (:mod:`ood_study.queue_sweep`), the DVC plot of its sweep
table, and the tiny grid the tests run. From it derive: the notebook registry :data:`NOTEBOOKS`,
the ``nb_*`` stages of ``dvc.yaml`` (:mod:`ood_study.pipeline`), the queued sweeps and the tests'
shrunken params (``tests/conftest.py``).

This module imports no feature, simulation or method code, so the stages that read it (the
notebooks) do not depend on them through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ood_core._params import param, parse, unknown_key_error

__all__ = ["Ablation", "ABLATIONS", "NotebookSpec", "NOTEBOOKS", "QueuedKey", "SweepPlot", "parse_ablation",
           "stage_name", "check_ablation_names"]

# ------------------------------------------------------------------------------------------------
# The typed grid of each ablation (params.yaml `ablations.<name>`).


@dataclass(frozen=True)
class TauAblation:
    grid: tuple[float, ...] = param((0.0,), low=0.0, high=1.0, high_open=True)


@dataclass(frozen=True)
class TemperatureAblation:
    grid: tuple[float, ...] = param((0.01,), low=0.0, low_open=True)


@dataclass(frozen=True)
class GroupsAblation:
    grid: tuple[int, ...] = param((100,), low=1)


@dataclass(frozen=True)
class SelectionAblation:
    density_k: tuple[int, ...] = param((100,), low=1)
    density_ratio_noun: tuple[float, ...] = param((0.23,), low=0.0, high=1.0, low_open=True)
    neglabel_percentile: tuple[float, ...] = param((0.95,), low=0.0, high=1.0, low_open=True)
    neglabel_ratio: tuple[float, ...] = param((0.15,), low=0.0, high=1.0, low_open=True)


@dataclass(frozen=True)
class CorpusSizeAblation:
    fractions: tuple[float, ...] = param((1.0,), low=0.0, high=1.0, low_open=True)
    seed: int = param(0, low=0)


@dataclass(frozen=True)
class FalseNegativesAblation:
    tau_grid: tuple[float, ...] = param((0.0,), low=0.0, high=1.0, high_open=True)


@dataclass(frozen=True)
class FalseNegativeDoseAblation:
    rho_grid: tuple[float, ...] = param((0.0,), low=0.0, high=1.0, high_open=True,
                                        doc="fractions of the fixed negative set replaced by ID-like labels")
    seed: int = param(0, low=0, doc="seeds the chosen true negatives and ID-like labels")


@dataclass(frozen=True)
class DensityGridAblation:
    k: tuple[int, ...] = param((100,), low=1, doc="DNM's density neighbourhood sizes")
    ratio_noun: tuple[float, ...] = param((0.23,), low=0.0, high=1.0, low_open=True,
                                          doc="DNM's selected fractions of the nouns")


@dataclass(frozen=True)
class TanlAblation:
    gamma: tuple[int, ...] = param((1,), low=0, doc="TANL's prefix step (the released script sweeps 2 1 0)")
    memory_length: tuple[int, ...] = param((300,), low=0, doc="TANL's memory length (released memleng 300)")


@dataclass(frozen=True)
class RenyiOrderAblation:
    r: tuple[float, ...] = param((1.05,), low=1.0, low_open=True, doc="the Renyi order r > 1 (released 1.05)")


# ------------------------------------------------------------------------------------------------
# Declarations.

STUDY_DATA = ("embeddings", "negatives", "metrics", "all_metrics")
_ALL_METHODS = ("methods", "method_params")


@dataclass(frozen=True)
class QueuedKey:
    """One key a queued DVC experiment sets per grid value: ``method_params.<method>.<block>.<key>``
    over the ablation's field ``field``. ``method=None``: every listed method whose typed ``block``
    parameters have ``key`` (:func:`ood_study.method_params.methods_taking`, the rule the sweeps use)."""

    method: str | None
    block: str
    key: str
    field: str


@dataclass(frozen=True)
class SweepPlot:
    """The DVC plot of an ablation's sweep table (``.dvc/plots/sweep.json``): title and x label."""

    title: str
    x_label: str


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook: ``per`` ``"study"`` (benchmark x backbone) or ``"benchmark"``; ``params``: the
    params.yaml keys it reads (``{benchmark}`` formatted); ``data``: what it reads, from
    ``embeddings``, ``negatives``, ``metrics`` (of its study) and ``all_metrics`` (every study);
    ``plot``: the DVC plot of its sweep table, if it writes one; ``ablation``: its ablation's name."""

    title: str
    per: str = "study"
    params: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    plot: SweepPlot | None = None
    ablation: str | None = None

    @property
    def sweep(self) -> bool:
        """Whether it writes a sweep table (a DVC plot)."""
        return self.plot is not None


@dataclass(frozen=True)
class Ablation:
    """One ablation. ``params_type``: the typed block of ``ablations.<name>``; ``sweeps``: the
    functions of :mod:`ood_study.experiments` its notebook calls; ``reads``: params keys the
    notebook reads besides ``ablations.<name>``, ``benchmark_sets.{benchmark}`` and ``evaluation``;
    ``queued``: the keys of a queued DVC experiment (empty: notebook only); ``tiny``: the grid the
    tests run (merged into the params.yaml block).

    ``run``: the function of :mod:`ood_study.experiments` that computes the ablation's sweep table
    from params, ``run(study, params, backbone, grid, evaluation=None) -> DataFrame`` (rows as
    :data:`ood_study.experiments.COLUMNS`); ``tests/test_ablations.py`` runs it on the tiny grid of
    every entry, so declaring an ablation tests it. ``default``: for each grid field, the params.yaml
    value at which the sweep must reproduce the library's own score (``"<method>.<block>.<key>"``
    of ``method_params``, ``"*.<block>.<key>"`` for every method whose typed parameters have it, or a
    literal value); empty when no grid point is the params.yaml setting."""

    name: str
    params_type: type
    notebook: str
    title: str
    sweeps: tuple[str, ...]
    reads: tuple[str, ...]
    data: tuple[str, ...]
    tiny: dict[str, Any]
    run: str = ""
    default: dict[str, Any] = field(default_factory=dict)
    plot: SweepPlot | None = None
    queued: tuple[QueuedKey, ...] = ()

    def notebook_spec(self) -> NotebookSpec:
        return NotebookSpec(self.title, params=(f"ablations.{self.name}", *self.reads, "benchmark_sets.{benchmark}",
                                                "evaluation"),
                            data=self.data, plot=self.plot, ablation=self.name)


def _ablations(*entries: Ablation) -> dict[str, Ablation]:
    return {a.name: a for a in entries}


ABLATIONS: dict[str, Ablation] = _ablations(
    Ablation("tau", TauAblation, "02_ablation_tau", "DNM over tau", ("tau_sweep",),
             reads=("method_params.dnm.scoring",), data=("embeddings", "negatives"), tiny={"grid": [0.0, 0.3]},
             run="run_tau", default={"grid": "dnm.scoring.tau"},
             plot=SweepPlot("DNM over tau: average AUROC", "tau"),
             queued=(QueuedKey("dnm", "scoring", "tau", "grid"),)),
    Ablation("temperature", TemperatureAblation, "03_ablation_temperature", "Temperature", ("temperature_sweep",),
             reads=_ALL_METHODS, data=("embeddings", "negatives"), tiny={"grid": [0.01, 1.0]},
             run="run_temperature", default={"grid": "*.scoring.temperature"},
             plot=SweepPlot("Temperature: average AUROC", "temperature T"),
             queued=(QueuedKey(None, "scoring", "temperature", "grid"),)),
    Ablation("groups", GroupsAblation, "04_ablation_groups", "Number of groups", ("groups_sweep",),
             reads=_ALL_METHODS, data=("embeddings", "negatives"), tiny={"grid": [1, 10]},
             run="run_groups", default={"grid": "*.scoring.n_groups"},
             plot=SweepPlot("Number of groups: average AUROC", "number of groups G"),
             queued=(QueuedKey(None, "scoring", "n_groups", "grid"),)),
    Ablation("selection", SelectionAblation, "05_ablation_selection", "Negative selection",
             ("density_selection_sweep", "neglabel_selection_sweep"),
             reads=("method_params.dnm", "method_params.neglabel"), data=("embeddings",),
             tiny={"density_k": [5, 10], "density_ratio_noun": [0.23], "neglabel_percentile": [0.95],
                   "neglabel_ratio": [0.15]},
             run="run_selection", default={"density_k": "dnm.mining.k", "density_ratio_noun": "dnm.mining.ratio_noun",
                                           "neglabel_percentile": "neglabel.mining.percentile",
                                           "neglabel_ratio": "neglabel.mining.ratio"},
             plot=SweepPlot("Negative selection: average AUROC", "swept value (see the panel)"),
             queued=(QueuedKey("dnm", "mining", "k", "density_k"),
                     QueuedKey("dnm", "mining", "ratio_noun", "density_ratio_noun"),
                     QueuedKey("neglabel", "mining", "percentile", "neglabel_percentile"),
                     QueuedKey("neglabel", "mining", "ratio", "neglabel_ratio"))),
    Ablation("corpus_size", CorpusSizeAblation, "06_ablation_corpus_size", "Wild-corpus size", ("corpus_size_sweep",),
             reads=_ALL_METHODS, data=("embeddings",), tiny={"fractions": [0.5, 1.0]},
             run="run_corpus_size", default={"fractions": 1.0},
             plot=SweepPlot("Wild-corpus size: average AUROC", "fraction of the corpus kept")),
    Ablation("false_negatives", FalseNegativesAblation, "08_false_negatives", "False negatives",
             ("false_negative_table", "tau_sweep", "score_distributions"),
             reads=("method_params.dnm.scoring", "method_params.neglabel.scoring"), data=("embeddings", "negatives"),
             tiny={"tau_grid": [0.0, 0.3, 0.6]},
             run="run_false_negatives", default={"tau_grid": "dnm.scoring.tau"}),
    Ablation("false_negative_dose", FalseNegativeDoseAblation, "09_false_negative_dose", "False-negative dose",
             ("false_negative_dose_sweep",),
             reads=("ablations.tau", "method_params.dnm.scoring", "method_params.dnm_auto.scoring",
                    "method_params.neglabel.scoring"), data=("embeddings", "negatives"), tiny={"rho_grid": [0.0, 0.2]},
             run="run_false_negative_dose"),
    Ablation("density_grid", DensityGridAblation, "11_ablation_density_grid", "DNM density k x noun ratio",
             ("density_grid_sweep",), reads=("method_params.dnm",), data=("embeddings",),
             tiny={"k": [5, 10], "ratio_noun": [0.1, 0.23]},
             run="run_density_grid", default={"k": "dnm.mining.k", "ratio_noun": "dnm.mining.ratio_noun"}),
    Ablation("tanl", TanlAblation, "12_ablation_tanl", "TANL: gamma and memory length", ("paired_sweep",),
             reads=("method_params.tanl.scoring",), data=("embeddings", "negatives"),
             tiny={"gamma": [0, 1], "memory_length": [10]},
             run="run_tanl", default={"gamma": "tanl.scoring.gamma", "memory_length": "tanl.scoring.memory_length"}),
    Ablation("renyi_order", RenyiOrderAblation, "13_ablation_renyi_order", "Renyi margin: the order r",
             ("paired_sweep",), reads=("method_params.renyi.scoring",), data=("embeddings", "negatives"),
             tiny={"r": [1.05, 2.0]}, run="run_renyi_order", default={"r": "renyi.scoring.r"}),
)

#: Every notebook, in file order: the two that read metrics, and one per ablation.
NOTEBOOKS: dict[str, NotebookSpec] = dict(sorted({
    "01_main_results": NotebookSpec("Main results", params=("methods", "benchmark_sets.{benchmark}"),
                                    data=("metrics",)),
    "07_backbones": NotebookSpec("Backbones", per="benchmark", params=("backbones", "methods",
                                                                       "benchmark_sets.{benchmark}"),
                                 data=("all_metrics",)),
    # builds both simulated worlds in process (ood_study.worlds): reads no pipeline data
    "10_simulator_validity": NotebookSpec("Simulator validity", params=(
        "benchmark_sets.{benchmark}", "corpus", "prompts", "method_params.mcm", "method_params.neglabel",
        "method_params.csp", "method_params.adaneg", "method_params.dnm", "evaluation")),
    **{a.notebook: a.notebook_spec() for a in ABLATIONS.values()},
}.items()))


def stage_name(notebook: str) -> str:
    """The ``dvc.yaml`` stage of a notebook: ``"02_ablation_tau"`` -> ``"nb_ablation_tau"``."""
    return "nb_" + re.sub(r"^\d+_", "", notebook)


def check_ablation_names(block: Any) -> None:
    """``ablations`` of params.yaml must map declared ablation names to mappings (or nothing)."""
    if not isinstance(block, dict):
        raise ValueError(f"ablations = {block!r} must map ablation names ({sorted(ABLATIONS)}) to their grids")
    for name, value in block.items():
        if name not in ABLATIONS:
            raise unknown_key_error("ablations", name, ABLATIONS)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"ablations.{name} = {value!r} must be a mapping of its grid fields")


def parse_ablation(name: str, block: Any, where: str | None = None):
    """``ablations.<name>`` (a plain mapping) -> its typed, range-checked block."""
    if name not in ABLATIONS:
        raise unknown_key_error("ablations", name, ABLATIONS)
    return parse(ABLATIONS[name].params_type, block, where or f"ablations.{name}")

