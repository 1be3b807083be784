"""Stage ``mine``: a method's negative labels -> ``data/negatives/<study>/<method>.npy``.

``python -m ood_study.stages.mine --benchmark B --backbone N --method M``. A method that mines
nothing (MCM, MaxLogit, Energy) writes an empty index array, so every method has the same stages.

Methods that mine alike (``dnm`` and ``dnm_auto`` with the same ``mining`` block; ``renyi`` on DNM's
negatives; ``adaneg`` on NegLabel's) would repeat the same minutes-long kNN: each result is also kept
in ``data/mining_memo/<key>.npy``, ``key`` the sha256 of the mining function, its parameters, the
text features and every project source file the stage imports (:func:`memo_key`: the same closure
DVC hashes for this stage), and a stage whose key is there copies it. Any change to one of them is a new key, so the memo never serves a stale answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

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
    memo = layout.mining_memo_dir / f"{memo_key(m.mine, mp, study.texts)}.npy"
    if memo.exists():
        idx, how = np.load(memo), f"the same mining done before ({memo.name[:12]}, {memo.parent})"
    else:
        idx, how = m.select_negatives(study.texts, mp), "mined"
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.stem}.{time.time_ns()}.tmp.npy")
        np.save(tmp, idx)
        tmp.replace(memo)  # atomic: a concurrent stage reads a whole file or none
    n_adj = int(study.corpus.is_adj[idx].sum())
    log("mine", f"{method}: {len(idx)} negatives ({len(idx) - n_adj} nouns, {n_adj} adjectives) "
        f"{how} in {time.perf_counter() - t0:.1f} s -> {out}")
    np.save(out, idx)


def memo_key(mine, mining_params, texts) -> str:
    """sha256 of what a mining result depends on: the function (module and name), its parameters,
    every text-feature array and the bytes of every project file this stage imports
    (``ood_study.deps.import_closure``: a change anywhere in that code is a new key)."""
    h = hashlib.sha256()
    fields = {"function": f"{mine.__module__}.{mine.__qualname__}",
              "params": {k: repr(v) for k, v in dataclasses.asdict(mining_params).items()}}
    h.update(json.dumps(fields, sort_keys=True).encode())
    for name in sorted(f.name for f in dataclasses.fields(texts)):
        arr = np.ascontiguousarray(getattr(texts, name))
        h.update(f"{name}{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.data)
    from ood_study import deps

    for path in sorted(deps.import_closure([__name__, mine.__module__])):
        h.update(Path(path).as_posix().encode())  # relative to the code's root
        h.update((deps.REPO / path).read_bytes())
    return h.hexdigest()


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, ("benchmark", "backbone", "method"), argv)


if __name__ == "__main__":
    main()
