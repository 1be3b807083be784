"""Stage ``mine``: a method's negative labels -> ``data/negatives/<study>/<method>.npy``.

``python -m ood_study.stages.mine --benchmark B --backbone N --method M``. A method that mines
nothing (MCM, MaxLogit, Energy) writes an empty index array, so every method has the same stages.
"""

from __future__ import annotations

import time

import numpy as np

from ood_core import methods as _methods
from ood_study.layout import Layout, study_name
from ood_study.method_params import mining_params
from ood_study.params import StudyParams
from ood_study.stages import log, stage_main
from ood_study.study import load_study

PARAMS = ("method_params.{method}.mining",)


def run(params: StudyParams, layout: Layout, benchmark: str, backbone: str, method: str) -> None:
    m = _methods.get(method)
    mp = mining_params(params, method, backbone)
    out = layout.negatives(study_name(benchmark, backbone), method)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not m.mines:
        np.save(out, np.zeros(0, dtype=np.int64))
        log("mine", f"{method} mines no negatives -> {out} (empty)")
        return
    study = load_study(layout, benchmark, backbone, with_images=False)
    t0 = time.perf_counter()
    idx = m.select_negatives(study.texts, mp)
    n_adj = int(study.corpus.is_adj[idx].sum())
    log("mine", f"{method}: {len(idx)} negatives ({len(idx) - n_adj} nouns, {n_adj} adjectives) "
        f"in {time.perf_counter() - t0:.1f} s -> {out}")
    np.save(out, idx)


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, ("benchmark", "backbone", "method"), argv)


if __name__ == "__main__":
    main()
