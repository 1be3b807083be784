"""The fit of the simulated world's OOD sets (ood_study.calibrate): objective, params.yaml writer,
and a shortened fit end to end (the protocol's budget is 32 Sobol points + 100 Nelder-Mead steps)."""

import json
import shutil

import pytest
import yaml

from ood_study import calibrate as K
from tests.conftest import REPO, tiny_params

# docs/methods.md §6, typed in (FPR95, AUROC %): the objective's 16 numbers
PUBLISHED = {
    "mcm": {"inaturalist": (30.91, 94.61), "sun": (37.59, 92.57), "places": (44.69, 89.77), "textures": (57.77, 86.11)},
    "neglabel": {"inaturalist": (1.91, 99.49), "sun": (20.53, 95.49), "places": (35.59, 91.64),
                 "textures": (43.56, 90.22)},
}


def test_targets_are_the_published_cells_and_nothing_else():
    for s in ("inaturalist", "sun", "places", "textures"):
        assert K.published_targets(f"sim-{s}") == {m: PUBLISHED[m][s] for m in ("mcm", "neglabel")}


def test_objective_hand_computed():
    pub = K.published_targets("sim-inaturalist")
    # AUROC off by 1 and FPR95 off by 4 in MCM: 1 + (4 / 4)^2 = 2; NegLabel exact
    assert K.set_objective({"mcm": (34.91, 93.61), "neglabel": (1.91, 99.49)}, pub) == pytest.approx(2.0)
    assert K.set_objective({"mcm": (30.91, 94.61), "neglabel": (9.91, 99.49)}, pub) == pytest.approx(4.0)


PARAMS_SNIPPET = """\
benchmark_sets:
  simulated:
    simulation:
      seed: 0
      world: a_priori              # which world
      ood_sets: {}                 # the fitted block
    ood:
    - sim-sun
other: 1   # a comment that must survive
"""


def test_write_fitted_block_rewrites_only_the_block(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_SNIPPET)
    fitted = {s: {"id_proximity": 0.5, "unnamed": 0.25, "image_noise": 3.0}
              for s in ("sim-inaturalist", "sim-sun", "sim-places", "sim-textures")}
    K.write_fitted_block(path, fitted)
    fitted["sim-sun"]["unnamed"] = 1.125
    K.write_fitted_block(path, fitted)  # a second write replaces the block, it does not append
    text = path.read_text()
    sim = yaml.safe_load(text)["benchmark_sets"]["simulated"]["simulation"]
    assert sim["world"] == "fitted" and sim["ood_sets"] == fitted and sim["seed"] == 0
    assert "# a comment that must survive" in text and "# the fitted block" in text
    assert text.count("sim-sun: {") == 1
    assert yaml.safe_load(text)["benchmark_sets"]["simulated"]["ood"] == ["sim-sun"]
    path.write_text("benchmark_sets: {}\n")
    with pytest.raises(ValueError, match="needs `world:` and `ood_sets:`"):
        K.write_fitted_block(path, fitted)


@pytest.fixture(scope="module")
def shortened_fit(tmp_path_factory):
    pytest.importorskip("scipy")
    root = tmp_path_factory.mktemp("calibrate")
    params = tiny_params()
    params["benchmark_sets"]["simulated"]["simulation"].update(images_per_ood_class=2)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    K.main(["--params", str(path), "--provenance", str(root / "fit.json"), "--n-sobol", "2", "--maxfev", "4"])
    return path, json.loads((root / "fit.json").read_text())


def test_shortened_fit_writes_a_valid_block_and_its_provenance(shortened_fit):
    from ood_core.simulate import OOD_SET_PARAMS, SimulationConfig

    path, record = shortened_fit
    sim = yaml.safe_load(path.read_text())["benchmark_sets"]["simulated"]["simulation"]
    assert sim["world"] == "fitted" and sim["ood_sets"] == record["fitted"]
    SimulationConfig.from_dict(sim)  # a complete, in-range block
    for block in record["fitted"].values():
        for key, (low, high) in OOD_SET_PARAMS.items():
            assert low <= block[key] <= high
    # 16 residuals = simulated - published (the typed-in table), and the objective is their weighted sum
    total = 0.0
    for s, by_method in record["residuals"].items():
        for m, res in by_method.items():
            fpr_pub, auroc_pub = PUBLISHED[m][s.removeprefix("sim-")]
            assert res["fpr95"] == pytest.approx(record["simulated"][s][m]["fpr95"] - fpr_pub, abs=1e-3)
            assert res["auroc"] == pytest.approx(record["simulated"][s][m]["auroc"] - auroc_pub, abs=1e-3)
            total += res["auroc"] ** 2 + (res["fpr95"] / 4) ** 2
    assert sum(len(v) * 2 for v in record["residuals"].values()) == 16
    assert record["objective"] == pytest.approx(total, rel=1e-4)
    assert record["seed"] == 0 and record["date"] and record["code_version"] and record["wall_seconds"] > 0
    # budget: defaults + 2 Sobol points + <= 4 Nelder-Mead evaluations + the rounded best, per set
    assert record["n_evaluations"] <= 4 * (1 + 2 + 4 + 1)


def test_fit_is_reproducible_and_never_worse_than_the_a_priori_world(shortened_fit):
    path, record = shortened_fit
    from ood_study.params import load_params

    cal = K.Calibration.from_params(load_params(path))
    again = K.fit_set(cal, "sim-sun", K.Budget(n_sobol=2, maxfev=4))
    assert again["values"] == record["fitted"]["sim-sun"]
    a_priori = K.set_objective(cal.simulate_set("sim-sun", {"id_proximity": 0.0, "unnamed": 0.0, "image_noise": 3.5}),
                               K.published_targets("sim-sun"))
    assert again["objective"] <= a_priori + 1e-6


def test_project_params_select_the_fitted_world_and_keep_the_a_priori_one_by_one_key(tmp_path):
    from ood_core.simulate import SimulationConfig

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    sim = yaml.safe_load((tmp_path / "params.yaml").read_text())["benchmark_sets"]["simulated"]["simulation"]
    fitted = SimulationConfig.from_dict(sim)
    assert fitted.world == "fitted"
    a_priori = SimulationConfig.from_dict({**sim, "world": "a_priori"})
    assert a_priori.ood_set_params("sim-textures") == {"id_proximity": 0.0, "unnamed": 0.0, "image_noise": 3.5}
    assert fitted.ood_set_params("sim-textures") == sim["ood_sets"]["sim-textures"]
