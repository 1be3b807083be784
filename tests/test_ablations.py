"""Every declared ablation, tested by its declaration (``ood_study.ablations.ABLATIONS``).

Each entry's ``run`` is called on the tiny simulated study of ``tests/conftest.py`` with the
entry's ``tiny`` grid, and every sweep must meet expectations that do not come from the sweep code:
one row per OOD set (and the average) for each swept setting, every grid value present, metrics
in [0, 100], each bootstrap interval around its point, the average the mean of the sets; and at
the params.yaml setting (``default``) the rows reproduce the method's own score computed directly
by the library (``ood_core``'s registry scoring and ``ood_core.metrics``) on the stage's negatives.
"""

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from ood_core import evaluation, metrics
from ood_core.exact import exact_products
from ood_study import experiments as ex
from ood_study.ablations import ABLATIONS, parse_ablation
from ood_study.layout import Layout
from ood_study.method_params import methods_taking, mining_params, scoring_params
from ood_study.params import EvaluationParams, load_params
from ood_study.study import load_study

BENCHMARK, BACKBONE = "simulated", "ViT-B-16"
EVALUATION = EvaluationParams(n_resamples=50, confidence=0.95, seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_project: Path):
    params = load_params(tiny_project / "params.yaml")
    sets = params.sets(BENCHMARK)
    study = load_study(Layout(tiny_project), BENCHMARK, BACKBONE, sets.id, sets.ood)
    return study, params


def _grid(params, name: str, **override):
    return parse_ablation(name, {**params.get(f"ablations.{name}"), **override})


def _library_average(study, method: str, scoring) -> dict[str, float]:
    """Average FPR95 / AUROC (%) over the OOD sets of ``method`` on the stage's negatives, straight from
    ``ood_core``: the registry's scores and ``ood_core.metrics`` (no ``ood_study`` code), with the
    application's exact products (``ood_core.exact``)."""
    with exact_products():
        pairs = evaluation.score_pairs(method, study.images[study.id_split],
                                       {s: study.images[s] for s in study.ood_splits}, study.texts,
                                       study.negatives(method), scoring)
    per_set = [metrics.ood_metrics(i, o) for i, o in pairs.values()]
    return {m: 100.0 * float(np.mean([p[m] for p in per_set])) for m in ("fpr95", "auroc")}


def _run(ablation, study, params, grid):
    """The entry's ``run`` on ``grid``; a paired sweep (no ``valid`` column: it raises on a rejected
    value instead of writing a row) has every row valid."""
    sweep = getattr(ex, ablation.run)(study, params, BACKBONE, grid, evaluation=EVALUATION)
    return sweep if "valid" in sweep.columns else sweep.assign(valid=True)


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_every_ablation_sweep_is_complete_in_range_and_inside_its_intervals(tiny, name):
    study, params = tiny
    ablation = ABLATIONS[name]
    grid = _grid(params, name)
    sweep = _run(ablation, study, params, grid)
    required = {"method", "parameter", "value", "ood_set", "fpr95", "auroc", *ex.INTERVAL_COLUMNS}
    assert required <= set(sweep.columns), f"{name}: missing {required - set(sweep.columns)}"
    sets = sorted([*study.ood_splits, "average"])
    setting = [c for c in ("method", "parameter", "value", "variant", "k", "ratio_noun") if c in sweep.columns]
    for key, rows in sweep.groupby(setting, dropna=False):
        assert sorted(rows.ood_set) == sets, f"{name} {key}: OOD sets {sorted(rows.ood_set)} != {sets}"
    for f in fields(grid):  # every value of every swept field shows up in the table
        values = getattr(grid, f.name)
        if isinstance(values, tuple):
            shown = np.concatenate([sweep[c].to_numpy(dtype=float) for c in sweep.columns
                                    if sweep[c].dtype.kind in "fi"])
            for v in values:
                assert np.isclose(shown, v).any(), f"{name}: grid value {f.name}={v} has no row"
    valid = sweep[sweep.valid]
    assert len(valid), f"{name}: no valid row"
    for m in ("fpr95", "auroc"):
        assert valid[m].between(0, 100).all(), f"{name}: {m} outside [0, 100]"
        assert (valid[f"{m}_low"] <= valid[m] + 1e-9).all() and (valid[m] <= valid[f"{m}_high"] + 1e-9).all(), \
            f"{name}: a {m} interval does not contain its point"
    for key, rows in valid.groupby(setting, dropna=False):
        by_set = rows.set_index("ood_set")
        for m in ("fpr95", "auroc"):
            assert by_set.loc["average", m] == pytest.approx(by_set.loc[list(study.ood_splits), m].mean()), key


def _default_runs(params, name: str):
    """(methods or [None], grid at params.yaml's setting): for a ``*`` key one run per distinct
    params.yaml value, checked on the methods that have that value."""
    ablation = ABLATIONS[name]
    per_method = {k for k in ablation.default.values() if isinstance(k, str) and k.startswith("*.")}
    assert len(per_method) <= 1, "one per-method key per ablation"

    def value(spec, method):
        if not isinstance(spec, str):
            return spec
        owner, block, key = spec.split(".")
        owner = method if owner == "*" else owner
        typed = (scoring_params if block == "scoring" else mining_params)(params, owner, BACKBONE)
        return getattr(typed, key)

    if per_method:
        _, block, key = next(iter(per_method)).split(".")
        targets = methods_taking(params, key, block)
    else:
        targets = [None]
    by_grid: dict = {}  # methods sharing a params.yaml value share a run
    for method in targets:
        by_grid.setdefault(tuple((f, value(spec, method)) for f, spec in ablation.default.items()), []).append(method)
    for point, owners in by_grid.items():
        yield owners, _grid(params, name, **{f: [v] for f, v in point})


@pytest.mark.parametrize("name", sorted(n for n, a in ABLATIONS.items() if a.default))
def test_every_ablation_reproduces_the_library_at_the_params_yaml_setting(tiny, name):
    study, params = tiny
    ablation = ABLATIONS[name]
    checked = 0
    for owners, grid in _default_runs(params, name):
        sweep = _run(ablation, study, params, grid)
        average = sweep[(sweep.ood_set == "average") & sweep.valid]
        for row in average.itertuples():
            if owners != [None] and row.method not in owners:
                continue
            want = _library_average(study, row.method, scoring_params(params, row.method, BACKBONE))
            assert row.auroc == pytest.approx(want["auroc"], abs=1e-9), (name, row.method, row.parameter)
            assert row.fpr95 == pytest.approx(want["fpr95"], abs=1e-9), (name, row.method, row.parameter)
            checked += 1
    assert checked, f"{name}: no valid row at the params.yaml setting"
