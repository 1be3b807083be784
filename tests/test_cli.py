"""The command line follows argparse's conventions: ``--help`` exits 0 and prints plain text (no
Sphinx markup), a usage error exits 2 and names the problem, a user's mistake exits 1 with one
paragraph and no traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ood_study import cli
from ood_study.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent
MARKUP = re.compile(r"``|:(mod|func|class|meth|data|attr):`")


def _ood_study(*args, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "ood_study.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)


def _exit_code(args, monkeypatch) -> int:
    """``ood-study ARGS`` in this process (as the console script calls it: no argv, sys.argv set)."""
    monkeypatch.setattr(sys, "argv", ["ood-study", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return info.value.code


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS), ["embed", "text"], ["embed", "images"]],
                         ids=lambda c: " ".join(c) or "ood-study")
def test_help_exits_0_in_plain_text(command, monkeypatch, capsys):
    assert _exit_code([*command, "--help"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ood-study" + "".join(f" {c}" for c in command))
    assert not MARKUP.search(out), out


@pytest.mark.parametrize("args, says", [
    ([], "no COMMAND given"),
    (["mien"], "unknown command 'mien'; commands: corpus, embed, mine"),
    (["embed"], "required: kind"),
    (["embed", "--benchmark", "simulated"], "required: kind"),
    (["embed", "pictures"], "invalid choice: 'pictures'"),
    (["mine", "--benchmark", "simulated"], "required: --backbone, --method"),
    (["report", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_exit_2_and_say_what_is_wrong(args, says, monkeypatch, capsys):
    assert _exit_code(args, monkeypatch) == 2
    err = capsys.readouterr().err
    assert says in err and "usage: ood-study" in err


def test_a_users_mistake_is_one_paragraph_without_a_traceback(tmp_path):
    args = ["mine", "--params", str(tmp_path / "missing.yaml"), "--benchmark", "simulated", "--backbone", "ViT-B-16",
            "--method", "dnm"]
    result = _ood_study(*args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"ood-study mine: error: {tmp_path / 'missing.yaml'} not found")
    assert "Traceback" in _ood_study(*args, env={"OOD_TRACEBACK": "1"}).stderr
