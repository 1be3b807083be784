"""params.yaml: its shape and names are checked at load (ood_study.params, which imports no
library code); each value the library reads is checked once, where a stage hands it to the
library (method blocks, set and backbone names, the simulation block, lexnames, templates,
ablation grids). Every bad key or value fails before any work, naming the dotted key, the value,
the valid range or a close match."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ood_core._params import param, parse, parse_per_backbone
from ood_study.ablations import parse_ablation
from ood_study.layout import Layout
from ood_study.method_params import mining_params, scoring_params
from ood_study.params import StudyParams, load_params, parse_tree
from ood_study.stages import corpus as corpus_stage
from ood_study.stages import embed

REPO = Path(__file__).resolve().parent.parent
RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def _load(tmp_path, edit) -> StudyParams:
    raw = copy.deepcopy(RAW)
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


@dataclass(frozen=True)
class _Block:
    rate: float = param(0.5, low=0.0, high=1.0, low_open=True)
    count: int = param(3, low=1)
    mode: str = param("fast", choices=("fast", "exact"))
    names: tuple[str, ...] = param(("a",))
    limit: float | None = param(None, low=0.0)


def test_parse_checks_types_ranges_and_choices_with_dotted_keys():
    b = parse(_Block, {"rate": 1, "names": ["x", "y"], "limit": 2}, "x.y")
    assert b == _Block(rate=1.0, count=3, mode="fast", names=("x", "y"), limit=2.0)
    with pytest.raises(ValueError, match=r"x\.y\.rate = 0 is out of range: must be in \(0, 1\]"):
        parse(_Block, {"rate": 0}, "x.y")
    with pytest.raises(ValueError, match=r"x\.y\.count = 2\.5 must be an integer in \[1, inf\)"):
        parse(_Block, {"count": 2.5}, "x.y")
    with pytest.raises(ValueError, match=r"x\.y\.count = True must be an integer"):
        parse(_Block, {"count": True}, "x.y")
    with pytest.raises(ValueError, match=r"x\.y\.mode = 'exakt' is not valid \(did you mean 'exact'\?\)"):
        parse(_Block, {"mode": "exakt"}, "x.y")
    with pytest.raises(ValueError, match=r"unknown parameter 'x\.y\.rat' \(did you mean x\.y\.'rate'\?\)"):
        parse(_Block, {"rat": 0.1}, "x.y")
    with pytest.raises(ValueError, match=r"x\.y\.rate = nan must be a finite number"):
        parse(_Block, {"rate": float("nan")}, "x.y")


def test_per_backbone_overrides_merge_and_every_entry_is_checked():
    block = {"rate": 0.2, "per_backbone": {"B32": {"count": 7}, "L14": {"rate": 0.9}}}
    assert parse_per_backbone(_Block, block, "B32", "m") == _Block(rate=0.2, count=7)
    assert parse_per_backbone(_Block, block, "L14", "m") == _Block(rate=0.9)
    assert parse_per_backbone(_Block, block, "B16", "m") == _Block(rate=0.2)
    bad = {"per_backbone": {"B32": {"count": 0}}}
    with pytest.raises(ValueError, match=r"m\.per_backbone\.B32\.count = 0 is out of range"):
        parse_per_backbone(_Block, bad, "B16", "m")  # a typo in another backbone's entry fails too
    with pytest.raises(ValueError, match=r"unknown parameter 'm\.per_backbone\.B3'"):
        parse_per_backbone(_Block, {"per_backbone": {"B3": {}}}, "B16", "m", known_backbones=["B16", "B32"])


def check_methods(params, backbones=None) -> None:
    """Every listed method's blocks through the one validation the stages use."""
    for method in params.methods:
        for backbone in backbones or params.backbones:
            mining_params(params, method, backbone)
            scoring_params(params, method, backbone)


def test_the_shipped_params_parse_and_every_method_block_validates():
    params = load_params(REPO / "params.yaml")
    check_methods(params, backbones=["ViT-B-16", "ViT-B-32", "ViT-L-14", "ViT-L-14-336", "RN50"])
    assert params.sets("simulated").id == "sim-imagenet1k"
    assert parse_ablation("groups", params.get("ablations.groups")).grid == (1, 5, 10, 25, 50, 100, 200)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(methdos=r.pop("methods")), r"unknown parameter 'methdos' \(did you mean 'methods'\?\)"),
    (lambda r: r["methods"].append("dmn"), r"unknown parameter 'methods\.dmn' \(did you mean methods\.'dnm'\?\)"),
    (lambda r: r.update(benchmarks=["imagenet"]), r"'benchmarks\.imagenet' \(did you mean benchmarks\.'imagenet1k'\?\)"),
    (lambda r: r["encoder"].update(precision="fp8"), r"encoder\.precision = 'fp8' is not valid"),
    (lambda r: r["encoder"].update(batch_size=0), r"encoder\.batch_size = 0 is out of range: must be in \[1, 65536\]"),
    (lambda r: r["method_params"]["dnm"].update(minning={}), r"method_params\.dnm = \['minning'\]"),
    (lambda r: r["ablations"].update(tau=[0.1]), r"ablations = .* must map ablation names to their grids"),
])
def test_bad_shape_fails_at_load_with_the_dotted_key(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        _load(tmp_path, edit)


def _embed_check(params):
    benchmark = params.benchmarks[0]
    embed.check_sets(benchmark, params.sets(benchmark), params.backbones[0])


def _simulation(params):
    embed.feature_source(params, Layout(Path(".")), "simulated", "ViT-B-16")


def _corpus(params):
    corpus_stage.run(params, Layout(Path("/nonexistent")))


def _template(params):
    from ood_core.text.prompts import prompts

    prompts(["x"], params.get("prompts.id"))


@pytest.mark.parametrize("edit, check, message", [
    (lambda r: r.update(backbones=["ViT-B-61"]), _embed_check,
     r"'backbones\.ViT-B-61' \(did you mean backbones\.'ViT-B-16'\?\)"),
    (lambda r: r.update(benchmarks=["imagenet1k"]) or r["benchmark_sets"]["imagenet1k"].update(ood=["inaturalis"]),
     _embed_check,
     r"'benchmark_sets\.imagenet1k\.ood\.inaturalis' \(did you mean benchmark_sets\.imagenet1k\.ood\.'inaturalist'\?\)"),
    (lambda r: r["benchmark_sets"]["simulated"]["simulation"].update(rho=1.5), _simulation,
     r"benchmark_sets\.simulated\.simulation: SimulationConfig\.rho=1\.5 is invalid: must be in \[0, 1\)"),
    (lambda r: r["corpus"]["noun_lexnames"].append("noun.artefact"), _corpus,
     r"corpus\.noun_lexnames: unknown lexname\(s\) \['noun\.artefact'\]"),
    (lambda r: r["prompts"].update(id="a photo"), _template, r"template='a photo' must contain exactly one"),
    (lambda r: r["ablations"]["tau"].update(grid=[0.0, 1.0]),
     lambda p: parse_ablation("tau", p.get("ablations.tau")),
     r"ablations\.tau\.grid\[1\] = 1\.0 is out of range: must be in \[0, 1\)"),
])
def test_bad_values_fail_at_the_edge_that_reads_them(tmp_path, edit, check, message):
    params = _load(tmp_path, edit)  # the shape is fine: params.py does not judge library values
    with pytest.raises(ValueError, match=message):
        check(params)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["method_params"]["dnm"]["scoring"].update(tau=1.0),
     r"method_params\.dnm\.scoring\.tau = 1\.0 is out of range: must be in \[0, 1\)"),
    (lambda r: r["method_params"]["dnm"]["mining"].update(metric="papr"),
     r"method_params\.dnm\.mining\.metric = 'papr' is not valid \(did you mean 'paper'\?\)"),
    (lambda r: r["method_params"]["dnm"]["mining"]["per_backbone"]["ViT-B-32"].update(k=0),
     r"method_params\.dnm\.mining\.per_backbone\.ViT-B-32\.k = 0 is out of range"),
    (lambda r: r["method_params"]["neglabel"]["scoring"].update(n_group=5),
     r"unknown parameter 'method_params\.neglabel\.scoring\.n_group' \(did you mean .*'n_groups'\?\)"),
    (lambda r: r["method_params"]["mcm"].update(mining={"ratio": 0.1}), r"method_params\.mcm\.mining: .*mines no negatives"),
])
def test_bad_method_params_fail_before_mining_or_scoring(tmp_path, edit, message):
    params = _load(tmp_path, edit)  # the library-independent part loads
    with pytest.raises(ValueError, match=message):
        check_methods(params)


def test_a_method_without_a_block_is_named(tmp_path):
    params = _load(tmp_path, lambda r: r["method_params"].pop("energy") and r["methods"].remove("energy"))
    with pytest.raises(ValueError, match=r"no block method_params\.energy"):
        scoring_params(params, "energy", "ViT-B-16")
    assert mining_params(params, "dnm", "RN50").ratio_noun == 0.25


def test_parse_tree_rejects_a_non_mapping():
    with pytest.raises(ValueError, match="must hold a mapping"):
        parse_tree(["benchmarks"])


def test_an_integer_beyond_the_float_range_is_a_named_error_and_ranges_exclude_infinity():
    with pytest.raises(ValueError, match=r"x\.rate = 1000.* must be a finite number"):
        parse(_Block, {"rate": 10 ** 400}, "x")
    with pytest.raises(ValueError, match=r"x\.count = 0 is out of range: must be in \[1, inf\)"):
        parse(_Block, {"count": 0}, "x")
