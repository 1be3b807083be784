"""The pipeline is declared once (ood_study.pipeline, ood_study.ablations) and every drawing of it
derives from that: dvc.yaml, the notebook registry, the queued sweeps, the tests' tiny grids."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from ood_core import methods
from ood_study import experiments, pipeline
from ood_study.ablations import ABLATIONS, NOTEBOOKS, parse_ablation, stage_name
from ood_study.layout import Layout
from ood_study.method_params import methods_taking
from ood_study.params import load_params
from ood_study.queue_sweep import SWEEPS

REPO = Path(__file__).resolve().parent.parent


def test_the_committed_dvc_yaml_is_what_the_declarations_give():
    assert (REPO / "dvc.yaml").read_text() == pipeline.render(), (
        "dvc.yaml is out of date: run `python -m ood_study.pipeline` and commit it")


def test_dvc_yaml_lists_no_hand_written_code_dep():
    """Every code dep of every stage is in its import closure (a file, or a folder all of whose
    modules are), and every closure file is covered: nothing more, nothing less."""
    from ood_study import deps

    for stage in pipeline.stages():
        closure = {p.as_posix() for p in deps.stage_closure(stage.cmd(), REPO)}
        code = pipeline.code_deps(stage)
        assert all(deps.covered_by(Path(f), code) for f in closure), stage.name
        for dep in code:
            inside = {f for f in closure if f == dep or f.startswith(dep + "/")}
            assert inside, f"{stage.name}: code dep {dep} covers nothing it imports"
            if not dep.endswith(".py"):
                assert inside == {p.relative_to(REPO).as_posix() for p in (REPO / dep).rglob("*.py")}


def test_editing_gpu_decode_or_any_features_module_reruns_only_the_image_and_embedding_stages():
    text = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def reruns(path: str) -> set[str]:
        from ood_study import deps

        return {name for name, entry in text.items()
                if deps.covered_by(Path(path), (entry.get("do") or entry)["deps"])}

    # the image_set stage reads folders and hashes files only: it imports no decoder or encoder
    assert reruns("ood_core/features/gpu_decode.py") == {"embed_text", "embed_images"}
    assert reruns("ood_core/features/encoders.py") == {"embed_text", "embed_images"}
    assert reruns("ood_core/features/image_sets.py") == {"image_set", "embed_text", "embed_images"}
    # a method module: mining, scoring and the notebooks that re-score or draw method titles
    assert "corpus" not in reruns("ood_core/methods/dnm.py")
    assert not {"embed_text", "embed_images", "image_set"} & reruns("ood_core/methods/dnm.py")


def test_every_notebook_file_has_one_declaration_and_one_stage():
    on_disk = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert on_disk == list(NOTEBOOKS)
    names = [s.name for s in pipeline.stages()]
    assert [n for n in names if n.startswith("nb_")] == [stage_name(n) for n in NOTEBOOKS]
    assert stage_name("02_ablation_tau") == "nb_ablation_tau" and stage_name("07_backbones") == "nb_backbones"


def _called(notebook: str) -> set[str]:
    """Names called as ``experiments.<name>(...)`` in a notebook's code cells."""
    cells = json.loads((REPO / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    found = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "experiments"):
                found.add(node.attr)
    return found


def test_each_ablation_is_wired_once_params_sweep_notebook_queue_tiny_grid():
    params = load_params(REPO / "params.yaml")
    assert set(params.get("ablations")) == set(ABLATIONS)  # params.yaml has a block for each, no more
    for name, ablation in ABLATIONS.items():
        grid = parse_ablation(name, params.get(f"ablations.{name}"))
        assert isinstance(grid, ablation.params_type)
        tiny = parse_ablation(name, {**params.get(f"ablations.{name}"), **ablation.tiny})  # the tests' grid
        assert {f: getattr(tiny, f) for f in ablation.tiny} == {f: tuple(v) for f, v in ablation.tiny.items()}
        assert callable(getattr(experiments, ablation.run, None)), f"{name}: experiments.{ablation.run} does not exist"
        assert set(ablation.default) <= set(grid.__dataclass_fields__), f"{name}: default names no grid field"
        for spec in ablation.default.values():  # a params key names a method and a field of its typed block
            if isinstance(spec, str):
                method, block, key = spec.split(".")
                owners = methods_taking(params, key, block) if method == "*" else [method]
                assert owners, f"{name}: no listed method takes {key}"
                for owner in owners:
                    m = methods.get(owner)
                    typed = m.scoring_params if block == "scoring" else m.mining_params
                    assert key in typed.__dataclass_fields__, f"{name}: {owner}'s {block} has no {key}"
        for sweep in ablation.sweeps:
            assert callable(getattr(experiments, sweep)), f"{name}: experiments.{sweep} does not exist"
        assert set(ablation.sweeps) <= _called(ablation.notebook), f"{ablation.notebook} does not call {ablation.sweeps}"
        assert NOTEBOOKS[ablation.notebook].ablation == name
        assert (name in SWEEPS) == bool(ablation.queued)
        for q in ablation.queued:
            assert q.field in {f for f in grid.__dataclass_fields__}, f"{name}: queued field {q.field}"


def test_a_notebook_stage_reads_the_data_and_params_its_declaration_names():
    L = Layout(Path("."))
    text = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    tau = text["nb_ablation_tau"]
    assert tau["deps"][:3] == [str(L.notebook_source("02_ablation_tau")), "data/embeddings/${item.benchmark}-${item.backbone}",
                               "data/negatives/${item.benchmark}-${item.backbone}"]
    assert tau["params"] == ["ablations.tau", "method_params.dnm.scoring", "benchmark_sets.${item.benchmark}",
                             "evaluation"]
    backbones = text["nb_backbones"]
    assert backbones["foreach"] == "${benchmarks}" and backbones["do"]["deps"][:2] == ["notebooks/07_backbones.py",
                                                                                        "metrics"]
