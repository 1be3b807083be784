"""DVC experiments as researchers use them: `dvc exp run -S` on a small study, its metrics in
`dvc exp show` and in the experiment's commit, and params.yaml kept as written (comments and
layout) apart from the changed value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import project_env, run_ok, shrink_params_text

REPO = Path(__file__).resolve().parent.parent
DVC = REPO / ".venv" / "bin" / "dvc"
STUDY = "simulated-ViT-B-16"

@pytest.mark.skipif(not DVC.exists(), reason="needs the project's .venv (scripts/setup.sh)")
def test_an_experiment_carries_its_metrics_and_changes_only_its_value(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("needs the project's git repository")
    repo = tmp_path / "repo"
    env = project_env()
    run_ok(["git", "clone", "-q", str(REPO), str(repo)], tmp_path, env)
    shutil.rmtree(repo / "metrics", ignore_errors=True)  # the clone's committed metrics are the full study's
    text = shrink_params_text((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(text)
    target = f"score@{STUDY}-dnm"
    run_ok([str(DVC), "repro", target], repo, env)
    run_ok(["git", "add", "-A"], repo, env)
    run_ok(["git", "commit", "-qm", "small study"], repo, env)
    baseline = json.loads((repo / "metrics" / STUDY / "dnm.json").read_text())  # per set (a committed output)
    baseline_summary = json.loads((repo / "metrics" / STUDY / "summary" / "dnm.json").read_text())

    run_ok([str(DVC), "exp", "run", "-n", "tau01", "-S", "method_params.dnm.scoring.tau=0.1", target], repo, env)
    shown = json.loads(run_ok([str(DVC), "exp", "show", "--json"], repo, env))
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    (tau01,) = [e for e in experiments if e.get("name") == "tau01"]
    (run,) = tau01["revs"]
    # the DVC metrics are the handful of summary numbers per method (the per-set file is detail)
    metrics = run["data"]["metrics"][f"metrics/{STUDY}/summary/dnm.json"]["data"]
    assert set(metrics) == {"dnm"} and {"AUROC", "AUROC_lo", "AUROC_hi", "FPR95"} <= set(metrics["dnm"])
    assert metrics["dnm"]["AUROC_lo"] <= metrics["dnm"]["AUROC"] <= metrics["dnm"]["AUROC_hi"]
    assert run["data"]["params"]["params.yaml"]["data"]["method_params"]["dnm"]["scoring"]["tau"] == 0.1

    # The experiment's commit holds its metrics, and its params.yaml differs in that one value only.
    committed = json.loads(run_ok(["git", "show", f"{run['rev']}:metrics/{STUDY}/summary/dnm.json"], repo, env))
    assert committed == metrics and committed != baseline_summary
    per_set = json.loads(run_ok(["git", "show", f"{run['rev']}:metrics/{STUDY}/dnm.json"], repo, env))
    assert set(per_set["AUROC"]) == set(baseline["AUROC"]) and per_set != baseline
    diff = run_ok(["git", "diff", "-U0", "HEAD", run["rev"], "--", "params.yaml"], repo, env)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert [line[0] + line[1:].split("#")[0].strip() for line in changed] == ["-tau: 0.5", "+tau: 0.1"], diff
    assert "# ID-like fraction of the wild corpus" in changed[1]  # the comment survives
