"""The stages end to end on a tiny simulated study, and every notebook executed by papermill."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ood_core import methods
from ood_study.layout import Layout
from ood_study.notebook import NOTEBOOKS
from ood_study.params import load_params
from ood_study.stages import notebook as nb_stage
from ood_study.stages import report as report_stage
from ood_study.stages import score as score_stage

STUDY = "simulated-ViT-B-16"
SETS = {"sim-inaturalist", "sim-sun", "sim-places", "sim-textures", "average"}


def test_stages_write_every_output_with_simulated_in_its_path(tiny_project):
    layout = Layout(tiny_project)
    params = load_params(tiny_project / "params.yaml")
    assert set(params.methods) <= set(methods.names()) and len(params.methods) >= 6
    for method in params.methods:
        metrics = json.loads(layout.metrics(STUDY, method).read_text())
        for key in ("FPR95", "AUROC"):
            values = metrics[key]
            assert set(values) == SETS
            assert all(math.isfinite(v) and 0 <= v <= 100 for v in values.values())
            four = [values[s] for s in values if s != "average"]
            assert values["average"] == pytest.approx(np.mean(four), abs=0.01)
        detail = json.loads(layout.score_details(STUDY, method).read_text())
        assert detail["simulated"] is True and "simulated" in str(layout.metrics(STUDY, method))
        idx = np.load(layout.negatives(STUDY, method))
        assert idx.dtype == np.int64
        if methods.get(method).mines:
            assert len(idx) > 0 and np.all(np.diff(idx) > 0)
            assert 0.0 <= detail["false_negative_rate"] <= 1.0
        else:
            assert len(idx) == 0 and detail["n_negatives"] == 0


def test_rerunning_a_stage_gives_byte_identical_metrics(tiny_project):
    layout = Layout(tiny_project)
    before = layout.metrics(STUDY, "dnm").read_bytes()
    detail = layout.score_details(STUDY, "dnm").read_bytes()
    score_stage.main(["--params", str(tiny_project / "params.yaml"), "--root", str(tiny_project),
                      "--benchmark", "simulated", "--backbone", "ViT-B-16", "--method", "dnm"])
    assert layout.metrics(STUDY, "dnm").read_bytes() == before
    assert layout.score_details(STUDY, "dnm").read_bytes() == detail


def test_report_names_the_simulated_benchmark_and_lists_methods_in_params_order(tiny_project):
    report_stage.main(["--params", str(tiny_project / "params.yaml"), "--root", str(tiny_project)])
    text = Layout(tiny_project).report.read_text()
    assert "SIMULATED" in text
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    main_table = lines[first:next(i for i in range(first, len(lines) + 1) if i == len(lines) or not lines[i].startswith("|"))]
    rows = [line.split("|")[1].strip() for line in main_table if line.startswith("| ") and "---" not in line]
    methods_in_table = [r for r in rows if r in methods.names()]
    assert methods_in_table == list(load_params(tiny_project / "params.yaml").methods)


def test_unknown_notebook_is_rejected(tiny_project):
    with pytest.raises(ValueError, match="valid"):
        nb_stage.run(tiny_project / "params.yaml", Layout(tiny_project), "99_nothing", "simulated", "ViT-B-16")


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_executes_and_writes_finite_results(tiny_project, name):
    layout = Layout(tiny_project)
    backbone = None if NOTEBOOKS[name].per == "benchmark" else "ViT-B-16"
    nb_stage.run(tiny_project / "params.yaml", layout, name, "simulated", backbone)
    owner = "simulated" if backbone is None else STUDY
    out = layout.notebook_dir(owner, name)
    assert (out / f"{name}.ipynb").exists()
    figures = list(layout.figures_dir(owner, name).glob("*.png"))  # the stage's image plots
    assert figures, f"{name} saved no figure"
    assert all(f.stat().st_size > 1000 for f in figures)
    assert sorted(p.stem for p in (out / "figures").glob("*.pdf")) == sorted(p.stem for p in figures)
    sweep = layout.sweep_csv(STUDY, name)
    assert sweep.exists() == NOTEBOOKS[name].sweep
    if sweep.exists():
        table = pd.read_csv(sweep)
        valid = table[table["valid"]]
        assert len(valid) > 0
        assert np.isfinite(valid[["fpr95", "auroc"]].to_numpy()).all()
    tables = list((out / "tables").glob("*.md"))
    if name in ("01_main_results", "07_backbones", "08_false_negatives"):
        assert tables, f"{name} wrote no table"
    for t in tables:
        assert "nan" not in t.read_text().lower().replace("–", "")
        assert "SIMULATED" in t.read_text(), f"{t} does not say its numbers are simulated"


def test_real_benchmark_without_images_fails_with_the_layout_before_encoding(tiny_project, tmp_path, monkeypatch):
    import yaml

    from ood_core.features import encoders, image_sets
    from ood_study.stages import embed

    params_path = tmp_path / "params.yaml"
    raw = yaml.safe_load((tiny_project / "params.yaml").read_text())
    raw["paths"]["data_root"] = str(tmp_path / "no-data")
    sets = raw["benchmark_sets"]["imagenet1k"]
    raw["image_sets"] = {n: image_sets.image_set(n, root=".").path.as_posix() for n in (sets["id"], *sets["ood"])}
    params_path.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("OOD_DATA_ROOT", raising=False)

    def no_encoder(*args, **kwargs):  # the check must come first: never load weights for nothing
        raise AssertionError("the encoder was loaded before the datasets were checked")

    monkeypatch.setattr(encoders, "load_backbone", no_encoder)
    with pytest.raises(FileNotFoundError) as info:
        embed.main(["images", "--params", str(params_path), "--root", str(tiny_project),
                    "--benchmark", "imagenet1k", "--backbone", "ViT-B-16"])
    message = str(info.value)
    assert "imagenet" in message.lower() and "val" in message


def test_the_command_line_dispatches_to_the_stages(tiny_project, capsys):
    from ood_study import cli

    cli.main(["report", "--params", str(tiny_project / "params.yaml"), "--root", str(tiny_project)])
    assert "SIMULATED" in Layout(tiny_project).report.read_text()
    with pytest.raises(SystemExit) as info:
        cli.main(["mien"])
    assert info.value.code == 2 and "unknown command 'mien'; commands: corpus, embed, mine" in capsys.readouterr().err


def test_a_misspelt_injected_parameter_is_an_error():
    from ood_study.stages.notebook import check_parameters

    source = Layout(Path(__file__).resolve().parent.parent).notebook_file("02_ablation_tau")
    check_parameters(source, {"benchmark": "simulated", "backbone": "ViT-B-16", "dvc_stage": True})
    with pytest.raises(ValueError, match=r"\['backbon'\] are not in its `parameters` cell"):
        check_parameters(source, {"benchmark": "simulated", "backbon": "ViT-B-16"})


def test_a_notebook_run_by_hand_writes_outside_the_dvc_outputs(tiny_project, monkeypatch):
    from ood_study.notebook import setup

    folder = tiny_project / "scratch"  # a folder inside the project, as notebooks/ for `make lab`
    folder.mkdir(exist_ok=True)  # (tiny_project/notebooks is a symlink into the repository)
    monkeypatch.chdir(folder)
    (tiny_project / "dvc.yaml").touch()  # find_root looks for dvc.yaml and params.yaml
    nb = setup("02_ablation_tau", "simulated", "ViT-B-16")
    assert nb.layout.root == tiny_project.resolve() and not nb.dvc_stage
    assert nb.output_dir.parent == tiny_project.resolve() / "results" / "interactive" / STUDY / "02_ablation_tau"
    sweep = nb.save_sweep(pd.DataFrame({"method": ["dnm"], "parameter": ["tau"], "value": [0.5],
                                        "ood_set": ["average"], "auroc": [90.0], "valid": [True]}))
    assert sweep.parent == nb.output_dir and not Layout(tiny_project).sweep_csv(STUDY, "interactive").exists()
