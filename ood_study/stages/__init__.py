"""The DVC stages' commands, one module each: ``python -m ood_study.stages.<stage> [--benchmark ...]``.

Every stage module declares ``PARAMS``, the ``params.yaml`` keys it may read (formatted with its
matrix item), and runs on a view of the params restricted to them; ``dvc.yaml`` lists exactly
those keys (tests/test_dvc.py). Each module imports only what its stage runs, so the code deps
of a stage in ``dvc.yaml`` (its import closure, checked by the same tests) stay small: editing a
score never re-runs an embedding.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from pathlib import Path

from ood_study.layout import Layout, check_name
from ood_study.params import PARAMS_FILE, StudyParams, load_params

__all__ = ["log", "plain", "parser", "stage_main", "stage_params", "user_errors"]

#: the errors a user's input raises (bad params, missing files): one paragraph, no traceback
USER_ERRORS = (ValueError, FileNotFoundError)

_ROLE = re.compile(r":\w+:`(~?)([^`]+)`")


def plain(doc: str | None) -> str:
    """A docstring as plain text for ``--help``: Sphinx roles (``:func:`~a.b```) and double
    backquotes dropped, the text kept."""
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), doc or "")
    return text.replace("``", "").strip()


def parser(doc: str | None, prog: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of a command: its docstring as plain-text description (paragraphs kept).
    ``--help`` exits 0, a usage error exits 2 (argparse's conventions)."""
    return argparse.ArgumentParser(prog=prog, description=plain(doc),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def log(stage: str, msg: str) -> None:
    print(f"[{stage} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stage_params(params: StudyParams, keys, **item) -> StudyParams:
    """``params`` restricted to the stage's ``PARAMS`` formatted with its matrix ``item``."""
    return params.restricted([k.format(**item) for k in keys])


@contextlib.contextmanager
def user_errors(prog: str, on: bool = True):
    """On the command line (``on``), a user's mistake (:data:`USER_ERRORS`: each message names the
    key or file, the value and the fix) prints ``<prog>: error: <message>`` and exits 1, without a
    traceback; ``OOD_TRACEBACK=1`` shows it. Called from Python (``on=False``), the error propagates."""
    try:
        yield
    except USER_ERRORS as err:
        if not on or os.environ.get("OOD_TRACEBACK", "") not in ("", "0"):
            raise
        print(f"{prog}: error: {err}\n(OOD_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(1) from None


def stage_main(module_doc: str, keys, run, item_args=(), argv=None, prog: str | None = None,
               command_line: bool | None = None) -> None:
    """Parse ``--params --root`` and the matrix item (``item_args``), then ``run(params, layout, **item)``.
    ``command_line`` (default: ``argv is None``): a user's mistake exits 1 with one paragraph (:func:`user_errors`)."""
    cli = parser(module_doc, prog)
    cli.add_argument("--params", default=PARAMS_FILE, help=f"params file (default: {PARAMS_FILE})")
    cli.add_argument("--root", default=".", help="project root holding data/, results/, metrics/")
    for name in item_args:
        cli.add_argument(f"--{name}", required=True, help=f"the {name} (a name of params.yaml)")
    args = cli.parse_args(argv)
    with user_errors(cli.prog, on=argv is None if command_line is None else command_line):  # the command line: no traceback for a user's mistake
        # The matrix item becomes file names: each must be a name (no '/', no '..'), checked before anything runs.
        item = {name: check_name(f"--{name}", getattr(args, name)) for name in item_args}
        params = stage_params(load_params(args.params), keys, **item)
        run(params, Layout(Path(args.root)), **item)
