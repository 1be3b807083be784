"""ood_study.stage_times: stage durations from the arrival times of dvc repro's lines."""

import subprocess
import sys
from pathlib import Path

from ood_study.stage_times import format_durations, stage_durations

REPO = Path(__file__).resolve().parent.parent


def test_a_stage_lasts_until_the_next_starts_and_the_last_until_the_output_ends():
    lines = [("Running stage 'corpus':\n", 10.0), ("> python -m ood_study.stages.corpus\n", 10.5),
             ("Running stage 'mine@s-dnm':\n", 14.0), ("Stage 'x' didn't change, skipping\n", 50.0),
             ("Running stage 'report':\n", 60.0), ("Updating lock file 'dvc.lock'\n", 61.5)]
    assert stage_durations(lines) == [("corpus", 4.0), ("mine@s-dnm", 46.0), ("report", 1.5)]
    assert stage_durations([("nothing to do\n", 1.0)]) == []
    text = format_durations(stage_durations(lines)).splitlines()
    assert text[0].split() == ["46.0", "s", "mine@s-dnm"] and text[-1].split()[:3] == ["51.5", "s", "total"]


def test_the_command_echoes_its_input_and_fails_when_dvc_did(tmp_path):
    feed = "Running stage 'a':\nhello\nRunning stage 'b':\nERROR: failed to reproduce 'b'\n"
    run = subprocess.run([sys.executable, "-m", "ood_study.stage_times", "--tsv", str(tmp_path / "t.tsv")],
                         input=feed, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 1 and run.stdout.startswith(feed)
    assert [ln.split("\t")[0] for ln in (tmp_path / "t.tsv").read_text().splitlines()] == ["a", "b"]
