"""Ablation grids as queued DVC experiments (ood_study.queue_sweep): the planned `dvc exp run -S`
commands, and a 2-point tau grid run by 2 queue workers whose metrics equal DNM's AUROC / FPR95
computed directly with the library at each tau."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import project_env, run_ok, shrink_params_text

from ood_study.params import load_params
from ood_study.queue_sweep import plan, queue_commands

REPO = Path(__file__).resolve().parent.parent
DVC = REPO / ".venv" / "bin" / "dvc"
STUDY = "simulated-ViT-B-16"
TAUS = (0.2, 0.7)

# Beside the shared edits: the 2-point tau grid.
TAU_GRID_EDIT = (r"  tau: \{grid: \[[^\]]*\]\}", "  tau: {grid: [%s, %s]}" % TAUS)


def _params_file(tmp_path, edit) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_tau_plan_sets_the_key_and_each_backbone_override_and_targets_only_dnm_scores(tmp_path):
    def edit(raw):
        raw["backbones"] = ["ViT-B-16", "ViT-B-32"]
        raw["ablations"]["tau"]["grid"] = [0.1, 0.6]

    experiments = plan(load_params(_params_file(tmp_path, edit)), "tau")
    # ViT-B-32's released tau (0.88) sits under per_backbone and would hide the swept value.
    expected_overrides = [("method_params.dnm.scoring.tau=0.1", "method_params.dnm.scoring.per_backbone.ViT-B-32.tau=0.1"),
                          ("method_params.dnm.scoring.tau=0.6", "method_params.dnm.scoring.per_backbone.ViT-B-32.tau=0.6")]
    assert [e.name for e in experiments] == ["sweep-tau-0.1", "sweep-tau-0.6"]
    assert [e.overrides for e in experiments] == expected_overrides
    assert {e.targets for e in experiments} == {("score@simulated-ViT-B-16-dnm", "score@simulated-ViT-B-32-dnm")}
    assert queue_commands(experiments[:1])[0] == [
        "dvc", "exp", "run", "--queue", "-n", "sweep-tau-0.1", "-S", "method_params.dnm.scoring.tau=0.1",
        "-S", "method_params.dnm.scoring.per_backbone.ViT-B-32.tau=0.1",
        "score@simulated-ViT-B-16-dnm", "score@simulated-ViT-B-32-dnm"]


def test_groups_plan_covers_every_listed_grouped_method_and_selection_one_key_at_a_time(tmp_path):
    def edit(raw):
        raw["methods"] = ["mcm", "neglabel", "dnm"]
        raw["ablations"]["groups"]["grid"] = [5]
        raw["ablations"]["selection"] = {"density_k": [20], "density_ratio_noun": [0.3],
                                         "neglabel_percentile": [0.9], "neglabel_ratio": [0.2]}

    params = load_params(_params_file(tmp_path, edit))
    (groups,) = plan(params, "groups")
    assert groups.overrides == ("method_params.neglabel.scoring.n_groups=5", "method_params.dnm.scoring.n_groups=5")
    assert groups.targets == ("score@simulated-ViT-B-16-neglabel", "score@simulated-ViT-B-16-dnm")
    selection = plan(params, "selection", prefix="sel")
    assert [(e.name, e.overrides, e.targets) for e in selection] == [
        ("sel-k-20", ("method_params.dnm.mining.k=20",), ("score@simulated-ViT-B-16-dnm",)),
        ("sel-ratio_noun-0.3", ("method_params.dnm.mining.ratio_noun=0.3",), ("score@simulated-ViT-B-16-dnm",)),
        ("sel-percentile-0.9", ("method_params.neglabel.mining.percentile=0.9",),
         ("score@simulated-ViT-B-16-neglabel",)),
        ("sel-ratio-0.2", ("method_params.neglabel.mining.ratio=0.2",), ("score@simulated-ViT-B-16-neglabel",)),
    ]


def test_a_sweep_of_an_unlisted_method_or_an_unknown_sweep_fails_clearly(tmp_path):
    params = load_params(_params_file(tmp_path, lambda raw: raw.update(methods=["mcm", "neglabel"])))
    with pytest.raises(ValueError, match=r"\['dnm'\].*methods:"):
        plan(params, "tau")
    with pytest.raises(ValueError, match="corpus_size"):
        plan(params, "corpus_size")


def _copy_working_tree(dest: Path, env) -> None:
    """The repository's tracked and untracked (not ignored) files as they are now, uncommitted edits included."""
    listed = run_ok(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO, env)
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _direct_dnm_metrics(repo: Path, tau: float) -> dict:
    """DNM's FPR95 / AUROC (%, two decimals) at ``tau`` from the library on the repo's embeddings."""
    from ood_core.evaluation import evaluate
    from ood_core.features.files import read_features
    from ood_core.text.corpus import Corpus

    emb = repo / "data" / "embeddings" / STUDY
    sets = ("sim-inaturalist", "sim-sun", "sim-places", "sim-textures")
    images = {s: read_features(emb / "images" / f"{s}.npy")[0] for s in ("sim-imagenet1k", *sets)}
    id_labels, candidates = (read_features(emb / "text" / f)[0] for f in ("id.npy", "candidates.npy"))
    is_adj = Corpus.load(repo / "data" / "corpus.tsv").is_adj
    negatives = np.load(repo / "data" / "negatives" / STUDY / "dnm.npy")
    scoring = {"tau": tau, "temperature": 0.01, "n_groups": 10, "seed": 0, "sigma": 0.0, "n_pos_samples": 1}
    table = evaluate("dnm", images["sim-imagenet1k"], {s: images[s] for s in sets}, id_labels, candidates, is_adj,
                     scoring=scoring, negatives=negatives)
    return {"FPR95": {s: float(v) for s, v in table["fpr95"].items()},
            "AUROC": {s: float(v) for s, v in table["auroc"].items()}}


@pytest.mark.skipif(not DVC.exists(), reason="needs the project's .venv (scripts/setup.sh)")
@pytest.mark.e2e
def test_a_two_point_tau_grid_on_two_queue_workers_equals_direct_scoring(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("needs the project's git repository (its file list)")
    repo = tmp_path / "repo"
    env = project_env()
    _copy_working_tree(repo, env)
    shutil.rmtree(repo / "metrics", ignore_errors=True)  # the copied metrics are the full study's
    text = shrink_params_text((repo / "params.yaml").read_text(), [TAU_GRID_EDIT])
    (repo / "params.yaml").write_text(text)
    run_ok(["git", "init", "-q"], repo, env)
    run_ok([str(DVC), "repro", f"score@{STUDY}-dnm"], repo, env)
    run_ok(["git", "add", "-A"], repo, env)
    run_ok(["git", "commit", "-qm", "small study"], repo, env)

    out = run_ok([sys.executable, "-m", "ood_study.queue_sweep", "tau", "--jobs", "2", "--dvc", str(DVC)], repo, env)
    assert "dvc queue start --jobs 2" in out
    names = [f"sweep-tau-{t}" for t in TAUS]
    assert all(name in out for name in names), out  # the printed `dvc exp show` table

    shown = json.loads(run_ok([str(DVC), "exp", "show", "--json"], repo, env))
    runs = {exp["name"]: exp["revs"][0] for rev in shown for exp in (rev.get("experiments") or [])}
    assert set(names) <= set(runs), sorted(runs)
    got = {}
    for tau, name in zip(TAUS, names):
        data = runs[name]["data"]
        assert data["params"]["params.yaml"]["data"]["method_params"]["dnm"]["scoring"]["tau"] == tau
        assert "AUROC" in data["metrics"][f"metrics/{STUDY}/summary/dnm.json"]["data"]["dnm"]  # the DVC metrics
        # the per-set numbers: a committed output of the experiment
        got[tau] = json.loads(run_ok(["git", "show", f"{runs[name]['rev']}:metrics/{STUDY}/dnm.json"], repo, env))
        expected = _direct_dnm_metrics(repo, tau)
        for metric in ("FPR95", "AUROC"):
            assert set(got[tau][metric]) == set(expected[metric])
            for s, value in expected[metric].items():
                assert got[tau][metric][s] == pytest.approx(value, abs=0.0051), (tau, metric, s)
    # The two grid points are different settings with different results.
    assert got[TAUS[0]] != got[TAUS[1]]
    # The workspace (the committed baseline) is untouched by the queued runs.
    assert "tau: 0.5" in (repo / "params.yaml").read_text()


def test_the_summary_keeps_the_metric_columns_of_the_installed_dvc(tmp_path):
    """``make sweep-queue``'s closing ``dvc exp show`` (show_command) against the installed DVC:
    it keeps the swept key and each swept method's summary AUROC / FPR95 with their bounds, and
    drops the other methods and numbers."""
    from ood_study.layout import Layout
    from ood_study.queue_sweep import Experiment, show_command
    from ood_study.study import summary_metrics, write_json

    env = project_env()
    run_ok(["git", "init", "-q"], tmp_path, env)
    run_ok(["dvc", "init", "-q"], tmp_path, env)
    layout, study = Layout(tmp_path), "simulated-ViT-B-16"
    for method, auroc in (("dnm", 95.5), ("mcm", 90.25)):  # as the score stage writes them
        view = {"AUROC": {"average": auroc, "sun": 1.0}, "FPR95": {"average": 100 - auroc},
                "AUROC_ci95": {"average": {"low": auroc - 1, "high": auroc + 0.5}}}
        write_json(layout.summary_metrics(study, method), summary_metrics(view, method))
    (tmp_path / "params.yaml").write_text("method_params:\n  dnm:\n    scoring:\n      tau: 0.1\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"score": {
        "cmd": "true", "params": ["method_params.dnm.scoring.tau"],
        "metrics": [{str(layout.summary_metrics(study, m).relative_to(tmp_path)): {"cache": False}}
                    for m in ("dnm", "mcm")]}}}))
    run_ok(["git", "add", "-A"], tmp_path, env)
    run_ok(["git", "commit", "-qm", "init"], tmp_path, env)
    experiment = Experiment("sweep-tau-0.1", ("method_params.dnm.scoring.tau=0.1",), ("score@simulated-ViT-B-16-dnm",))
    table = run_ok(show_command([experiment]), tmp_path, env, timeout=120)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert header == ["Experiment", "State", "dnm.AUROC", "dnm.AUROC_hi", "dnm.AUROC_lo", "dnm.FPR95",
                      "method_params.dnm.scoring.tau"]
    row = [c.strip() for c in table.splitlines()[2].strip("|").split("|")]
    assert row[2:] == ["95.5", "96", "94.5", "4.5", "0.1"]  # dnm's numbers (DVC prints 96.0 as 96)
    assert "90.25" not in table  # mcm (not swept) dropped
