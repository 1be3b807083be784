"""What tracking the image sets costs: DVC's first hash and no-op `dvc status`, and the embedding
cache's content fingerprint, on the mini benchmark (ood_study.mini_benchmark), optionally with
every image copied ``--copies`` times; extrapolated per file to the ImageNet-1k benchmark's
85,640 images (50,000 ID + 35,640 OOD).

    python benchmarks/bench_image_sets.py [--copies 10] [--workdir /tmp/bench_image_sets]

Baselines in the same run: ``os.stat`` of every file (the least a no-op check can do) and a plain
sha256 of every byte (what a first hash must at least read). Per-file figures scale with file
size for hashing (the mini images are ~8 KB; ImageNet's average ~110 KB), so the 86k
extrapolation of hashing is a lower bound there; stat-bound figures (no-op status, memo hits)
carry over.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
N_REAL = 85_640
SETS = {"imagenet1k": "imagenet/val", "inaturalist": "iNaturalist/images", "sun": "SUN/images",
        "places": "Places/images", "textures": "dtd/images"}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1, help="copies of each generated image (more files)")
    parser.add_argument("--workdir", default="/tmp/bench_image_sets")
    args = parser.parse_args()
    from ood_core.features.cache import fingerprint_files
    from ood_study.mini_benchmark import write_mini_benchmark

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    write_mini_benchmark(data)
    files = sorted(p for p in data.rglob("*") if p.is_file())
    for k in range(1, args.copies):
        for f in list(files):
            shutil.copyfile(f, f.with_name(f"copy{k}_{f.name}"))
    files = sorted(p for p in data.rglob("*") if p.is_file())
    n, size = len(files), sum(f.stat().st_size for f in files)
    print(f"{n} files, {size / 1e6:.1f} MB ({size / n / 1e3:.1f} KB per file)")

    def sha_all():
        for f in files:
            hashlib.sha256(f.read_bytes()).hexdigest()

    t_stat = timed(lambda: [f.stat() for f in files])
    t_sha = timed(sha_all)
    memo = work / "memo"
    t_fp_cold = timed(lambda: fingerprint_files(files, data, memo_dir=memo))
    t_fp_warm = timed(lambda: fingerprint_files(files, data, memo_dir=memo))

    project = work / "project"
    project.mkdir()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [str(REPO / ".venv" / "bin" / "dvc")]
    subprocess.run(dvc + ["init", "--no-scm", "-q"], cwd=project, check=True, env=env)
    stages = "".join(f"  {name}:\n    cmd: 'true'\n    deps:\n      - {data / folder}\n"
                     for name, folder in SETS.items())
    (project / "dvc.yaml").write_text("stages:\n" + stages)
    run = lambda *a: subprocess.run(dvc + list(a), cwd=project, check=True, env=env, capture_output=True)  # noqa: E731
    t_first = timed(lambda: run("repro"))
    t_status = timed(lambda: run("status"))
    t_status2 = timed(lambda: run("status"))
    t_empty = timed(lambda: subprocess.run(dvc + ["--version"], check=True, env=env, capture_output=True))

    per = lambda t: t / n * N_REAL  # noqa: E731
    print(f"{'what':58s} {'seconds':>8s} {'86k files (s)':>14s}")
    for what, t in [("baseline: os.stat of every file", t_stat),
                    ("baseline: sha256 of every file (read + hash)", t_sha),
                    ("fingerprint_files, cold (sha256 + memo write)", t_fp_cold),
                    ("fingerprint_files, warm memo (stat only)", t_fp_warm),
                    ("dvc repro of 5 stages, first hash of every folder", t_first),
                    ("dvc status, no-op (1st)", t_status),
                    ("dvc status, no-op (2nd)", t_status2),
                    ("dvc --version (start-up alone)", t_empty)]:
        print(f"{what:58s} {t:8.2f} {per(t):14.1f}")
    print(f"ratios: cold fingerprint / plain sha256 = {t_fp_cold / t_sha:.2f}; warm / os.stat = {t_fp_warm / t_stat:.1f}; "
          f"dvc status minus start-up, per 1,000 files = {(t_status2 - t_empty) / n * 1000:.3f} s")


if __name__ == "__main__":
    main()
