"""Exploring in a notebook: the ablation grid is a notebook parameter (checked like params.yaml's
block), and each run by hand gets its own folder named by time with the params it used."""

import re

import pytest
import yaml

from ood_study.ablations import ABLATIONS
from ood_study.notebook import setup


@pytest.fixture
def in_project(tiny_project, monkeypatch):
    folder = tiny_project / "scratch"
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    (tiny_project / "dvc.yaml").touch()  # find_root looks for dvc.yaml and params.yaml
    return tiny_project


def test_the_ablation_parameter_replaces_the_grid_and_is_recorded(in_project):
    in_params = yaml.safe_load((in_project / "params.yaml").read_text())["ablations"]["tau"]["grid"]
    assert in_params != [0.05, 0.1]
    nb = setup("02_ablation_tau", "simulated", "ViT-B-16", load=False, ablation={"grid": [0.05, 0.1]})
    assert nb.ablation().grid == (0.05, 0.1)
    assert setup("02_ablation_tau", "simulated", "ViT-B-16", load=False).ablation().grid == tuple(in_params)
    record = yaml.safe_load((nb.output_dir / "run.yaml").read_text())
    assert record["notebook"] == "02_ablation_tau" and record["ablation"] == {"grid": [0.05, 0.1]}
    assert record["params"]["ablations.tau"]["grid"] == in_params  # params.yaml's block, as read
    assert record["params_file"] == str(in_project.resolve() / "params.yaml")


def test_runs_by_hand_get_their_own_folders_named_by_time(in_project):
    first = setup("02_ablation_tau", "simulated", "ViT-B-16", load=False)
    second = setup("02_ablation_tau", "simulated", "ViT-B-16", load=False)
    assert first.output_dir != second.output_dir and first.output_dir.parent == second.output_dir.parent
    for nb in (first, second):
        assert re.fullmatch(r"\d{8}-\d{6}(-\d+)?", nb.output_dir.name) and (nb.output_dir / "run.yaml").is_file()


@pytest.mark.parametrize("ablation, says", [
    ({"grid": [1.5]}, r"ablations\.tau \(with notebook '02_ablation_tau'.s parameter `ablation`\)"),
    ({"gird": [0.1]}, "gird"),
    ([0.1, 0.2], "must be a mapping of ablations.tau's fields"),
])
def test_a_bad_ablation_parameter_is_checked_like_params_yaml(in_project, ablation, says):
    with pytest.raises(ValueError, match=says):
        setup("02_ablation_tau", "simulated", "ViT-B-16", load=False, ablation=ablation)


def test_every_ablation_notebook_declares_the_parameter():
    import papermill

    from ood_study.layout import Layout
    from ood_study.stages.notebook import code_notebook

    root = Layout(__import__("pathlib").Path(__file__).resolve().parent.parent)
    for a in ABLATIONS.values():
        declared = papermill.inspect_notebook(str(root.notebook_file(a.notebook)))
        assert "ablation" in declared and declared["ablation"]["default"] == "None", a.notebook
    assert code_notebook  # the stage runs the paired script, which holds the same cell (test_notebooks_clean)
