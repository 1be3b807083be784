"""Shared fixtures: a tiny simulated project run through the stages' own commands."""

import os
import re
import subprocess
from pathlib import Path

# dvc first: it binds its log handlers to sys.stdout/sys.stderr when first imported. Imported inside
# a test that uses capsys, they would keep that test's capture stream, which pytest closes
# afterwards, and a later in-process Repo.init would fail to log; imported here they bind to the
# session-wide capture, which lives as long as the run.
import dvc  # noqa: F401
import pytest
import yaml

from ood_study.ablations import ABLATIONS

REPO = Path(__file__).resolve().parent.parent

#: fixtures that run whole pipelines (every stage on the tiny project, the mini real benchmark):
#: a test using one is end-to-end, like those marked by hand (dvc repro, torchrun, browser, queues).
E2E_FIXTURES = {"tiny_project", "mini_benchmark", "real_project", "two_runs"}
#: modules that are end-to-end as a whole: queued DVC experiments, the JupyterLab browser test, dvc repro
#: of the mini real benchmark, papermill of every notebook
E2E_MODULES = {"test_dvc_experiments", "test_jupyterlab", "test_mini_benchmark", "test_pipeline"}


def pytest_collection_modifyitems(config, items):
    """Mark the end-to-end tests ``e2e`` (``make test-fast`` deselects them; ``make test`` runs all)."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) or item.module.__name__ in E2E_MODULES:
            item.add_marker(pytest.mark.e2e)


def tiny_params() -> dict:
    """params.yaml with small sizes, so the whole pipeline runs in seconds (smoke tests only)."""
    with open(REPO / "params.yaml") as f:
        params = yaml.safe_load(f)
    params["corpus"]["noun_lexnames"] = ["noun.Tops", "noun.motive", "noun.shape", "noun.object"]
    params["corpus"]["adj_lexnames"] = ["adj.ppl"]
    sim = params["benchmark_sets"]["simulated"]["simulation"]
    sim.update(TINY_SIMULATION)
    mp = params["method_params"]
    mp["dnm"]["mining"]["k"] = mp["dnm_auto"]["mining"]["k"] = 10
    for method in ("neglabel", "csp", "dnm", "dnm_auto"):
        mp[method]["scoring"]["n_groups"] = 10
    mp["dnm_auto"]["scoring"].update(tau_n_folds=2, tau_n_bootstrap=50)
    for block in mp.values():  # TANL picks its activated negatives from the corpus: fewer for small corpora
        if isinstance(block.get("scoring"), dict) and "n_activated" in block["scoring"]:
            block["scoring"]["n_activated"] = 100
    params["evaluation"].update(n_resamples=50, n_seeds=2)
    for name, ablation in ABLATIONS.items():  # each ablation declares its tiny grid (ood_study.ablations)
        params["ablations"][name] = {**(params["ablations"].get(name) or {}), **ablation.tiny}
    return params


TINY_SIMULATION = {"images_per_id_class": 1, "images_per_ood_class": 3}
STUDY = ["--benchmark", "simulated", "--backbone", "ViT-B-16"]


def run_stages(root: Path, params_path: Path) -> None:
    """corpus -> embed -> mine -> score for the one study of ``params_path``, as dvc repro would."""
    from ood_study.params import load_params
    from ood_study.stages import corpus, embed, mine, score

    common = ["--params", str(params_path), "--root", str(root)]
    corpus.main(common)
    embed.main(["text", *common, *STUDY])
    embed.main(["images", *common, *STUDY])
    for method in load_params(params_path).methods:
        mine.main([*common, *STUDY, "--method", method])
        score.main([*common, *STUDY, "--method", method])


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """A project root with params.yaml, corpus, embeddings, negatives and metrics of one study."""
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").symlink_to(REPO / "notebooks")  # a project root holds its notebooks
    params_path = root / "params.yaml"
    params_path.write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    run_stages(root, params_path)
    return root


@pytest.fixture(scope="session")
def mini_benchmark(tmp_path_factory):
    """(data root, weights folder, counts): the mini real benchmark (ood_study.mini_benchmark) and
    the tiny-random backbone's weights file, generated once per session."""
    from ood_core.features.encoders import write_random_weights
    from ood_study.mini_benchmark import BACKBONE, write_mini_benchmark

    root = tmp_path_factory.mktemp("mini_benchmark")
    counts = write_mini_benchmark(root / "data")
    weights = write_random_weights(BACKBONE, root / "weights")
    return root / "data", weights.parent, counts


# Line edits that shrink the study in a copy of params.yaml, as a user would make them (comments
# and layout stay, so `dvc exp run -S` round-trips it): the DVC experiment tests use them.
SMALL_PARAMS_EDITS = [
    (r"images_per_id_class: 5 ", "images_per_id_class: 1 "),
    (r"images_per_ood_class: 20", "images_per_ood_class: 3"),
    (r"noun_lexnames:\n(  - noun\.\w+\n)+", "noun_lexnames:\n  - noun.Tops\n  - noun.motive\n  - noun.shape\n"),
    (r"adj_lexnames:\n(  - adj\.\w+\n)+", "adj_lexnames:\n  - adj.ppl\n"),
    (r"      k: 100 ", "      k: 10 "),
    (r"n_groups: 100", "n_groups: 10"),
]


def shrink_params_text(text: str, extra_edits=()) -> str:
    """params.yaml text with :data:`SMALL_PARAMS_EDITS` (and ``extra_edits``) applied; each must match."""
    for pattern, new in [*SMALL_PARAMS_EDITS, *extra_edits]:
        text, n = re.subn(pattern, new, text)
        assert n >= 1, pattern
    return text


def project_env() -> dict:
    """Environment for git / dvc commands on a copy of the project: its .venv first, offline hub, a
    git identity (experiments commit), no DVC analytics."""
    return {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost", "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@localhost", "DVC_NO_ANALYTICS": "1"}


def run_ok(cmd, cwd, env, timeout=900) -> str:
    """Run ``cmd``; fail the test with the ends of its output unless it exits 0. Returns stdout."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout
