"""Fit the simulated world's per-OOD-set parameters to MCM's and NegLabel's published per-set results.

``python -m ood_study.calibrate [--params params.yaml] [--provenance calibration/simulation_fit.json]``
follows the protocol frozen in ``docs/simulation.md`` ("Calibration to published results"):

* objective: the 16 published per-set numbers of MCM and NegLabel (``ood_study.report.PUBLISHED``)
  and nothing else; ``L = sum of dA^2 + (dF / 4)^2`` over the 8 (method, set) cells, ``dA`` / ``dF``
  the simulated minus published AUROC / FPR95 in percentage points;
* free: ``id_proximity``, ``unnamed``, ``image_noise`` of each OOD set (``ood_core.simulate.OOD_SET_PARAMS``).
  The ID side is fixed, so each set's term depends on its own three parameters only and each set
  is fitted on its own;
* per set: the defaults and 32 scrambled Sobol points (seed 0), then bounded Nelder-Mead
  (``maxfev`` 100, ``xatol = fatol = 1e-3``) from the best of them; the best point evaluated wins.

It writes the fitted block (``world: fitted`` and ``ood_sets:``) into params.yaml and a provenance
JSON (objective, per-number residuals, date, seed, code version, wall time). ``make repro`` never
runs it: the fitted block is a committed parameter like any other. Nothing here computes CSP,
AdaNeg or DNM: they are held out (``ood_study.validity``).

What does not change between evaluations (WordNet, concepts, text features, the mined negatives,
the ID images and their scores, the OOD noise draws) is computed once in :class:`Calibration`; one
evaluation draws one set's images and scores them with MCM and NegLabel (well under a second for
the default sizes on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ood_core import methods as _methods
from ood_core import metrics as _metrics
from ood_core import simulate
from ood_core.features import text_features
from ood_core.text.corpus import load_wordnet_corpus
from ood_study.method_params import mining_params, scoring_params
from ood_study.params import SIMULATED, StudyParams, load_params
from ood_study.report import PUBLISHED
from ood_study.study import round_sig, write_json

__all__ = ["OBJECTIVE_METHODS", "FPR_WEIGHT", "Budget", "Calibration", "fit", "fit_set", "published_targets",
           "set_objective", "write_fitted_block", "main"]

OBJECTIVE_METHODS = ("mcm", "neglabel")
FPR_WEIGHT = 0.25
"""FPR95 residuals are divided by 4: published FPR95 spans ~4x the AUROC range (protocol)."""
BACKBONE = "ViT-B-16"  # the published numbers are CLIP ViT-B/16
DIGITS = 4  # decimals of the fitted values written to params.yaml (the residuals are those of the written values)
PARAM_NAMES = tuple(simulate.OOD_SET_PARAMS)


@dataclass(frozen=True)
class Budget:
    """The optimiser's budget per set (protocol: 32 Sobol points, Nelder-Mead ``maxfev`` 100, seed 0)."""

    n_sobol: int = 32
    maxfev: int = 100
    xatol: float = 1e-3
    fatol: float = 1e-3
    seed: int = 0


def published_targets(sim_set: str) -> dict[str, tuple[float, float]]:
    """``{method: (FPR95, AUROC)}`` in % for ``sim-<set>`` from the objective methods' published cells."""
    real = sim_set.removeprefix("sim-")
    return {m: PUBLISHED[m][real] for m in OBJECTIVE_METHODS}


def set_objective(simulated: dict[str, tuple[float, float]], published: dict[str, tuple[float, float]]) -> float:
    """``sum over methods of (dAUROC)^2 + (dFPR95 / 4)^2``; both dicts ``{method: (FPR95, AUROC)}`` in %."""
    total = 0.0
    for m, (fpr_pub, auroc_pub) in published.items():
        fpr, auroc = simulated[m]
        total += (auroc - auroc_pub) ** 2 + (FPR_WEIGHT * (fpr - fpr_pub)) ** 2
    return float(total)


@dataclass
class Calibration:
    """The cached, fixed part of the world and a per-set evaluator.

    ``world``: a :class:`~ood_core.simulate.SimulatedWorld`; ``texts``: its text features;
    ``negatives``/``scoring``/``id_scores``: per objective method. Build it with :meth:`from_params`.
    """

    world: simulate.SimulatedWorld
    texts: object
    negatives: dict
    scoring: dict
    id_scores: dict
    n_evaluations: int = field(default=0)

    @classmethod
    def from_params(cls, params: StudyParams) -> "Calibration":
        sim = dict(params.sets(SIMULATED).simulation or {})
        sim["world"] = "a_priori"  # the fixed parts do not depend on the OOD sets' parameters
        world = simulate.build_world(simulate.SimulationConfig.from_dict(sim),
                                     wordnet_dir=params.get("corpus.wordnet_dir"))
        corpus = load_wordnet_corpus(params.get("corpus.wordnet_dir"), params.get("corpus.noun_lexnames"),
                                     params.get("corpus.adj_lexnames"))
        pr = params.get("prompts")
        texts = text_features(world, corpus, pr.id, pr.noun, pr.adj, csp_seed=pr.csp_seed)
        id_images = world.image_features(simulate.ID_SPLIT)
        negatives, scoring, id_scores = {}, {}, {}
        for m in OBJECTIVE_METHODS:
            method = _methods.get(m)
            mp = mining_params(params, m, BACKBONE)
            negatives[m] = method.select_negatives(texts, mp) if method.mines else np.zeros(0, dtype=np.int64)
            scoring[m] = scoring_params(params, m, BACKBONE)
            id_scores[m] = method.score_images(id_images, texts, negatives[m], scoring[m])
        return cls(world, texts, negatives, scoring, id_scores)

    def simulate_set(self, sim_set: str, values: dict[str, float]) -> dict[str, tuple[float, float]]:
        """``{method: (FPR95, AUROC)}`` in % of the objective methods on ``sim_set`` drawn with ``values``."""
        images = self.world.ood_image_features(sim_set, **values)
        self.n_evaluations += 1
        out = {}
        for m in OBJECTIVE_METHODS:
            ood = _methods.get(m).score_images(images, self.texts, self.negatives[m], self.scoring[m])
            res = _metrics.ood_metrics(self.id_scores[m], ood)
            out[m] = (100.0 * res["fpr95"], 100.0 * res["auroc"])
        return out


def _to_values(x: np.ndarray) -> dict[str, float]:
    """Unit-cube point -> parameter values (each in its range)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return {k: lo + float(xi) * (hi - lo) for xi, (k, (lo, hi)) in zip(x, simulate.OOD_SET_PARAMS.items())}


def _to_unit(values: dict[str, float]) -> np.ndarray:
    return np.array([(values[k] - lo) / (hi - lo) for k, (lo, hi) in simulate.OOD_SET_PARAMS.items()])


def fit_set(cal: Calibration, sim_set: str, budget: Budget = Budget()) -> dict:
    """The protocol's fit of one OOD set: defaults + Sobol points, then Nelder-Mead from the best.

    Returns ``{"values", "objective", "simulated", "published", "n_evaluations"}`` at the best point
    after rounding its values to :data:`DIGITS` decimals (what params.yaml holds).
    """
    from scipy.optimize import minimize
    from scipy.stats import qmc

    published = published_targets(sim_set)
    seen: dict[tuple, float] = {}

    def objective(x) -> float:
        key = tuple(np.round(np.clip(x, 0.0, 1.0), 12))
        if key not in seen:
            seen[key] = set_objective(cal.simulate_set(sim_set, _to_values(np.array(key))), published)
        return seen[key]

    starts = [_to_unit(simulate.ood_set_defaults(cal.world.config.image_noise))]
    if budget.n_sobol:
        starts += list(qmc.Sobol(d=len(PARAM_NAMES), scramble=True, seed=budget.seed).random(budget.n_sobol))
    start_values = [objective(x) for x in starts]
    x0 = starts[int(np.argmin(start_values))]
    if budget.maxfev:
        minimize(objective, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(PARAM_NAMES),
                 options={"maxfev": budget.maxfev, "xatol": budget.xatol, "fatol": budget.fatol})
    best = min(seen, key=lambda k: (seen[k], k))
    values = {k: round(v, DIGITS) for k, v in _to_values(np.array(best)).items()}
    simulated = cal.simulate_set(sim_set, values)
    return {"values": values, "objective": set_objective(simulated, published), "simulated": simulated,
            "published": published, "n_evaluations": len(seen)}


def fit(params: StudyParams, budget: Budget = Budget(), sets=simulate.OOD_SETS, log=print) -> dict:
    """Fit every OOD set (:func:`fit_set`); the provenance record (without date / code version)."""
    t0 = time.perf_counter()
    cal = Calibration.from_params(params)
    t_setup = time.perf_counter() - t0
    log(f"calibrate: fixed parts (world, texts, negatives, ID scores) in {t_setup:.1f} s")
    per_set = {}
    for s in sets:
        t1 = time.perf_counter()
        per_set[s] = fit_set(cal, s, budget)
        log(f"calibrate: {s}: objective {per_set[s]['objective']:.3f} with {per_set[s]['values']} "
            f"({per_set[s]['n_evaluations']} evaluations, {time.perf_counter() - t1:.1f} s)")
    residuals = {s: {m: {"fpr95": r["simulated"][m][0] - r["published"][m][0],
                         "auroc": r["simulated"][m][1] - r["published"][m][1]} for m in OBJECTIVE_METHODS}
                 for s, r in per_set.items()}
    return round_sig({
        "protocol": "docs/simulation.md, 'Calibration to published results: the protocol'",
        "objective": sum(r["objective"] for r in per_set.values()),
        "objective_per_set": {s: r["objective"] for s, r in per_set.items()},
        "fitted": {s: r["values"] for s, r in per_set.items()},
        "ranges": {k: list(v) for k, v in simulate.OOD_SET_PARAMS.items()},
        "simulated": {s: {m: {"fpr95": v[0], "auroc": v[1]} for m, v in r["simulated"].items()}
                      for s, r in per_set.items()},
        "published": {s: {m: {"fpr95": v[0], "auroc": v[1]} for m, v in r["published"].items()}
                      for s, r in per_set.items()},
        "residuals": residuals,
        "budget": {"n_sobol": budget.n_sobol, "maxfev": budget.maxfev, "xatol": budget.xatol,
                   "fatol": budget.fatol},
        "seed": budget.seed,
        "world_seed": cal.world.config.seed,
        "n_evaluations": cal.n_evaluations,
        "setup_seconds": t_setup,
        "wall_seconds": time.perf_counter() - t0,
    })


_BLOCK_START = re.compile(r"^(?P<indent> +)ood_sets:(?P<value>[^#\n]*)(?P<comment>#.*)?$", re.M)


def write_fitted_block(params_path: Path, fitted: dict[str, dict[str, float]]) -> None:
    """Rewrite the ``ood_sets:`` block of ``benchmark_sets.simulated.simulation`` in ``params_path``
    (one flow-style line per set, comments elsewhere kept) and set ``world: fitted``.

    The file must already hold an ``ood_sets:`` key and a ``world:`` key in that block; the written
    file is re-read and checked.
    """
    import yaml

    text = Path(params_path).read_text()
    match = _BLOCK_START.search(text)
    if match is None or not re.search(r"^ +world: ", text, re.M):
        raise ValueError(f"{params_path}: benchmark_sets.simulated.simulation needs `world:` and `ood_sets:` keys "
                         "for the calibration to fill in (see the project's params.yaml)")
    indent = match.group("indent")
    inner = indent + "  "
    key_line = f"{indent}ood_sets:"  # any old inline value (`{}`) goes: the sets follow as a block
    if match.group("comment"):
        key_line = f"{key_line:<{match.start('comment') - match.start()}}{match.group('comment')}"
    lines = text[match.end() + 1:].split("\n")
    n_old = 0
    while n_old < len(lines) and lines[n_old].startswith(inner):
        n_old += 1
    block = [f"{inner}{s}: {{" + ", ".join(f"{k}: {fitted[s][k]}" for k in PARAM_NAMES) + "}"
             for s in simulate.OOD_SETS]
    text = text[:match.start()] + "\n".join([key_line, *block, *lines[n_old:]])
    text = re.sub(r"^( +world: )\S+", r"\g<1>fitted", text, count=1, flags=re.M)
    Path(params_path).write_text(text)
    sim = yaml.safe_load(text)["benchmark_sets"][SIMULATED]["simulation"]
    if sim["world"] != "fitted" or {s: sim["ood_sets"][s] for s in simulate.OOD_SETS} != fitted:
        raise RuntimeError(f"{params_path}: the rewritten ood_sets block does not read back as written")


def _code_version(root: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "ood_core", "ood_study"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml", help="params.yaml to read and to write the fitted block to")
    ap.add_argument("--provenance", default="calibration/simulation_fit.json", help="provenance JSON to write")
    ap.add_argument("--n-sobol", type=int, default=Budget.n_sobol, help="Sobol points per set (protocol: 32)")
    ap.add_argument("--maxfev", type=int, default=Budget.maxfev, help="Nelder-Mead evaluations (protocol: 100)")
    ap.add_argument("--seed", type=int, default=Budget.seed, help="Sobol scrambling seed (protocol: 0)")
    args = ap.parse_args(argv)
    params_path = Path(args.params)
    params = load_params(params_path)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    code_version = _code_version(params_path.resolve().parent)  # before the fit: the code that runs it
    record = fit(params, Budget(n_sobol=args.n_sobol, maxfev=args.maxfev, seed=args.seed))
    record["date"] = started
    record["code_version"] = code_version
    write_fitted_block(params_path, record["fitted"])
    write_json(Path(args.provenance), record)
    print(f"calibrate: objective {record['objective']:.4f}; {record['n_evaluations']} evaluations in "
          f"{record['wall_seconds']:.0f} s -> {params_path} (ood_sets), {args.provenance}")


if __name__ == "__main__":
    main()
