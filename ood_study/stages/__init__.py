"""The DVC stages' commands, one module each: ``python -m ood_study.stages.<stage> [--benchmark ...]``.

Every stage module declares ``PARAMS``, the ``params.yaml`` keys it may read (formatted with its
matrix item), and runs on a view of the params restricted to them; ``dvc.yaml`` lists exactly
those keys (tests/test_dvc.py). Each module imports only what its stage runs, so the code deps
of a stage in ``dvc.yaml`` (its import closure, checked by the same tests) stay small: editing a
score never re-runs an embedding.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ood_study.layout import Layout, check_name
from ood_study.params import PARAMS_FILE, StudyParams, load_params

__all__ = ["log", "stage_main", "stage_params"]


def log(stage: str, msg: str) -> None:
    print(f"[{stage} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stage_params(params: StudyParams, keys, **item) -> StudyParams:
    """``params`` restricted to the stage's ``PARAMS`` formatted with its matrix ``item``."""
    return params.restricted([k.format(**item) for k in keys])


def stage_main(module_doc: str, keys, run, item_args=(), argv=None) -> None:
    """Parse ``--params --root`` and the matrix item (``item_args``), then ``run(params, layout, **item)``."""
    parser = argparse.ArgumentParser(description=module_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=PARAMS_FILE, help=f"params file (default: {PARAMS_FILE})")
    parser.add_argument("--root", default=".", help="project root holding data/, results/, metrics/")
    for name in item_args:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    # The matrix item becomes file names: each must be a name (no '/', no '..'), checked before anything runs.
    item = {name: check_name(f"--{name}", getattr(args, name)) for name in item_args}
    params = stage_params(load_params(args.params), keys, **item)
    run(params, Layout(Path(args.root)), **item)
