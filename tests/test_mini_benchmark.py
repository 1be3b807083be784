"""The real path end to end under DVC: `dvc repro` of the mini real benchmark (ood_study.mini_benchmark:
the imagenet1k layouts, a few generated images each) with the tiny-random backbone, in a copy of
the project. Every stage, every notebook and the report run; the tables say RANDOM WEIGHTS; a
forced re-run of the embedding stages is all cache hits; an embedding killed mid-way resumes
without re-encoding its finished batches and ends in the same bytes; a changed image re-runs its
set's stage and misses the cache for that set only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, tiny_params

pytest.importorskip("open_clip")
pytest.importorskip("PIL")
DVC = REPO / ".venv" / "bin" / "dvc"
STUDY = "imagenet1k-tiny-random"
SETS = ("imagenet1k", "inaturalist", "sun", "places", "textures")
pytestmark = pytest.mark.skipif(not DVC.exists(), reason="needs the project's .venv (scripts/setup.sh)")


def project_copy(dest: Path) -> Path:
    """The working tree's tracked and not-ignored files (no outputs, no dvc.lock) in a new git repo."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if rel == "dvc.lock" or rel.startswith(("results/", "metrics/")) or not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def env() -> dict:
    return {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1", "OOD_DATA_ROOT": ""}


def run(cmd, cwd, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env(), capture_output=True, text=True,
                            timeout=900, **kwargs)
    if check:
        assert result.returncode == 0, f"{cmd}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def small_mini_params(data_root: Path, weights_dir: Path, counts: dict) -> dict:
    from ood_study.mini_benchmark import mini_params

    raw = mini_params(tiny_params(), data_root, weights_dir, counts)
    raw["corpus"]["noun_lexnames"] = ["noun.motive", "noun.shape"]
    raw["corpus"]["adj_lexnames"] = ["adj.ppl"]
    raw["ablations"]["selection"]["density_k"] = [5, 10]
    for block in raw["method_params"].values():  # every method, also those added later: small groups
        for stage in ("mining", "scoring"):
            for key, small in (("n_groups", 10), ("k", 10)):
                if isinstance(block.get(stage), dict) and key in block[stage]:
                    block[stage][key] = small
    return raw


def test_the_generator_writes_the_real_layouts_with_unusual_files_the_same_bytes_each_time(mini_benchmark, tmp_path):
    from PIL import Image

    from ood_core.features.image_sets import image_set
    from ood_study.mini_benchmark import write_mini_benchmark

    data_root, _, counts = mini_benchmark
    assert counts == {"imagenet1k": 1000, "inaturalist": 5, "sun": 5, "places": 5, "textures": 47}
    for name, n in counts.items():
        report = image_set(name, root=data_root, expected_count=n).check()
        assert report.ok, str(report)
        assert not image_set(name, root=data_root).check().ok  # the published counts are not there
    files = sorted(p for p in data_root.rglob("*") if p.is_file())
    modes, orientations, formats, sizes = set(), set(), set(), set()
    for f in files:
        with Image.open(f) as im:
            modes.add(im.mode)
            formats.add(im.format)
            sizes.add(im.size)
            orientations.add(im.getexif().get(0x0112))
    assert {"RGB", "L", "CMYK", "RGBA"} <= modes and formats == {"JPEG", "PNG"}
    assert {3, 6, 8} <= orientations and len(sizes) > 50
    again = write_mini_benchmark(tmp_path / "again")
    assert again == counts
    assert all(f.read_bytes() == (tmp_path / "again" / f.relative_to(data_root)).read_bytes() for f in files)


def test_tiny_random_weights_load_as_a_local_file_and_are_the_same_bytes_each_time(mini_benchmark, tmp_path):
    import hashlib

    from ood_core.features import encoders

    _, weights_dir, _ = mini_benchmark
    first = weights_dir / "ood-tiny-random.pt"
    second = encoders.write_random_weights("tiny-random", tmp_path)
    assert first.read_bytes() == second.read_bytes()
    enc = encoders.load_backbone("tiny-random", cache_dir=weights_dir, device="cpu", precision="fp32")
    assert enc.cache_fields()["weights"] == "sha256:" + hashlib.sha256(first.read_bytes()).hexdigest()
    assert encoders.is_random_weights("tiny-random") and not encoders.is_random_weights("ViT-B-16")
    with pytest.raises(FileNotFoundError, match="mini_benchmark --weights-dir"):
        encoders.load_backbone("tiny-random", cache_dir=tmp_path / "empty", device="cpu")


@pytest.fixture(scope="module")
def project(tmp_path_factory, mini_benchmark):
    """The project copy after a full `dvc repro` of the mini benchmark (and that run's output)."""
    data_root, weights_dir, counts = mini_benchmark
    root = project_copy(tmp_path_factory.mktemp("mini_project"))
    (root / "params.yaml").write_text(yaml.safe_dump(small_mini_params(data_root, weights_dir, counts),
                                                     sort_keys=False))
    first = run([DVC, "repro"], root)
    return root, first.stdout


def _entries(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.glob("*.npy"))}


def test_dvc_repro_runs_every_stage_notebook_and_the_report(project):
    root, out = project
    from dvc.repo import Repo

    names = sorted(s.name for s in Repo(str(root)).index.stages)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == set(names), sorted(set(names) - ran)
    assert {f"image_set@{s}" for s in SETS} <= ran and "nb_backbones@imagenet1k" in ran
    assert "Data and pipelines are up to date" in run([DVC, "status"], root).stdout
    report = (root / "results" / "report.md").read_text()
    assert f"## {STUDY}" in report and "RANDOM WEIGHTS" in report
    assert "Ours minus published" not in report  # random weights are never compared with the paper
    for method in yaml.safe_load((root / "params.yaml").read_text())["methods"]:
        metrics = json.loads((root / "metrics" / STUDY / f"{method}.json").read_text())
        assert set(metrics["AUROC"]) >= {"inaturalist", "sun", "places", "textures", "average"}
    executed = root / "results" / STUDY / "01_main_results" / "01_main_results.ipynb"
    assert "RANDOM WEIGHTS" in executed.read_text()
    images = root / "data" / "embeddings" / STUDY / "images"
    assert np.load(images / "imagenet1k.npy").shape == (1000, 32)
    assert {p.stem: np.load(p).shape[0] for p in images.glob("*.npy")} == {
        "imagenet1k": 1000, "inaturalist": 5, "sun": 5, "places": 5, "textures": 47}


def test_a_forced_rerun_encodes_nothing(project):
    root, _ = project
    before = {p: p.stat().st_mtime_ns for p in (root / "data" / "cache").glob("*.npy")}
    out = run([DVC, "repro", "--force", f"embed_images@{STUDY}", f"embed_text@{STUDY}"], root).stdout
    assert "images: 5 of 5 entries were cache hits; 0 items encoded" in out, out[-3000:]
    assert "texts: " in out and " items encoded by this rank" in out
    texts_line = next(line for line in out.splitlines() if "] texts: " in line)
    hits, total = texts_line.split("texts: ")[1].split(" entries")[0].split(" of ")
    assert hits == total and "; 0 items encoded" in texts_line
    assert {p: p.stat().st_mtime_ns for p in (root / "data" / "cache").glob("*.npy")} == before
    assert not list((root / "data" / "cache").glob("partial/*/*"))


KILLER = """
import os, signal, sys
from ood_core.features import encoders
limit = int(sys.argv[1]); count_file = sys.argv[2]; calls = []
real = encoders.ClipEncoder.encode_image_tensor
def counting(self, images):
    if limit and len(calls) == limit:
        os.kill(os.getpid(), signal.SIGKILL)  # as a crash or the OOM killer: no clean-up runs
    calls.append(len(images))
    with open(count_file, "a") as f:
        f.write(f"{len(images)}\\n")
    return real(self, images)
encoders.ClipEncoder.encode_image_tensor = counting
from ood_study.stages import embed
embed.main(sys.argv[3:])
"""


def test_a_killed_embedding_resumes_without_re_encoding_and_gives_the_same_bytes(project, tmp_path):
    root, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["paths"]["cache_dir"] = str(tmp_path / "cache")  # a cold cache
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    args = ["images", "--params", params_path, "--root", tmp_path, "--benchmark", "imagenet1k",
            "--backbone", "tiny-random"]
    killed = run([sys.executable, script, 5, tmp_path / "killed.txt", *args], root, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len((tmp_path / "killed.txt").read_text().split()) == 5  # five forward passes, then killed
    assert not list((tmp_path / "cache").glob("*.npy"))  # no entry, complete or not
    parts = list((tmp_path / "cache" / "partial").glob("*/batch-*.npy"))
    assert len(parts) == 5

    run([sys.executable, script, 0, tmp_path / "resumed.txt", *args], root)
    # batch_size 64: ceil(1000 / 64) = 16 ID batches + one per OOD set (5, 5, 5, 47 images) = 20 passes
    # in all, of which the killed run did 5: every batch is encoded once over both runs.
    assert len((tmp_path / "resumed.txt").read_text().split()) == 20 - 5
    assert not list((tmp_path / "cache" / "partial").glob("*/*"))
    reference = _entries(root / "data" / "cache")
    got = _entries(tmp_path / "cache")
    assert got and set(got) <= set(reference)  # same keys: same model, files and options
    assert all(got[name] == reference[name] for name in got)  # byte-identical to the uninterrupted run


def test_a_replaced_image_reruns_its_set_and_misses_the_cache_for_that_set_only(project, tmp_path):
    from PIL import Image

    root, _ = project
    params = yaml.safe_load((root / "params.yaml").read_text())
    data_root = Path(params["paths"]["data_root"])
    target = sorted((data_root / "SUN" / "images").glob("*.jpg"))[-1]
    backup = tmp_path / target.name
    shutil.copy2(target, backup)
    try:
        with Image.open(target) as im:
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(target, format="JPEG", quality=85)
        status = run([DVC, "status"], root).stdout
        assert "image_set@sun" in status and "image_set@places" not in status, status
        out = run([DVC, "repro", f"embed_images@{STUDY}"], root).stdout
        assert "Running stage 'image_set@sun'" in out and "Running stage 'image_set@places'" not in out
        assert "images: 4 of 5 entries were cache hits" in out, out[-3000:]
    finally:
        shutil.copy2(backup, target)
        run([DVC, "repro", f"embed_images@{STUDY}"], root)
