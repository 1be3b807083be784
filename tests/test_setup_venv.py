"""scripts/venv_check.sh: a .venv moved with its folder is detected (scripts/setup.sh then rebuilds it)."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECK = REPO / "scripts" / "venv_check.sh"


def _check(venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECK), str(venv)], capture_output=True, text=True, timeout=60)


def test_a_venv_in_place_passes_and_a_moved_one_is_named(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(first / ".venv")], check=True, timeout=120)
    assert _check(first / ".venv").returncode == 0
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    result = _check(moved / ".venv")
    assert result.returncode == 1
    assert str(first / ".venv") in result.stderr and "moved" in result.stderr


def test_a_link_to_a_venv_elsewhere_is_that_venv_and_a_plain_folder_is_not_one(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "shared")], check=True, timeout=120)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".venv").symlink_to(tmp_path / "shared")
    assert _check(tmp_path / "project" / ".venv").returncode == 0  # the link's target made it: not moved
    (tmp_path / "empty").mkdir()
    assert _check(tmp_path / "empty").returncode == 2
