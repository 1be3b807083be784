"""``params.yaml`` parsed once into typed, validated objects.

:func:`load_params` reads the file, checks every key and value (an unknown key names the
closest valid one; a bad value names its dotted key, the value and the valid range) and returns
a :class:`StudyParams`. Everything is read through :meth:`StudyParams.get` with a dotted key, so
a stage can be held to the keys its ``dvc.yaml`` entry lists (:meth:`StudyParams.restricted`):
reading any other key raises :class:`UnlistedParamError`, and the tests run every stage that way.

This module checks the file's **shape and names** only: every top-level key, the typed blocks
of paths, prompts, corpus, encoder and evaluation, and that lists name what they should. It
imports no feature, simulation, text or method code, so no stage depends on those through it.
Values that need the library are validated once, at the edge where the stage hands them to the
library's typed parameters: method blocks by :mod:`ood_study.method_params` (mine, score), the
simulation block, set names and backbone names by the embedding stages, lexnames by the corpus
stage, prompt templates by ``embed_text``, ablation grids by their notebook
(:func:`ood_study.ablations.parse_ablation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ood_core._params import param, parse, unknown_key_error
from ood_study.layout import check_name

__all__ = ["StudyParams", "UnlistedParamError", "EvaluationParams", "load_params", "SIMULATED", "PARAMS_FILE"]

PARAMS_FILE = "params.yaml"
MAX_PROCESSES = 1024  # encoder.processes over all nodes; one launch on this machine is bounded by its devices
SIMULATED = "simulated"  # the offline benchmark (ood_core.simulate): its numbers are never the paper's


class UnlistedParamError(KeyError):
    """A stage read a params key that its dvc.yaml entry does not list (DVC would not re-run it)."""


@dataclass(frozen=True)
class PathsParams:
    data_root: str = param("data/benchmarks", doc="real image sets (relative: to the project root)")
    cache_dir: str = param("data/cache", doc="content-addressed embedding cache")
    weights_dir: str | None = param(None, doc="open_clip cache_dir for weights (None: open_clip's default)")


@dataclass(frozen=True)
class BenchmarkSets:
    id: str = param("", doc="ID set name")
    ood: tuple[str, ...] = param(("",), doc="OOD set names")
    simulation: dict | None = param(None, doc="the simulated world's parameters (simulated benchmark only)")
    groups: dict | None = param(None, doc="named groups of OOD sets averaged apart, e.g. OpenOOD's near/far")
    expected_counts: dict | None = param(None, doc="set -> image count when a set is not the published one "
                                                   "(e.g. the mini benchmark); null: the registry's counts")


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
    batch_size: int = param(256, low=1, high=65_536)
    num_workers: int = param(8, low=0, high=256)
    skip_unreadable: bool = param(False)
    processes: int = param(1, low=1, high=MAX_PROCESSES,
                           doc="> 1: the embedding stages run that many ranks under torchrun; at most 1024, and "
                               "a launch on this machine at most one per GPU (one per CPU core without CUDA)")
    decode: str = param("pil", choices=("pil", "gpu"),
                        doc="gpu: JPEG decode + paper resize/crop on the GPU (ood_core.features.gpu_decode)")


@dataclass(frozen=True)
class EvaluationParams:
    """Error bars of every metric (ood_core.bootstrap; docs/methods.md §4)."""

    n_resamples: int = param(1000, low=1, high=100_000, doc="bootstrap resamples of the images (ID and OOD "
                                                             "separately); ceiling 100,000 (ood_core.bootstrap)")
    confidence: float = param(0.95, low=0.0, high=1.0, low_open=True, high_open=True,
                              doc="coverage of the percentile interval")
    seed: int = param(0, low=0, doc="seeds the bootstrap resamples")
    n_seeds: int = param(5, low=1, high=100, doc="seeded methods (random groups / stream) are rerun with seeds "
                                       "seed..seed+n_seeds-1 of their scoring block; 1: no seed spread")


TOP_LEVEL = ("benchmarks", "backbones", "methods", "paths", "image_sets", "benchmark_sets", "corpus", "prompts",
             "encoder",
             "method_params", "ablations", "evaluation")


def _names(value: Any, where: str, valid=None) -> tuple[str, ...]:
    """A non-empty list of distinct names, each in ``valid`` (``None``: checked where it is used)."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} = {value!r} must be a non-empty list of names"
                         + (f" from {sorted(valid)}" if valid is not None else ""))
    for v in value:
        check_name(where, v)
        if valid is not None and v not in valid:
            raise unknown_key_error(where, v, valid)
    if len(set(value)) != len(value):
        raise ValueError(f"{where} = {value!r} lists a name twice")
    return tuple(value)


def _check_sets(name: str, sets: BenchmarkSets) -> BenchmarkSets:
    """The shape of one benchmark's block; its set names are checked against the registries by the
    embedding stages (:func:`ood_study.stages.embed.check_sets`)."""
    where = f"benchmark_sets.{name}"
    check_name(f"{where}.id", sets.id)
    for ood in sets.ood:
        check_name(f"{where}.ood", ood)
        if ood in GROUP_RESERVED:
            raise ValueError(f"{where}.ood lists {ood!r}, a name reserved for the mean over the OOD sets in every "
                             "result table; rename that set")
    if name == SIMULATED:
        if not isinstance(sets.simulation, Mapping):
            raise ValueError(f"{where}.simulation = {sets.simulation!r} must be a mapping of the simulated "
                             "world's parameters (ood_core.simulate.SimulationConfig)")
    elif sets.simulation is not None:
        raise ValueError(f"{where}.simulation: only the {SIMULATED!r} benchmark takes simulation parameters")
    if sets.groups is not None:
        sets = dataclasses.replace(sets, groups=_check_groups(f"{where}.groups", sets.groups, sets.ood))
    if sets.expected_counts is not None:
        bad = {k: v for k, v in sets.expected_counts.items()
               if k not in (sets.id, *sets.ood) or isinstance(v, bool) or not isinstance(v, int) or v < 1}
        if bad or name == SIMULATED:
            raise ValueError(f"{where}.expected_counts = {dict(sets.expected_counts)!r}: give a positive image count "
                             f"for sets of this real benchmark only ({[sets.id, *sets.ood]}); wrong: {bad}")
    return sets


GROUP_RESERVED = ("average",)  # result keys that a group name would overwrite


def _check_groups(where: str, groups: Any, ood: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``{group: [OOD set, ...]}`` -> ``{group: (set, ...)}`` (params order), after checking that
    every grouped set is one of ``ood``, no set is in two groups and no group is named like a set."""
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"{where} = {groups!r} must map group names to lists of OOD sets, "
                         "e.g. {near: [ssb_hard, ninco], far: [openood_inaturalist, ...]}")
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for group, members in groups.items():
        if not isinstance(group, str) or not group or group in GROUP_RESERVED or group in ood:
            raise ValueError(f"{where}: group name {group!r} is not allowed: it must be a non-empty name "
                             f"other than {list(GROUP_RESERVED)} and the OOD set names {list(ood)}")
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"{where}.{group} = {members!r} must be a non-empty list of OOD sets from "
                             f"{where.rsplit('.', 1)[0]}.ood: {list(ood)}")
        outside = [m for m in members if m not in ood]
        if outside:
            raise ValueError(f"{where}.{group} lists {outside}, which {'is' if len(outside) == 1 else 'are'} not in "
                             f"{where.rsplit('.', 1)[0]}.ood {list(ood)}: add {'it' if len(outside) == 1 else 'them'} "
                             "there or remove it from the group")
        if len(set(members)) != len(members):
            raise ValueError(f"{where}.{group} = {list(members)} lists a set twice")
        names = tuple(members)
        for member in names:
            if member in seen:
                raise ValueError(f"{where}: {member!r} is in both {seen[member]!r} and {group!r}; "
                                 "a set may be in one group only")
            seen[member] = group
        out[group] = names
    return out


def _check_image_sets(raw: Any) -> dict[str, str]:
    """``image_sets``: set -> its folder under ``paths.data_root`` (checked against the dataset
    registry and ``benchmarks`` by the stages that read images: :mod:`ood_study.stages.image_set`)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f"image_sets = {raw!r} must map image-set names to their folders under paths.data_root")
    for key in raw:
        check_name("image_sets key", key)
    return dict(raw)


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
        """The ID and OOD set names of ``benchmark``, and its ``groups`` (group -> OOD sets, or None)."""
        if benchmark not in self._tree["benchmark_sets"]:
            raise unknown_key_error("benchmark_sets", benchmark, self._tree["benchmark_sets"])
        return self.get(f"benchmark_sets.{benchmark}")



def parse_tree(raw: Any, source: str = PARAMS_FILE) -> dict:
    """Check a ``params.yaml`` mapping's shape and return its tree (method and ablation blocks stay raw)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source} must hold a mapping of parameters, not {type(raw).__name__}")
    for key in raw:
        if key not in TOP_LEVEL:
            raise unknown_key_error("", key, TOP_LEVEL)
    missing = [k for k in TOP_LEVEL if k not in raw]
    if missing:
        raise ValueError(f"{source} lacks the top-level key(s) {missing}")
    sets_raw = raw["benchmark_sets"]
    if not isinstance(sets_raw, Mapping):
        raise ValueError("benchmark_sets must map benchmark names to {id, ood}")
    for name in sets_raw:
        check_name("benchmark_sets key", name)
    tree: dict = {
        "benchmark_sets": {name: _check_sets(name, parse(BenchmarkSets, block, f"benchmark_sets.{name}"))
                           for name, block in sets_raw.items()},
    }
    tree["benchmarks"] = _names(raw["benchmarks"], "benchmarks", tree["benchmark_sets"])
    tree["backbones"] = _names(raw["backbones"], "backbones")
    tree["image_sets"] = _check_image_sets(raw["image_sets"])
    method_blocks = raw["method_params"]
    if not isinstance(method_blocks, Mapping):
        raise ValueError("method_params must map method names to {mining, scoring} blocks")
    tree["methods"] = _names(raw["methods"], "methods", method_blocks)
    for name, block in method_blocks.items():
        check_name("method_params key", name)
        if not isinstance(block, Mapping) or set(block) - {"mining", "scoring"}:
            bad = sorted(set(block) - {"mining", "scoring"}) if isinstance(block, Mapping) else block
            raise ValueError(f"method_params.{name} = {bad!r}: a method block holds only `mining:` and `scoring:`")
    tree["method_params"] = {name: {"mining": block.get("mining"), "scoring": block.get("scoring")}
                             for name, block in method_blocks.items()}
    tree["paths"] = parse(PathsParams, raw["paths"], "paths")
    tree["corpus"] = parse(CorpusParams, raw["corpus"], "corpus")
    tree["prompts"] = parse(PromptParams, raw["prompts"], "prompts")
    tree["encoder"] = parse(EncoderParams, raw["encoder"], "encoder")
    if tree["encoder"].decode == "gpu" and tree["encoder"].preprocess != "paper":
        raise ValueError(f"encoder.decode = 'gpu' implements the paper preprocessing only, but encoder.preprocess = "
                         f"{tree['encoder'].preprocess!r}: set encoder.preprocess: paper or encoder.decode: pil")
    ablations = raw["ablations"] or {}
    if not isinstance(ablations, Mapping) or not all(isinstance(v, Mapping) or v is None for v in ablations.values()):
        raise ValueError(f"ablations = {ablations!r} must map ablation names to their grids "
                         "(ood_study.ablations.ABLATIONS; each notebook checks its own)")
    tree["ablations"] = dict(ablations)
    tree["evaluation"] = parse(EvaluationParams, raw["evaluation"], "evaluation")
    return tree


def load_params(path: str | Path = PARAMS_FILE) -> StudyParams:
    """Read and validate ``params.yaml``; errors name the dotted key, the value and the valid range."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run from the project root, or pass the params file's path")
    with open(path) as f:
        raw = yaml.safe_load(f)
    return StudyParams(parse_tree(raw, str(path)), path)
