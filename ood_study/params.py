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
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ood_core._params import param, parse, unknown_key_error

__all__ = ["StudyParams", "UnlistedParamError", "EvaluationParams", "load_params", "group_averages", "SIMULATED",
           "PARAMS_FILE"]

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
    batch_size: int = param(256, low=1)
    num_workers: int = param(8, low=0)
    skip_unreadable: bool = param(False)
    processes: int = param(1, low=1, doc="> 1: the embedding stages run that many ranks under torchrun")
    decode: str = param("pil", choices=("pil", "gpu"),
                        doc="gpu: JPEG decode + paper resize/crop on the GPU (ood_core.features.gpu_decode)")


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
class EvaluationParams:
    """Error bars of every metric (ood_core.bootstrap; docs/methods.md §4)."""

    n_resamples: int = param(1000, low=1, doc="bootstrap resamples of the images (ID and OOD separately)")
    confidence: float = param(0.95, low=0.0, high=1.0, low_open=True, high_open=True,
                              doc="coverage of the percentile interval")
    seed: int = param(0, low=0, doc="seeds the bootstrap resamples")
    n_seeds: int = param(5, low=1, doc="seeded methods (random groups / stream) are rerun with seeds "
                                       "seed..seed+n_seeds-1 of their scoring block; 1: no seed spread")


ABLATIONS = {"tau": TauAblation, "temperature": TemperatureAblation, "groups": GroupsAblation,
             "selection": SelectionAblation, "corpus_size": CorpusSizeAblation,
             "false_negatives": FalseNegativesAblation, "false_negative_dose": FalseNegativeDoseAblation}
TOP_LEVEL = ("benchmarks", "backbones", "methods", "paths", "image_sets", "benchmark_sets", "corpus", "prompts",
             "encoder",
             "method_params", "ablations", "evaluation")


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


def group_averages(per_set: Mapping[str, Mapping[str, float]],
                   groups: Mapping[str, tuple[str, ...]] | None) -> dict[str, dict[str, float]]:
    """The mean of each metric over each group's sets, as OpenOOD reports near- and far-OOD averages.

    ``per_set``: OOD set -> metric -> value (the shape of ``ood_study.study.evaluate``'s result);
    ``groups``: group -> its sets (:meth:`StudyParams.sets`' ``groups``; ``None`` gives ``{}``).
    Returns group -> metric -> plain arithmetic mean over the group's sets (each set weighs the
    same, whatever its image count). The metrics are those of the group's first set; a grouped set
    missing from ``per_set`` raises KeyError naming it.
    """
    out: dict[str, dict[str, float]] = {}
    for group, members in (groups or {}).items():
        missing = [m for m in members if m not in per_set]
        if missing:
            raise KeyError(f"group {group!r} needs the metrics of {missing}, which are not among {list(per_set)}")
        metrics = list(per_set[members[0]])
        out[group] = {k: math.fsum(float(per_set[m][k]) for m in members) / len(members) for k in metrics}
    return out


def image_set_folders(tree: dict) -> dict[str, str]:
    """set -> its folder under the data root, for every set of the real benchmarks in ``benchmarks``."""
    from ood_core.features import datasets

    out: dict[str, str] = {}
    for benchmark in tree["benchmarks"]:
        if benchmark == SIMULATED:
            continue
        sets = tree["benchmark_sets"][benchmark]
        for name in (sets.id, *sets.ood):
            out[name] = datasets.get_dataset(name, root=".").path.as_posix()
    return out


def _check_image_sets(raw: Any, tree: dict) -> dict[str, str]:
    """``image_sets`` must name the folder of every image set that ``benchmarks`` reads (DVC tracks
    them through the ``image_set`` stages; dvc.yaml cannot derive that list itself)."""
    raw = {} if raw is None else raw
    need = image_set_folders(tree)
    if not isinstance(raw, Mapping) or any(raw.get(k) != v for k, v in need.items()):
        wrong = {k: v for k, v in need.items() if not isinstance(raw, Mapping) or raw.get(k) != v}
        lines = "".join(f"\n  {k}: {v}" for k, v in need.items())
        raise ValueError(f"image_sets = {raw!r} lacks or misnames {sorted(wrong)}: it must map every image set of "
                         f"the real benchmarks in `benchmarks` to its folder under paths.data_root, so DVC tracks "
                         f"them (the image_set stages); put this in params.yaml:\nimage_sets:{lines or ' {}'}")
    from ood_core.features import datasets

    for name, folder in raw.items():
        if name not in datasets.BENCHMARKS:
            raise unknown_key_error("image_sets", name, datasets.BENCHMARKS)
        expected = datasets.get_dataset(name, root=".").path.as_posix()
        if folder != expected:
            raise ValueError(f"image_sets.{name} = {folder!r}: the registry's folder of {name!r} is {expected!r}")
    return dict(raw)


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
        """The ID and OOD set names of ``benchmark``, and its ``groups`` (group -> OOD sets, or None)."""
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
    from ood_core.features.encoders import BACKBONES, RANDOM_WEIGHT_BACKBONES

    sets_raw = raw["benchmark_sets"]
    if not isinstance(sets_raw, Mapping):
        raise ValueError("benchmark_sets must map benchmark names to {id, ood}")
    tree: dict = {
        "benchmark_sets": {name: _check_sets(name, parse(BenchmarkSets, block, f"benchmark_sets.{name}"))
                           for name, block in sets_raw.items()},
    }
    tree["benchmarks"] = _names(raw["benchmarks"], "benchmarks", tree["benchmark_sets"])
    tree["backbones"] = _names(raw["backbones"], "backbones", {**BACKBONES, **RANDOM_WEIGHT_BACKBONES})
    tree["image_sets"] = _check_image_sets(raw["image_sets"], tree)
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
    if tree["encoder"].decode == "gpu" and tree["encoder"].preprocess != "paper":
        raise ValueError(f"encoder.decode = 'gpu' implements the paper preprocessing only, but encoder.preprocess = "
                         f"{tree['encoder'].preprocess!r}: set encoder.preprocess: paper or encoder.decode: pil")
    ablations = raw["ablations"] or {}
    for key in ablations:
        if key not in ABLATIONS:
            raise unknown_key_error("ablations", key, ABLATIONS)
    tree["ablations"] = {key: parse(cls, ablations.get(key), f"ablations.{key}") for key, cls in ABLATIONS.items()}
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
