"""The screen `make repro` ends with (ood_study.final_table): hand-written summary files in, fixed text out."""

import json
import shutil
from pathlib import Path

from ood_study import cli
from ood_study.final_table import WIDTH, render

REPO = Path(__file__).resolve().parent.parent
STUDY = "simulated-ViT-B-16"


def _project(tmp_path: Path, summaries: dict) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    for method, values in summaries.items():
        path = tmp_path / "metrics" / STUDY / "summary" / f"{method}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({method: values}))
    return tmp_path


def test_rows_show_value_and_interval_in_params_order_and_fit_100_columns(tmp_path):
    root = _project(tmp_path, {
        "neglabel": {"AUROC": 94.9712, "AUROC_lo": 94.57, "AUROC_hi": 95.38, "FPR95": 25.83, "FPR95_lo": 23.4,
                     "FPR95_hi": 28.07, "AUROC_near": 90.0},
        "mcm": {"AUROC": 89.9, "FPR95": 49.75},  # no interval: the value alone
    })
    text = render("params.yaml", root)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= WIDTH == 100
    assert any("SIMULATED" in line for line in lines) and "Not a reproduction" in text
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in ("mcm", "neglabel")}
    assert rows["neglabel"].split()[1:] == ["25.83", "[23.40,", "28.07]", "94.97", "[94.57,", "95.38]"]
    assert rows["mcm"].split()[1:] == ["49.75", "89.90"]
    assert lines.index(rows["mcm"]) < lines.index(rows["neglabel"])  # params.yaml lists mcm first
    assert "results/report.md" in text and "dvc metrics show" in text


def test_a_study_without_metrics_says_how_to_make_them(tmp_path):
    text = render("params.yaml", _project(tmp_path, {}))
    assert f"no metrics yet: run `dvc repro` to score {STUDY}" in text


def test_the_cli_prints_it(tmp_path, capsys, monkeypatch):
    root = _project(tmp_path, {"dnm": {"AUROC": 91.9, "AUROC_lo": 91.37, "AUROC_hi": 92.46, "FPR95": 34.04,
                                       "FPR95_lo": 31.27, "FPR95_hi": 36.28}})
    monkeypatch.chdir(root)
    cli.main(["final-table"])
    assert "34.04 [31.27, 36.28]" in capsys.readouterr().out
