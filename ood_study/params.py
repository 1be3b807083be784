"""``params.yaml`` parsed once into typed, validated objects.

:func:`load_params` reads the file, checks every key and value (an unknown key names the
closest valid one; a bad value names its dotted key, the value and the valid range) and returns
a :class:`StudyParams`. Everything is read through :meth:`StudyParams.get` with a dotted key, so
a stage can be held to the keys its ``dvc.yaml`` entry lists (:meth:`StudyParams.restricted`):
reading any other key raises :class:`UnlistedParamError`, and the tests run every stage that way.

Method blocks (``method_params.<method>``) are checked against the method's own typed
parameters in :mod:`ood_study.method_params`, by the stages that mine or score, so that the
embedding stages never depend on method code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ood_core._params import param, parse, unknown_key_error

__all__ = ["StudyParams", "UnlistedParamError", "load_params", "SIMULATED", "PARAMS_FILE"]

PARAMS_FILE = "params.yaml"
SIMULATED = "simulated"  # the offline benchmark (ood_core.simulate): its numbers are never the paper's


class UnlistedParamError(KeyError):
    """A stage read a params key that its dvc.yaml entry does not list (DVC would not re-run it)."""


@dataclass(frozen=True)
class PathsParams:
    data_root: str = param("data/benchmarks", doc="real image sets; OOD_DATA_ROOT overrides")
    cache_dir: str = param("data/cache", doc="content-addressed embedding cache")
    weights_dir: str | None = param(None, doc="open_clip cache_dir for weights (None: open_clip's default)")


@dataclass(frozen=True)
class BenchmarkSets:
    id: str = param("", doc="ID set name")
    ood: tuple[str, ...] = param(("",), doc="OOD set names")
    simulation: dict | None = param(None, doc="the simulated world's parameters (simulated benchmark only)")


@dataclass(frozen=True)
class CorpusParams:
    wordnet_dir: str | None = param(None, doc="null: $WNSEARCHDIR, NLTK's data path, /usr/share/wordnet")
    noun_lexnames: tuple[str, ...] = param(("noun.Tops",))
    adj_lexnames: tuple[str, ...] = param(("adj.all",))


@dataclass(frozen=True)
class PromptParams:
    id: str = param("the nice {}")
    noun: str = param("the nice {}")
    adj: str = param("This is a {} photo")
    csp_seed: int = param(0, low=0)


@dataclass(frozen=True)
class EncoderParams:
    precision: str = param("fp16", choices=("fp16", "amp", "fp32"))
    preprocess: str = param("paper", choices=("paper", "openclip"))
    batch_size: int = param(256, low=1)
    num_workers: int = param(8, low=0)
    skip_unreadable: bool = param(False)


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


ABLATIONS = {"tau": TauAblation, "temperature": TemperatureAblation, "groups": GroupsAblation,
             "selection": SelectionAblation, "corpus_size": CorpusSizeAblation,
             "false_negatives": FalseNegativesAblation}
TOP_LEVEL = ("benchmarks", "backbones", "methods", "paths", "benchmark_sets", "corpus", "prompts", "encoder",
             "method_params", "ablations")


def _names(value: Any, where: str, valid) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} = {value!r} must be a non-empty list of names from {sorted(valid)}")
    for v in value:
        if v not in valid:
            raise unknown_key_error(where, v, valid)
    if len(set(value)) != len(value):
        raise ValueError(f"{where} = {value!r} lists a name twice")
    return tuple(value)


def _check_sets(name: str, sets: BenchmarkSets) -> BenchmarkSets:
    where = f"benchmark_sets.{name}"
    if name == SIMULATED:
        from ood_core import simulate

        valid_id, valid_ood = [simulate.ID_SET], list(simulate.OOD_SETS)
        try:
            simulate.SimulationConfig.from_dict(sets.simulation)
        except ValueError as err:
            raise ValueError(f"{where}.simulation: {err}") from None
    else:
        from ood_core.features import datasets

        valid_id = datasets.list_benchmarks("id") + datasets.list_benchmarks("id_shift")
        valid_ood = datasets.list_benchmarks("ood")
        if sets.simulation is not None:
            raise ValueError(f"{where}.simulation: only the {SIMULATED!r} benchmark takes simulation parameters")
    if sets.id not in valid_id:
        raise unknown_key_error(f"{where}.id", sets.id, valid_id)
    for ood in sets.ood:
        if ood not in valid_ood:
            raise unknown_key_error(f"{where}.ood", ood, valid_ood)
    return sets


def _check_lexnames(corpus: CorpusParams) -> CorpusParams:
    from ood_core.text.wordnet import LEXNAMES

    for key, prefix in (("noun_lexnames", "noun."), ("adj_lexnames", "adj.")):
        valid = sorted(n for n in LEXNAMES.values() if n.startswith(prefix))
        for name in getattr(corpus, key):
            if name not in valid:
                raise unknown_key_error(f"corpus.{key}", name, valid)
    return corpus


def _check_template(where: str, template: str) -> None:
    from ood_core.text.prompts import prompts

    try:
        prompts(["x"], template)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


class StudyParams:
    """Typed ``params.yaml``. Read values with :meth:`get` (dotted keys) or the shortcuts below."""

    def __init__(self, tree: dict, path: Path, allowed: tuple[str, ...] | None = None):
        self._tree = tree
        self.path = path
        self._allowed = allowed

    # --- access -----------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        """The value at dotted ``key`` (e.g. ``"encoder.precision"``, ``"method_params.dnm.mining"``)."""
        if self._allowed is not None and not any(key == a or key.startswith(a + ".") for a in self._allowed):
            raise UnlistedParamError(
                f"this stage reads params key {key!r}, which its dvc.yaml entry does not list "
                f"(listed: {list(self._allowed)}); add it to the stage's `params:` so DVC re-runs the stage "
                "when it changes")
        node: Any = self._tree
        for part in key.split("."):
            if dataclasses.is_dataclass(node):
                node = getattr(node, part)
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise KeyError(f"params key {key!r} does not exist in {self.path}")
        return node

    def restricted(self, keys) -> "StudyParams":
        """A view that may read only ``keys`` and what lies below them."""
        return StudyParams(self._tree, self.path, tuple(keys))

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return self.get("benchmarks")

    @property
    def backbones(self) -> tuple[str, ...]:
        return self.get("backbones")

    @property
    def methods(self) -> tuple[str, ...]:
        return self.get("methods")

    def sets(self, benchmark: str) -> BenchmarkSets:
        """The ID and OOD set names of ``benchmark``."""
        if benchmark not in self._tree["benchmark_sets"]:
            raise unknown_key_error("benchmark_sets", benchmark, self._tree["benchmark_sets"])
        return self.get(f"benchmark_sets.{benchmark}")

    def ablation(self, name: str):
        return self.get(f"ablations.{name}")


def parse_tree(raw: Any, source: str = PARAMS_FILE) -> dict:
    """Validate a ``params.yaml`` mapping and return its typed tree (method blocks stay raw)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source} must hold a mapping of parameters, not {type(raw).__name__}")
    for key in raw:
        if key not in TOP_LEVEL:
            raise unknown_key_error("", key, TOP_LEVEL)
    missing = [k for k in TOP_LEVEL if k not in raw]
    if missing:
        raise ValueError(f"{source} lacks the top-level key(s) {missing}")
    from ood_core.features.encoders import BACKBONES

    sets_raw = raw["benchmark_sets"]
    if not isinstance(sets_raw, Mapping):
        raise ValueError("benchmark_sets must map benchmark names to {id, ood}")
    tree: dict = {
        "benchmark_sets": {name: _check_sets(name, parse(BenchmarkSets, block, f"benchmark_sets.{name}"))
                           for name, block in sets_raw.items()},
    }
    tree["benchmarks"] = _names(raw["benchmarks"], "benchmarks", tree["benchmark_sets"])
    tree["backbones"] = _names(raw["backbones"], "backbones", BACKBONES)
    method_blocks = raw["method_params"]
    if not isinstance(method_blocks, Mapping):
        raise ValueError("method_params must map method names to {mining, scoring} blocks")
    tree["methods"] = _names(raw["methods"], "methods", method_blocks)
    for name, block in method_blocks.items():
        if not isinstance(block, Mapping) or set(block) - {"mining", "scoring"}:
            bad = sorted(set(block) - {"mining", "scoring"}) if isinstance(block, Mapping) else block
            raise ValueError(f"method_params.{name} = {bad!r}: a method block holds only `mining:` and `scoring:`")
    tree["method_params"] = {name: {"mining": block.get("mining"), "scoring": block.get("scoring")}
                             for name, block in method_blocks.items()}
    tree["paths"] = parse(PathsParams, raw["paths"], "paths")
    tree["corpus"] = _check_lexnames(parse(CorpusParams, raw["corpus"], "corpus"))
    tree["prompts"] = parse(PromptParams, raw["prompts"], "prompts")
    for key in ("id", "noun", "adj"):
        _check_template(f"prompts.{key}", getattr(tree["prompts"], key))
    tree["encoder"] = parse(EncoderParams, raw["encoder"], "encoder")
    ablations = raw["ablations"] or {}
    for key in ablations:
        if key not in ABLATIONS:
            raise unknown_key_error("ablations", key, ABLATIONS)
    tree["ablations"] = {key: parse(cls, ablations.get(key), f"ablations.{key}") for key, cls in ABLATIONS.items()}
    return tree


def load_params(path: str | Path = PARAMS_FILE) -> StudyParams:
    """Read and validate ``params.yaml``; errors name the dotted key, the value and the valid range."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run from the project root, or pass the params file's path")
    with open(path) as f:
        raw = yaml.safe_load(f)
    return StudyParams(parse_tree(raw, str(path)), path)
