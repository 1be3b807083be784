"""Outputs identical by hash on another CPU and thread count, and a scores archive without timestamps.

Every output of the score stages (raw scores ``.npz``, metrics JSON: DVC summary and details), a
sweep CSV and the report must hash the same on any machine: the scores through exact products
(``ood_core.exact``), the written floats through ``ood_study.study.round_sig``, the archives
through ``ood_study.study.write_npz``. "Another CPU" is imitated on this one: MKL's and
OpenBLAS's kernels are forced to other instruction sets (``OTHER_CPU``), which changes the bits
of a float32 product here (checked first, else the comparison would prove nothing).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ood_study.layout import Layout
from ood_study.method_params import scoring_params
from ood_study.params import load_params
from ood_study.stages import score as score_stage
from ood_study.study import load_study, round_sig, write_npz

REPO = Path(__file__).resolve().parent.parent
STUDY = "simulated-ViT-B-16"
ITEM = ["--benchmark", "simulated", "--backbone", "ViT-B-16"]

# One process per thread count: every score stage, one sweep saved by Notebook.save_sweep, the report.
_RUN = """
import json, sys
from pathlib import Path

import torch

from ood_study import experiments
from ood_study.method_params import scoring_params
from ood_study.notebook import setup
from ood_study.params import load_params
from ood_study.stages import report, score

root = Path(sys.argv[1])
params = root / "params.yaml"
common = ["--params", str(params), "--root", str(root)]
for method in load_params(params).methods:
    score.main([*common, "--benchmark", "simulated", "--backbone", "ViT-B-16", "--method", method])
nb = setup("02_ablation_tau", "simulated", "ViT-B-16", root=root, params_path=params, dvc_stage=True)
dnm = scoring_params(nb.params, "dnm", "ViT-B-16")
nb.save_sweep(experiments.tau_sweep(nb.study, nb.study.negatives("dnm"), dnm, nb.ablation("tau").grid))
report.main(common)
(root / "threads.json").write_text(json.dumps(torch.get_num_threads()))
# canary: the bits of plain float32 products (torch: MKL; numpy: OpenBLAS) on this process's kernels
import hashlib
import numpy as np
rng = np.random.default_rng(0)
a, b = rng.standard_normal((300, 512)).astype(np.float32), rng.standard_normal((400, 512)).astype(np.float32)
canary = {"torch": hashlib.sha256((torch.from_numpy(a) @ torch.from_numpy(b).T).numpy().tobytes()).hexdigest(),
          "numpy": hashlib.sha256((a @ b.T).tobytes()).hexdigest()}
(root / "canary.json").write_text(json.dumps(canary))
"""

#: another CPU, imitated: the instruction-set settings of the issue (an AVX2 machine) plus kernels
#: that differ from this machine's own on any x86 CPU (MKL's SSE2 "compatible" path, OpenBLAS's
#: AVX-only Sandybridge kernels), so that the products' bits change here too
OTHER_CPU = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE",
             "OPENBLAS_CORETYPE": "Sandybridge"}


def _copy_project(tiny_project: Path, root: Path) -> Path:
    """A fresh project root holding the tiny project's params and inputs (corpus, embeddings, negatives)."""
    root.mkdir()
    shutil.copy(tiny_project / "params.yaml", root / "params.yaml")
    shutil.copytree(tiny_project / "data", root / "data")
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stable_outputs(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every output that must be bit-stable across machines."""
    layout = Layout(root)
    files = [*(root / "metrics").rglob("*.json"), *(layout.results_dir(STUDY) / "scores").glob("*.json"),
             *(layout.results_dir(STUDY) / "scores").glob("*.npz"), *(layout.results_dir(STUDY) / "sweeps").glob("*.csv"),
             layout.report]
    return {str(p.relative_to(root)): _sha256(p) for p in files}


def test_every_output_is_identical_by_hash_on_another_cpu_and_thread_count(tiny_project, tmp_path):
    """This machine (2 threads) against "another CPU" (``OTHER_CPU`` kernels, 1 thread)."""
    machines = {"here": {"threads": 2}, "other": {"threads": 1, **OTHER_CPU}}
    roots = {m: _copy_project(tiny_project, tmp_path / m) for m in machines}
    procs = {}
    for m, root in roots.items():
        settings = dict(machines[m])
        n = str(settings.pop("threads"))
        env = {k: v for k, v in os.environ.items() if k not in OTHER_CPU}
        env.update({"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, **settings,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
        procs[m] = subprocess.Popen([sys.executable, "-c", _RUN, str(root)], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for m, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"the {m!r} run failed:\n{out}"
    assert [json.loads((roots[m] / "threads.json").read_text()) for m in machines] == [2, 1]
    canaries = [json.loads((roots[m] / "canary.json").read_text()) for m in machines]
    changed = [lib for lib in ("torch", "numpy") if canaries[0][lib] != canaries[1][lib]]
    assert changed == ["torch", "numpy"], "OTHER_CPU no longer changes the products' bits here: the test is blind"

    here, other = (_stable_outputs(roots[m]) for m in machines)
    methods = load_params(tiny_project / "params.yaml").methods
    expected = {f"metrics/{STUDY}/{m}.json" for m in methods} | {f"results/{STUDY}/scores/{m}.json" for m in methods}
    expected |= {f"results/{STUDY}/scores/{m}.npz" for m in methods}  # the raw scores
    expected |= {f"metrics/{STUDY}/summary/{m}.json" for m in methods}  # the DVC summary metrics
    expected |= {f"results/{STUDY}/sweeps/02_ablation_tau.csv", "results/report.md"}
    assert set(here) == expected
    assert {k for k in here if here[k] != other[k]} == set()
    roots = {1: roots["here"]}
    # The written floats carry at most 6 significant digits (round_sig is the identity on them).
    detail = json.loads(Layout(roots[1]).score_details(STUDY, "dnm").read_text())
    for per_set in detail["metrics"].values():
        assert all(round_sig(v) == v for v in per_set.values())
    sweep = pd.read_csv(Layout(roots[1]).sweep_csv(STUDY, "02_ablation_tau"))
    for column in ("fpr95", "auroc"):
        assert all(round_sig(v) == v for v in sweep[column].dropna())


def test_score_stage_writes_a_byte_identical_npz_twice_in_a_row(tiny_project, tmp_path, monkeypatch):
    root = _copy_project(tiny_project, tmp_path / "project")
    layout = Layout(root)
    argv = ["--params", str(root / "params.yaml"), "--root", str(root), *ITEM, "--method", "dnm"]
    score_stage.main(argv)
    first = layout.scores(STUDY, "dnm").read_bytes()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3 * 86400)  # a zip timestamp would change
    score_stage.main(argv)
    assert layout.scores(STUDY, "dnm").read_bytes() == first

    params = load_params(root / "params.yaml")
    sets = params.sets("simulated")
    study = load_study(layout, "simulated", "ViT-B-16", sets.id, sets.ood)
    from ood_study.experiments import score_study

    expected = score_study(study, "dnm", study.negatives("dnm"), scoring_params(params, "dnm", "ViT-B-16"))
    with np.load(layout.scores(STUDY, "dnm")) as npz:
        assert sorted(npz.files) == sorted(expected)
        for split, scores in expected.items():
            assert npz[split].dtype == scores.dtype
            np.testing.assert_array_equal(npz[split], scores)


def test_write_npz_has_no_timestamp_and_round_trips(tmp_path, monkeypatch):
    arrays = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.linspace(0, 1, 5),
              "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "i": np.arange(3, dtype=np.int64),
              "empty": np.zeros(0), "scalar": np.float64(1.5)}

    def stamped(path):  # a zip member stamped with the clock, as ZipFile.writestr(name, ...) does
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a.npy", b"")

    write_npz(tmp_path / "x.npz", arrays)
    stamped(tmp_path / "stamped1.zip")
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3 * 86400)
    write_npz(tmp_path / "y.npz", arrays)
    stamped(tmp_path / "stamped2.zip")
    assert (tmp_path / "x.npz").read_bytes() == (tmp_path / "y.npz").read_bytes()
    # The shifted clock does reach a stamped archive: the check above would catch a timestamp.
    assert (tmp_path / "stamped1.zip").read_bytes() != (tmp_path / "stamped2.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        assert zf.namelist() == sorted(f"{k}.npy" for k in arrays)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert not list(tmp_path.glob("*.tmp"))
    with np.load(tmp_path / "x.npz") as npz:
        assert sorted(npz.files) == sorted(arrays)
        for k, v in arrays.items():
            assert npz[k].dtype == np.asarray(v).dtype and npz[k].shape == np.shape(v)
            np.testing.assert_array_equal(npz[k], v)


def test_round_sig_absorbs_last_bit_noise_and_keeps_structure():
    x = 0.9461234567
    assert round_sig(x) == 0.946123 and round_sig(np.nextafter(x, 1.0)) == round_sig(np.nextafter(x, 0.0))
    assert round_sig(np.float32(0.1)) == 0.1 and type(round_sig(np.float32(0.1))) is float
    assert round_sig(12345.678) == 12345.7 and round_sig(1.23456789e-5) == 1.23457e-5
    assert round_sig(0.123456789, digits=3) == 0.123
    nested = {"average": {"auroc": 0.91234567, "n": np.int64(3), "ok": np.bool_(True)},
              "list": [1.0000001, float("inf"), "x", None], "tuple": (0.333333333,)}
    out = round_sig(nested)
    assert out == {"average": {"auroc": 0.912346, "n": 3, "ok": True}, "list": [1.0, float("inf"), "x", None],
                   "tuple": (0.333333,)}
    assert type(out["average"]["n"]) is int and type(out["average"]["ok"]) is bool
    assert np.isnan(round_sig(float("nan")))
    assert json.dumps(out, sort_keys=True) == json.dumps(round_sig(out), sort_keys=True)  # idempotent


def test_round_sig_rounds_a_dataframe_copy():
    df = pd.DataFrame({"method": ["dnm", "mcm"], "value": [0.01, 1.0], "auroc": [94.612345678, np.nan],
                       "valid": [True, False], "n_negatives": [10, 0]})
    out = round_sig(df)
    assert df["auroc"][0] == 94.612345678  # the input is not changed
    assert out["auroc"][0] == 94.6123 and np.isnan(out["auroc"][1])
    assert list(out.dtypes) == list(df.dtypes)
    assert out.to_csv(index=False).splitlines()[1] == "dnm,0.01,94.6123,True,10"
    noisy = df.assign(auroc=np.nextafter(df["auroc"].to_numpy(), 200.0))
    assert round_sig(noisy).to_csv(index=False) == out.to_csv(index=False)


@pytest.mark.parametrize("value", [0.5, 1e-7, 99.99])
def test_round_sig_leaves_short_values_unchanged(value):
    assert round_sig(value) == value
