"""An ablation grid of ``params.yaml`` as queued DVC experiments (the notebooks remain the default).

``python -m ood_study.queue_sweep SWEEP [--jobs N]`` (``make sweep-queue SWEEP=tau JOBS=2``) reads
the grid of ``ablations.SWEEP`` from ``params.yaml``, queues one ``dvc exp run --queue -S ...``
per grid point, aimed only at the ``score`` stages the swept key feeds (DVC re-runs ``mine`` first
when a mining key changes), runs the queue with ``dvc queue start --jobs N``, waits for it and
prints ``dvc exp show`` restricted to the swept keys and the average FPR95 / AUROC.

Sweeps: every ablation of :data:`ood_study.ablations.ABLATIONS` that declares ``queued`` keys
(one experiment per grid value; an ablation with several keys, like ``selection``, sweeps each
with the others at their ``params.yaml`` values, as its notebook does). A key declared for
every method (``method=None``) is set in each listed method whose typed parameters take it
(:func:`ood_study.method_params.methods_taking`, the rule the notebooks' sweeps use).

A value set under ``per_backbone:`` for a listed backbone would override the swept value, so the
same value is set there too (only where such an override exists). Experiments are named
``<prefix>-<key>-<value>`` (default prefix ``sweep``); a name already taken stops the command
before anything is queued (remove the old ones with ``dvc exp remove <names>`` or pass
``--prefix``). ``--dry-run`` prints the ``dvc`` commands without running them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ood_study.ablations import ABLATIONS, QueuedKey, parse_ablation
from ood_study.method_params import methods_taking
from ood_study.params import PARAMS_FILE, StudyParams, load_params
from ood_study.stages import parser as cli_parser

__all__ = ["SWEEPS", "Experiment", "plan", "queue_commands", "show_command", "main"]

#: sweep -> the keys its experiments set (the ablations that declare ``queued`` keys)
SWEEPS: dict[str, tuple[QueuedKey, ...]] = {name: a.queued for name, a in ABLATIONS.items() if a.queued}

_ACTIVE = ("Queued", "Running")


@dataclass(frozen=True)
class Experiment:
    """One grid point: its DVC experiment ``name``, the ``-S key=value`` overrides and the stage targets."""

    name: str
    overrides: tuple[str, ...]
    targets: tuple[str, ...]


def _value_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def plan(params: StudyParams, sweep: str, prefix: str = "sweep") -> list[Experiment]:
    """The experiments of ``sweep`` for the benchmarks, backbones and methods of ``params``."""
    if sweep not in SWEEPS:
        raise ValueError(f"sweep={sweep!r} is unknown; valid: {sorted(SWEEPS)} (ablations in params.yaml "
                         "that are not one key over a grid, like corpus_size, stay notebook-only)")
    experiments = []
    grid = parse_ablation(sweep, params.get(f"ablations.{sweep}"))
    for method, block, key, field in ((q.method, q.block, q.key, q.field) for q in SWEEPS[sweep]):
        methods = [method] if method else methods_taking(params, key, block)
        missing = [m for m in methods if m not in params.methods]
        if missing or not methods:
            raise ValueError(f"sweep {sweep!r} sets {block}.{key} of {missing or 'some method'}, which "
                             f"`methods:` in {params.path} does not list ({list(params.methods)}): add it there")
        for m in methods:
            if key not in (params.get(f"method_params.{m}.{block}") or {}):
                raise ValueError(f"method_params.{m}.{block}.{key} is not in {params.path}: `dvc exp run -S` "
                                 "changes existing keys only; write the key with its default value first")
        targets = tuple(f"score@{b}-{bb}-{m}" for b in params.benchmarks for bb in params.backbones
                        for m in methods)
        for value in getattr(grid, field):
            text = _value_text(value)
            overrides = []
            for m in methods:
                overrides.append(f"method_params.{m}.{block}.{key}={text}")
                per_backbone = (params.get(f"method_params.{m}.{block}") or {}).get("per_backbone") or {}
                overrides += [f"method_params.{m}.{block}.per_backbone.{bb}.{key}={text}"
                              for bb in params.backbones if key in (per_backbone.get(bb) or {})]
            experiments.append(Experiment(f"{prefix}-{key}-{text}", tuple(overrides), targets))
    return experiments


def queue_commands(experiments: list[Experiment], dvc: str = "dvc") -> list[list[str]]:
    """``dvc exp run --queue -n NAME -S k=v ... TARGETS`` for each experiment."""
    return [[dvc, "exp", "run", "--queue", "-n", e.name, *[a for o in e.overrides for a in ("-S", o)],
             *e.targets] for e in experiments]


def show_command(experiments: list[Experiment], dvc: str = "dvc") -> list[str]:
    """``dvc exp show`` keeping the experiment, its state, the swept keys and the average metrics."""
    keys = sorted({o.split("=", 1)[0] for e in experiments for o in e.overrides})
    methods = sorted({t.rsplit("-", 1)[1] for e in experiments for t in e.targets})
    # The DVC metrics are the summary files (ood_study.study.summary_metrics): one column per method and
    # number, "dnm.AUROC", "dnm.AUROC_lo". DVC applies --keep with re.match, anchored at the start.
    metric = rf"({'|'.join(map(re.escape, methods))})\.(AUROC|FPR95)(_lo|_hi)?$"
    keep = "|".join([r"^(Experiment|State)$", *(f"^{re.escape(k)}$" for k in keys), metric])
    return [dvc, "exp", "show", "--no-pager", "--md", "--drop", ".*", "--keep", keep]


def _run(cmd: list[str], cwd: Path, capture: bool = False) -> str:
    result = subprocess.run(cmd, cwd=cwd, text=True, capture_output=capture)
    if result.returncode != 0:
        detail = f"\n{result.stdout}{result.stderr}" if capture else ""
        raise RuntimeError(f"`{shlex.join(cmd)}` failed with exit status {result.returncode}{detail}")
    return result.stdout if capture else ""


def _queue_states(dvc: str, cwd: Path) -> dict[str, str]:
    """Experiment name -> state from ``dvc queue status`` (columns: Task, Name, Created, Status)."""
    states = {}
    for line in _run([dvc, "queue", "status"], cwd, capture=True).splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] != "Task" and re.fullmatch(r"[0-9a-f]{7,}", parts[0]):
            states[parts[1]] = parts[-1]
    return states


def run_sweep(sweep: str, jobs: int, root: Path, params_file: Path, prefix: str = "sweep", dvc: str = "dvc",
              dry_run: bool = False, poll_s: float = 2.0) -> list[Experiment]:
    """Queue, run (``jobs`` workers) and show the experiments of ``sweep``; raise if any failed."""
    if jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    experiments = plan(load_params(params_file), sweep, prefix)
    commands = [*queue_commands(experiments, dvc), [dvc, "queue", "start", "--jobs", str(jobs)]]
    if dry_run:
        for cmd in [*commands, show_command(experiments, dvc)]:
            print(shlex.join(cmd))
        return experiments
    existing = set(_run([dvc, "exp", "list", "--name-only"], root, capture=True).split())
    taken = [e.name for e in experiments if e.name in existing]
    if taken:
        raise ValueError(f"experiments {taken} already exist: remove them (`dvc exp remove {' '.join(taken)}`) "
                         "or pass another --prefix")
    for cmd in commands:
        print("+", shlex.join(cmd), flush=True)
        _run(cmd, root)
    names = {e.name for e in experiments}
    while True:
        states = {n: s for n, s in _queue_states(dvc, root).items() if n in names}
        if not any(s in _ACTIVE for s in states.values()):
            break
        time.sleep(poll_s)
    print(_run(show_command(experiments, dvc), root, capture=True), flush=True)
    failed = sorted(n for n, s in states.items() if s != "Success")
    if failed:
        raise RuntimeError(f"experiments {failed} did not succeed ({ {n: states[n] for n in failed} }); "
                           f"see `dvc queue logs <name>`")
    return experiments


def main(argv=None) -> None:
    parser = cli_parser(__doc__)
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at once (dvc queue start --jobs)")
    parser.add_argument("--prefix", default="sweep", help="experiment names are <prefix>-<key>-<value>")
    parser.add_argument("--params", default=PARAMS_FILE, help="the params file (in the DVC project's root)")
    parser.add_argument("--dvc", default="dvc", help="the dvc executable")
    parser.add_argument("--dry-run", action="store_true", help="print the dvc commands, run nothing")
    args = parser.parse_args(argv)
    params_file = Path(args.params)
    try:
        run_sweep(args.sweep, args.jobs, params_file.resolve().parent, params_file, args.prefix, args.dvc,
                  args.dry_run)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"queue_sweep: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
