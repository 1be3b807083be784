"""dvc.yaml against the code: paths (ood_study.layout), params keys (each stage's PARAMS), code
deps (each stage's import closure), and the notebook registry. DVC itself resolves dvc.yaml here,
so every matrix item of params.yaml (benchmark x backbone x method) is checked."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ood_study import deps
from ood_study.layout import Layout, study_name
from ood_study.notebook import NOTEBOOKS
from ood_study.params import load_params
from ood_study.stages import corpus, embed, image_set, mine, report, score

REPO = Path(__file__).resolve().parent.parent
L = Layout(Path("."))


@pytest.fixture(scope="module")
def stages():
    from dvc.repo import Repo

    return {s.name: s for s in Repo(str(REPO)).index.stages}


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml")


def _argv(stage) -> dict:
    argv = shlex.split(stage.cmd)
    return {argv[i][2:]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def _data_deps(stage) -> set[str]:
    from dvc.dependency import ParamsDependency

    code_prefixes = ("ood_core", "ood_study")
    return {d.def_path for d in stage.deps
            if not isinstance(d, ParamsDependency) and not d.def_path.startswith(code_prefixes)}


def _outs(stage) -> set[str]:
    return {o.def_path for o in stage.outs}


def _params(stage) -> list[str]:
    from dvc.dependency import ParamsDependency

    found = [d for d in stage.deps if isinstance(d, ParamsDependency)]
    return sorted(k for d in found for k in d.params)


def _expected(params) -> dict[str, dict]:
    """Every stage dvc.yaml must have: name -> {deps, outs, params}, from the path authority and the
    stage modules' PARAMS, for every benchmark x backbone x method of params.yaml."""
    p = lambda path: str(path)  # noqa: E731
    out = {"corpus": {"deps": set(), "outs": {p(L.corpus)}, "params": list(corpus.PARAMS)},
           **{f"image_set@{name}": {"deps": {f"{params.get('paths.data_root')}/{folder}"},
                                    "outs": {p(L.image_set_manifest(name))},
                                    "params": [k.format(set=name) for k in image_set.PARAMS]}
              for name, folder in params.get("image_sets").items()},
           "report": {"deps": {p(L.metrics_root)}, "outs": {p(L.report)}, "params": list(report.PARAMS)}}
    for benchmark in params.benchmarks:
        out[f"nb_backbones@{benchmark}"] = {
            "deps": {p(L.notebook_source("07_backbones")), p(L.metrics_root)},
            "outs": {p(L.notebook_dir(benchmark, "07_backbones")), p(L.figures_dir(benchmark, "07_backbones"))},
            "params": [k.format(benchmark=benchmark) for k in NOTEBOOKS["07_backbones"].params]}
        for backbone in params.backbones:
            s = study_name(benchmark, backbone)
            item = {"benchmark": benchmark, "backbone": backbone}
            out[f"embed_text@{s}"] = {"deps": {p(L.corpus)}, "outs": {p(L.text_dir(s))},
                                      "params": [k.format(**item) for k in embed.PARAMS_TEXT]}
            out[f"embed_images@{s}"] = {"deps": {p(L.image_sets_dir)}, "outs": {p(L.images_dir(s))},
                                        "params": [k.format(**item) for k in embed.PARAMS_IMAGES]}
            for method in params.methods:
                out[f"mine@{s}-{method}"] = {
                    "deps": {p(L.corpus), p(L.text_dir(s))}, "outs": {p(L.negatives(s, method))},
                    "params": [k.format(method=method, **item) for k in mine.PARAMS]}
                out[f"score@{s}-{method}"] = {
                    "deps": {p(L.corpus), p(L.embeddings_dir(s)), p(L.negatives(s, method))},
                    "outs": {p(L.scores(s, method)), p(L.score_details(s, method)), p(L.metrics(s, method)),
                             p(L.summary_metrics(s, method))},
                    "params": [k.format(method=method, **item) for k in score.PARAMS]}
            for name, spec in NOTEBOOKS.items():
                if spec.per != "study":
                    continue
                data = {"embeddings": L.embeddings_dir(s), "negatives": L.negatives_dir(s), "metrics": L.metrics_dir(s)}
                outs = {p(L.notebook_dir(s, name)), p(L.figures_dir(s, name))}
                outs |= {p(L.sweep_csv(s, name))} if spec.sweep else set()
                stage = "nb_" + name.split("_", 1)[1]
                out[f"{stage}@{s}"] = {"deps": {p(L.notebook_source(name))} | {p(data[d]) for d in spec.data},
                                       "outs": outs, "params": [k.format(**item) for k in spec.params]}
    return out


def test_every_stage_path_and_params_key_comes_from_the_code(stages, params):
    expected = _expected(params)
    assert sorted(stages) == sorted(expected)
    for name, want in expected.items():
        stage = stages[name]
        assert _data_deps(stage) == want["deps"], name
        assert _outs(stage) == want["outs"], name
        assert _params(stage) == sorted(want["params"]), name


def test_notebook_registry_matches_the_notebooks_folder_and_the_stages(stages):
    on_disk = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS)
    in_dvc = {_argv(s)["notebook"] for s in stages.values() if "--notebook" in s.cmd}
    assert in_dvc == set(NOTEBOOKS)


def test_each_stage_code_deps_cover_its_import_closure(stages):
    for name, stage in stages.items():
        closure = deps.stage_closure(stage.cmd.replace("\n", " "), REPO)
        code_deps = [d.def_path for d in stage.deps if d.def_path.startswith(("ood_core", "ood_study"))]
        missing = sorted(str(f) for f in closure if not deps.covered_by(f, code_deps))
        assert not missing, f"{name}: its code deps in dvc.yaml miss {missing} (see `python -m ood_study.deps`)"
        # and no more: a dep that covers no imported file would re-run the stage for nothing
        extra = sorted(d for d in code_deps if not any(deps.covered_by(f, [d]) for f in closure))
        assert not extra, f"{name}: dvc.yaml lists code deps it never imports: {extra}"


def test_editing_the_dnm_score_reruns_scores_and_rescoring_notebooks_but_never_an_embedding(stages):
    edited = Path("ood_core/methods/dnm.py")
    hit = {name for name, s in stages.items() if deps.covered_by(edited, [d.def_path for d in s.deps])}
    kinds = {name.split("@")[0] for name in hit}
    assert all(name in hit for name in stages if name.startswith("score@"))
    rescoring = {"nb_" + n.split("_", 1)[1] for n, spec in NOTEBOOKS.items() if "embeddings" in spec.data}
    assert rescoring <= kinds
    assert not any(k.startswith("embed_") or k == "corpus" for k in kinds), sorted(hit)


def test_closure_follows_lazy_imports_parents_and_discovered_modules(tmp_path):
    pkg = tmp_path / "ood_core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ood_core.sub import b\n")  # lazy import
    (pkg / "sub" / "__init__.py").write_text("import pkgutil\nfor m in pkgutil.iter_modules(__path__):\n    pass\n")
    (pkg / "sub" / "b.py").write_text("from . import c\n")  # relative import
    (pkg / "sub" / "c.py").write_text("import numpy\n")
    (pkg / "sub" / "d.py").write_text("")  # only reached by discovery
    (pkg / "unused.py").write_text("")
    got = {str(p) for p in deps.import_closure(["ood_core.a"], tmp_path)}
    assert got == {"ood_core/__init__.py", "ood_core/a.py", "ood_core/sub/__init__.py", "ood_core/sub/b.py",
                   "ood_core/sub/c.py", "ood_core/sub/d.py"}
    assert deps.covered_by(Path("ood_core/sub/c.py"), ["ood_core/sub"])
    assert not deps.covered_by(Path("ood_core/subway.py"), ["ood_core/sub"])


def test_stages_run_on_params_restricted_to_their_listed_keys(tiny_project):
    """The tiny project was made by the stage commands, each restricted to its PARAMS; a read of
    any other key raises. Here: the restriction itself bites."""
    from ood_study.params import UnlistedParamError

    p = load_params(tiny_project / "params.yaml").restricted(["method_params.dnm.mining"])
    assert p.get("method_params.dnm.mining")["k"] == 10
    with pytest.raises(UnlistedParamError, match="method_params.dnm.scoring"):
        p.get("method_params.dnm.scoring")
    with pytest.raises(UnlistedParamError):
        p.get("method_params")  # a parent of a listed key is more than the stage listed


@pytest.fixture(scope="module")
def real_project(tmp_path_factory):
    """dvc.yaml with params.yaml running the simulated and the imagenet1k benchmark (a DVC repo
    without git in a temp folder): the per-set image_set stages exist only there."""
    import shutil

    import yaml
    from dvc.repo import Repo

    root = tmp_path_factory.mktemp("real_dvc")
    Repo.init(str(root), no_scm=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["benchmarks"] = ["simulated", "imagenet1k"]
    raw["paths"]["data_root"] = "/data/ood"  # an absolute data root outside the project
    raw["image_sets"] = {"imagenet1k": "imagenet/val", "inaturalist": "iNaturalist/images", "sun": "SUN/images",
                         "places": "Places/images", "textures": "dtd/images"}
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root, {s.name: s for s in Repo(str(root)).index.stages}


def test_each_real_image_set_folder_is_a_dependency_of_its_own_stage(real_project):
    root, stages = real_project
    params = load_params(root / "params.yaml")
    expected = _expected(params)
    assert sorted(stages) == sorted(expected)
    for name, want in expected.items():
        assert _data_deps(stages[name]) == want["deps"], name
        assert _outs(stages[name]) == want["outs"], name
        assert _params(stages[name]) == sorted(want["params"]), name
    assert _data_deps(stages["image_set@textures"]) == {"/data/ood/dtd/images"}
    stage = stages["image_set@textures"]
    closure = deps.stage_closure(stage.cmd, REPO)
    code_deps = [d.def_path for d in stage.deps if d.def_path.startswith(("ood_core", "ood_study"))]
    assert closure and all(deps.covered_by(f, code_deps) for f in closure)
    assert "data/image_sets" in _data_deps(stages["embed_images@imagenet1k-ViT-B-16"])


def test_image_sets_must_name_the_real_benchmarks_folders():
    """Checked where the images are read (embed_images, real benchmarks): params.py does not know the registry."""
    from ood_study.stages.embed import check_image_sets

    names = ["imagenet1k", "inaturalist", "sun", "places", "textures"]
    with pytest.raises(ValueError, match=r"(?s)image_sets.*imagenet1k: imagenet/val.*textures: dtd/images"):
        check_image_sets({}, names)
    image_sets = {"imagenet1k": "imagenet/val", "inaturalist": "iNaturalist/images", "sun": "SUN/images",
                  "places": "Places", "textures": "dtd/images"}
    with pytest.raises(ValueError, match=r"lacks or misnames \['places'\]"):
        check_image_sets(image_sets, names)
