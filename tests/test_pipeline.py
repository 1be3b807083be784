"""The pipeline end to end on a tiny simulated study, and every notebook executed by papermill."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from ood_core import pipeline
from ood_core.study import METHODS

STUDY = "simulated-ViT-B-16"


def test_stages_write_every_output_with_simulated_in_its_path(tiny_project):
    for method in METHODS:
        metrics = json.loads((tiny_project / "metrics" / STUDY / f"{method}.json").read_text())
        for key in ("FPR95", "AUROC"):
            values = metrics[key]
            assert set(values) == {"sim-inaturalist", "sim-sun", "sim-places", "sim-textures", "average"}
            assert all(math.isfinite(v) and 0 <= v <= 100 for v in values.values())
            four = [values[s] for s in values if s != "average"]
            assert values["average"] == pytest.approx(np.mean(four), abs=0.01)
        detail = json.loads((tiny_project / "results" / STUDY / "scores" / f"{method}.json").read_text())
        assert detail["simulated"] is True
    for method in ("neglabel", "csp", "dnm"):
        idx = np.load(tiny_project / "data" / "negatives" / STUDY / f"{method}.npy")
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)


def test_rerunning_a_stage_gives_byte_identical_metrics(tiny_project):
    path = tiny_project / "metrics" / STUDY / "dnm.json"
    before = path.read_bytes()
    detail = (tiny_project / "results" / STUDY / "scores" / "dnm.json").read_bytes()
    pipeline.main(["score", "--params", str(tiny_project / "params.yaml"), "--root", str(tiny_project),
                   "--benchmark", "simulated", "--backbone", "ViT-B-16", "--method", "dnm"])
    assert path.read_bytes() == before
    assert (tiny_project / "results" / STUDY / "scores" / "dnm.json").read_bytes() == detail


def test_report_names_the_simulated_benchmark(tiny_project):
    params = pipeline.load_params(tiny_project / "params.yaml")
    pipeline.run_report(params, tiny_project)
    text = (tiny_project / "results" / "report.md").read_text()
    assert "SIMULATED" in text and "dnm" in text


def test_unknown_notebook_is_rejected(tiny_project):
    with pytest.raises(ValueError, match="valid"):
        pipeline.run_notebook(tiny_project / "params.yaml", tiny_project, "99_nothing", "simulated", "ViT-B-16")


@pytest.mark.parametrize("name", pipeline.NOTEBOOKS)
def test_notebook_executes_and_writes_finite_results(tiny_project, name):
    backbone = None if name == "07_backbones" else "ViT-B-16"
    pipeline.run_notebook(tiny_project / "params.yaml", tiny_project, name, "simulated", backbone)
    out = tiny_project / "results" / ("simulated" if backbone is None else STUDY) / name
    assert (out / f"{name}.ipynb").exists()
    figures = list((out / "figures").glob("*.png"))
    assert figures, f"{name} saved no figure"
    assert all(f.stat().st_size > 1000 for f in figures)
    sweep = out / "tables" / "sweep.csv"
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
    params = pipeline.load_params(tiny_project / "params.yaml")
    params["paths"]["data_root"] = str(tmp_path / "no-data")
    monkeypatch.delenv("OOD_DATA_ROOT", raising=False)

    def no_encoder(*args, **kwargs):  # the check must come first: never load weights for nothing
        raise AssertionError("the encoder was loaded before the datasets were checked")

    monkeypatch.setattr(pipeline, "_real_encoder", no_encoder)
    with pytest.raises(FileNotFoundError) as info:
        pipeline.run_embed_images(params, tiny_project, "imagenet1k", "ViT-B-16")
    message = str(info.value)
    assert "imagenet" in message.lower() and "val" in message
