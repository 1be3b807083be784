"""DVC experiments as researchers use them: `dvc exp run -S` on a small study, its metrics in
`dvc exp show` and in the experiment's commit, and params.yaml kept as written (comments and
layout) apart from the changed value."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DVC = REPO / ".venv" / "bin" / "dvc"
STUDY = "simulated-ViT-B-16"

# Line edits that shrink the study (the file keeps its comments, as a user's edit would).
SMALL = [
    (r"images_per_id_class: 5 ", "images_per_id_class: 1 "),
    (r"images_per_ood_class: 20", "images_per_ood_class: 3"),
    (r"noun_lexnames:\n(  - noun\.\w+\n)+", "noun_lexnames:\n  - noun.Tops\n  - noun.motive\n  - noun.shape\n"),
    (r"adj_lexnames:\n(  - adj\.\w+\n)+", "adj_lexnames:\n  - adj.ppl\n"),
    (r"      k: 100 ", "      k: 10 "),
    (r"n_groups: 100", "n_groups: 10"),
]


def _run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{cmd}: {result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.skipif(not DVC.exists(), reason="needs the project's .venv (scripts/setup.sh)")
def test_an_experiment_carries_its_metrics_and_changes_only_its_value(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("needs the project's git repository")
    repo = tmp_path / "repo"
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@localhost", "DVC_NO_ANALYTICS": "1"}
    _run(["git", "clone", "-q", str(REPO), str(repo)], tmp_path, env)
    shutil.rmtree(repo / "metrics", ignore_errors=True)  # the clone's committed metrics are the full study's
    text = (repo / "params.yaml").read_text()
    for pattern, new in SMALL:
        text, n = re.subn(pattern, new, text)
        assert n >= 1, pattern
    (repo / "params.yaml").write_text(text)
    target = f"score@{STUDY}-dnm"
    _run([str(DVC), "repro", target], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "small study"], repo, env)
    baseline = json.loads((repo / "metrics" / STUDY / "dnm.json").read_text())

    _run([str(DVC), "exp", "run", "-n", "tau01", "-S", "method_params.dnm.scoring.tau=0.1", target], repo, env)
    shown = json.loads(_run([str(DVC), "exp", "show", "--json"], repo, env))
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or [])]
    (tau01,) = [e for e in experiments if e.get("name") == "tau01"]
    (run,) = tau01["revs"]
    metrics = run["data"]["metrics"][f"metrics/{STUDY}/dnm.json"]["data"]
    assert {"FPR95", "AUROC", "AUROC_ci95"} <= set(metrics) and set(metrics["AUROC"]) == set(baseline["AUROC"])
    assert run["data"]["params"]["params.yaml"]["data"]["method_params"]["dnm"]["scoring"]["tau"] == 0.1

    # The experiment's commit holds its metrics, and its params.yaml differs in that one value only.
    committed = json.loads(_run(["git", "show", f"{run['rev']}:metrics/{STUDY}/dnm.json"], repo, env))
    assert committed == metrics and committed != baseline
    diff = _run(["git", "diff", "-U0", "HEAD", run["rev"], "--", "params.yaml"], repo, env)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert [line[0] + line[1:].split("#")[0].strip() for line in changed] == ["-tau: 0.5", "+tau: 0.1"], diff
    assert "# ID-like fraction of the wild corpus" in changed[1]  # the comment survives
