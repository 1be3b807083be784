"""Hard edges (issue 20): hostile inputs give a clear error or a correct result, never a write outside
the project, a lost result, an input counted twice or unbounded work. One test (or a few) per item."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ood_study.layout import Layout, check_name
from ood_study.params import parse_tree

REPO = Path(__file__).resolve().parent.parent


def _shipped() -> dict:
    with open(REPO / "params.yaml") as f:
        return yaml.safe_load(f)


# --- item 1: names that become paths ----------------------------------------------------------------

@pytest.mark.parametrize("stage, argv, flag", [
    ("embed", ["text", "--benchmark", "simulated", "--backbone", "../../../../../x"], "--backbone"),
    ("embed", ["images", "--benchmark", "/tmp/abs", "--backbone", "ViT-B-16"], "--benchmark"),
    ("mine", ["--benchmark", "simulated", "--backbone", "../../y", "--method", "mcm"], "--backbone"),
    ("score", ["--benchmark", "simulated", "--backbone", "ViT-B-16", "--method", "a/../../b"], "--method"),
    ("notebook", ["--notebook", "01_main_table", "--benchmark", "../../z"], "--benchmark"),
])
def test_stage_arguments_that_are_not_names_are_refused_before_anything_is_written(tmp_path, stage, argv, flag):
    import importlib

    root = tmp_path / "a" / "b" / "c" / "d" / "e" / "project"
    root.mkdir(parents=True)
    module = importlib.import_module(f"ood_study.stages.{stage}")
    if stage == "notebook":
        from ood_study.notebook import NOTEBOOKS

        argv = ["--notebook", next(iter(NOTEBOOKS)), *argv[2:]]
    with pytest.raises(ValueError, match=rf"{flag} = .* is not a valid name.*no '/', no '\.\.'"):
        module.main([*argv, "--root", str(root), "--params", str(REPO / "params.yaml")])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("edit, key", [
    (lambda p: p["benchmark_sets"].__setitem__("../../evil", p["benchmark_sets"]["simulated"] | {"simulation": None}),
     "benchmark_sets key"),
    (lambda p: p.__setitem__("backbones", ["ViT-B-16", "../w"]), "backbones"),
    (lambda p: p["image_sets"].__setitem__("a/b", "x"), "image_sets key"),
    (lambda p: p["method_params"].__setitem__("/abs", {}), "method_params key"),
    (lambda p: p["benchmark_sets"]["simulated"].__setitem__("ood", ["inaturalist", "../up"]), "benchmark_sets.simulated.ood"),
])
def test_params_keys_that_become_paths_are_checked_as_names(edit, key):
    raw = _shipped()
    edit(raw)
    with pytest.raises(ValueError, match=rf"{key} = .* is not a valid name"):
        parse_tree(copy.deepcopy(raw))


def test_every_layout_path_stays_under_the_root(tmp_path):
    layout = Layout(tmp_path)
    for call in (lambda: layout.scores("simulated-ViT-B-16", "../../m"), lambda: layout.image_file("s", "/etc/x"),
                 lambda: layout.notebook_dir("..", "nb"), lambda: layout.text_file("../s", "id.npy"),
                 lambda: layout.negatives("s", "a\\..\\b")):
        with pytest.raises(ValueError, match="is not a valid name"):
            call()
    # valid names give paths under the root (the names of params.yaml and the dvc.yaml templates)
    assert layout.scores("simulated-ViT-B-16", "dnm_auto").resolve().is_relative_to(tmp_path.resolve())
    assert check_name("backbone", "ViT-L-14-336") == "ViT-L-14-336"
    assert check_name("study", "{benchmark}-{backbone}") == "{benchmark}-{backbone}"


# --- item 2: a failing stage never removes a good output DVC cannot restore ----------------------------

def test_the_report_is_a_cached_dvc_output_so_checkout_restores_it_after_a_failing_run():
    # DVC deletes a stage's outputs before running it; results/ is not in git, so a `cache: false` report
    # would be gone for good after a failing `report` stage.
    with open(REPO / "dvc.yaml") as f:
        outs = yaml.safe_load(f)["stages"]["report"]["outs"]
    assert outs == ["results/report.md"]


def test_a_failing_report_write_keeps_the_previous_report(tmp_path, monkeypatch):
    from ood_study.params import load_params
    from ood_study.stages import report

    layout = Layout(tmp_path)
    layout.report.parent.mkdir(parents=True)
    layout.report.write_text("the last good report\n")
    # a table that cannot be encoded fails half-way through the write, as a full disk would
    monkeypatch.setattr(report, "build_report", lambda params, layout: "| method |\n" + "\ud800")
    with pytest.raises(UnicodeEncodeError):
        report.run(load_params(REPO / "params.yaml"), layout)
    assert layout.report.read_text() == "the last good report\n"
    assert sorted(p.name for p in layout.report.parent.iterdir()) == ["report.md"]  # no temporary file left


# --- item 3: an image listed twice is an error naming the lines ---------------------------------------

def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 5), (200, 10, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def _expect_count(monkeypatch, name: str, count: int) -> None:
    import dataclasses

    from ood_core.features import image_sets

    spec = image_sets._SETS[name]
    split = dataclasses.replace(spec.splits[spec.default_split], expected_count=count)
    monkeypatch.setitem(image_sets._SETS, name, dataclasses.replace(spec, splits={**spec.splits, spec.default_split: split}))


@pytest.mark.parametrize("lines", [["ninco/a.jpg", "ninco/b.jpg", "ninco/a.jpg"],
                                   ["ninco/a.jpg", "ninco/b.jpg", "ninco/./a.jpg"],
                                   ["ninco/a.jpg", "ninco/b.jpg", "ninco//a.jpg"]])
def test_an_openood_list_naming_an_image_twice_fails_check_naming_both_lines(tmp_path, monkeypatch, lines):
    from ood_core.features import image_sets

    jpeg = _jpeg()
    for rel in ("ninco/a.jpg", "ninco/b.jpg"):
        (tmp_path / "openood/images_largescale" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "openood/images_largescale" / rel).write_bytes(jpeg)
    list_path = tmp_path / "openood/benchmark_imglist/imagenet/test_ninco.txt"
    list_path.parent.mkdir(parents=True)
    list_path.write_text("".join(f"{r} -1\n" for r in lines))
    _expect_count(monkeypatch, "ninco", 3)  # the old check said "OK, 3 images"
    report = image_sets.image_set("ninco", tmp_path).check()
    assert not report.ok
    assert report.problems == [f"{list_path}: 1 image(s) listed twice, which would be scored twice: "
                               "line 3 repeats line 1 (ninco/a.jpg); delete the repeated lines"]
    with pytest.raises(ValueError, match="line 3 repeats line 1"):
        image_sets.image_set("ninco", tmp_path).files()


def test_a_food101_split_file_naming_an_image_twice_is_an_error(tmp_path):
    from ood_core.features import image_sets

    root = tmp_path / "food-101"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "test.txt").write_text("apple_pie/1\napple_pie/2\n\napple_pie/1\n")
    with pytest.raises(ValueError, match=r"test.txt: 1 image\(s\) listed twice.*line 4 repeats line 1 "
                                         r"\(apple_pie/1.jpg\)"):
        image_sets._food101_files(image_sets.image_set("food101", tmp_path))


# --- item 4: reserved names are refused where they enter ---------------------------------------------

def _clusters(seed: int, n: int, d: int = 8, shift: float = 0.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + shift
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_evaluate_refuses_an_ood_set_named_average_instead_of_dropping_it():
    from ood_core.evaluation import evaluate

    labels = _clusters(0, 3)
    with pytest.raises(ValueError, match="an OOD set is named 'average', which is reserved .* rename that OOD set"):
        evaluate("mcm", _clusters(1, 20), {"inat": _clusters(2, 20), "average": _clusters(3, 20)}, labels)
    # a set with another name still gets its row and the mean row
    table = evaluate("mcm", _clusters(1, 20), {"inat": _clusters(2, 20), "averaged": _clusters(3, 20)}, labels)
    assert list(table.index) == ["inat", "averaged", "average"]


def test_study_metrics_per_set_and_params_refuse_an_ood_set_named_average():
    import numpy as np

    from ood_study.study import metrics_per_set

    pair = (np.arange(5.0), np.arange(5.0) - 2)
    with pytest.raises(ValueError, match="pairs: an OOD set is named 'average'"):
        metrics_per_set({"a": pair, "average": pair})
    raw = _shipped()
    raw["benchmark_sets"]["simulated"]["ood"] = ["inaturalist", "average"]
    with pytest.raises(ValueError, match=r"benchmark_sets.simulated.ood lists 'average', a name reserved"):
        parse_tree(raw)


# --- item 5: index arrays and flags validated, naming the argument ----------------------------------

def _evaluate_inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    labels, cands = _clusters(0, 3), _clusters(4, 12)
    is_adj = np.array([False] * 8 + [True] * 4)
    return _clusters(1, 20), {"inat": _clusters(2, 20)}, labels, cands, is_adj, rng


@pytest.mark.parametrize("flags, message", [
    (["yes", "no"] * 6, r"is_adj must hold booleans \(or 0/1 integers\), one flag per row; got dtype <U3 .*'yes'"),
    ([0.0, 1.0] * 6, "is_adj must hold booleans .* got dtype float64"),
    ([True] * 11, r"is_adj must be 1-D of length 12 \(one flag per row\); got shape \(11,\)"),
])
def test_is_adj_as_strings_floats_or_of_the_wrong_length_is_refused(flags, message):
    from ood_core.evaluation import evaluate
    from ood_core.features import TextFeatures

    ind, ood, labels, cands, _, _ = _evaluate_inputs()
    with pytest.raises(ValueError, match=message):
        evaluate("neglabel", ind, ood, labels, cands, flags)
    with pytest.raises(ValueError, match=message):
        TextFeatures(labels, cands, cands[:0], flags)


@pytest.mark.parametrize("negatives, message", [
    ([0, 1, -1], r"negatives holds 1 index\(es\) outside \[0, 12\) .* first -1 at position 2"),
    ([0, 1, 12], r"negatives holds 1 index\(es\) outside \[0, 12\) .* first 12 at position 2"),
    ([0.0, 1.7], r"negatives has dtype float64: it must hold integer indices into the 12 rows"),
    ([True, False], "negatives has dtype bool: it must hold integer indices"),
])
def test_negative_indices_that_wrap_truncate_or_overflow_are_named_errors(negatives, message):
    import numpy as np

    from ood_core.evaluation import evaluate

    ind, ood, labels, cands, is_adj, _ = _evaluate_inputs()
    with pytest.raises(ValueError, match=message):
        evaluate("neglabel", ind, ood, labels, cands, is_adj, negatives=np.array(negatives))


def test_empty_and_valid_negatives_still_score():
    from ood_core.evaluation import evaluate

    ind, ood, labels, cands, is_adj, _ = _evaluate_inputs()
    table = evaluate("neglabel", ind, ood, labels, cands, is_adj, negatives=[0, 3, 9],
                     scoring={"n_groups": 1})
    assert list(table.index) == ["inat", "average"]


def test_an_unknown_backbone_is_an_error_not_a_silent_drop_of_its_overrides():
    from ood_core.evaluation import evaluate

    ind, ood, labels, cands, is_adj, _ = _evaluate_inputs()
    with pytest.raises(ValueError, match=r"scoring \(mcm\): backbone 'nosuch' is not a known backbone; use one of "
                                         r"\['RN50', 'ViT-B-16'.*silently take none of the per_backbone values"):
        evaluate("mcm", ind, ood, labels, backbone="nosuch")


# --- item 6: seed=None refused by every library function that takes a seed ----------------------------

def _seeded_calls():
    import numpy as np

    from ood_core import bootstrap, mpe, scoring
    from ood_core.features.encoders import load_encoder
    from ood_core.methods.adaneg import adaneg_stream
    from ood_core.methods.tanl import tanl_stream
    from ood_core.text.prompts import csp_adjective_phrases

    img, labels, negs = _clusters(1, 6), _clusters(0, 3), _clusters(4, 12)
    pos, unl = np.random.default_rng(0).normal(size=(10, 4)), np.random.default_rng(1).normal(size=(10, 4))
    pair = {"a": (np.arange(6.0), np.arange(6.0) - 3)}
    return {
        "make_groups": lambda seed: scoring.make_groups(12, 3, seed=seed),
        "neglabel": lambda seed: scoring.neglabel(img, labels, negs, n_groups=3, seed=seed),
        "dnm": lambda seed: scoring.dnm(img, labels, negs, n_groups=3, tau=0.1, seed=seed),
        "adaneg_stream": lambda seed: adaneg_stream(img, labels, negs, n_groups=3, seed=seed),
        "bootstrap_draws": lambda seed: bootstrap.bootstrap_draws(pair, n_resamples=5, seed=seed),
        "metric_intervals": lambda seed: bootstrap.metric_intervals(pair, n_resamples=5, seed=seed),
        "classifier_outputs": lambda seed: mpe.classifier_outputs(pos, unl, n_folds=2, seed=seed),
        "estimate_proportion": lambda seed: mpe.estimate_proportion(pos, unl, n_folds=2, n_bootstrap=3, seed=seed),
        "csp_adjective_phrases": lambda seed: csp_adjective_phrases(["red"], seed=seed),
        "load_encoder": lambda seed: load_encoder("ViT-B-16", None, random_init_seed=seed),
        "tanl_stream": lambda seed: tanl_stream(img, labels, negs, seed=seed),
        "paired_difference_intervals": lambda seed: bootstrap.paired_difference_intervals(pair, pair, n_resamples=5,
                                                                                          seed=seed),
    }


@pytest.mark.parametrize("function", [
    "make_groups", "neglabel", "dnm", "adaneg_stream", "bootstrap_draws", "metric_intervals", "classifier_outputs",
    "estimate_proportion", "csp_adjective_phrases", "load_encoder", "tanl_stream", "paired_difference_intervals"])
@pytest.mark.parametrize("seed", [None, -1, 1.5, True, "0", 2**64])
def test_every_function_taking_a_seed_refuses_none_and_non_integers_alike(function, seed):
    name = "random_init_seed" if function == "load_encoder" else "seed"
    hint = r" \(None would draw fresh entropy" if seed is None else ""
    with pytest.raises(ValueError, match=rf"{name}={seed!r}".replace("(", r"\(").replace(")", r"\)")
                       + rf" must be an integer in \[0, 2\*\*63 - 1\]{hint}"):
        _seeded_calls()[function](seed)


def test_a_fixed_seed_gives_the_same_scores_on_every_call():
    import numpy as np

    calls = _seeded_calls()
    for function in ("neglabel", "dnm", "adaneg_stream"):
        first, second = calls[function](7), calls[function](7)
        np.testing.assert_array_equal(np.asarray(first[0] if isinstance(first, tuple) else first),
                                      np.asarray(second[0] if isinstance(second, tuple) else second))


# --- item 7: tiny-random weights byte-identical across processes and folders ---------------------------

_WRITE = ("import sys, tempfile, os; from ood_core.features.encoders import write_random_weights; "
          "print(write_random_weights('tiny-random', sys.argv[1])); "
          "print(sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith('ood_core_models_')))")


@pytest.mark.e2e  # two processes loading open_clip: ~15 s alone, a minute on a busy machine
def test_tiny_random_weights_are_byte_identical_across_processes_and_folders(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    folders = [tmp_path / "one", tmp_path / "deep" / "two"]
    runs = [subprocess.Popen([sys.executable, "-c", _WRITE, str(f)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for f in folders]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert all(r.returncode == 0 for r in runs), [err for _, err in outputs]
    first, second = (Path(out.splitlines()[0]).read_bytes() for out, _ in outputs)
    assert first == second and len(first) > 0
    # item 10: registering the tiny architecture leaves no ood_core_models_* folder in the temp directory
    assert [out.splitlines()[1] for out, _ in outputs] == ["[]", "[]"]
    assert not [p for p in (tmp_path / "tmp").iterdir() if p.name.startswith("ood_core_models_")]


# --- item 8: every count that drives work is bounded; long loops report; a failed launch leaves nothing ----

@pytest.mark.parametrize("edit, message", [
    (lambda p: p["evaluation"].__setitem__("n_resamples", 10**9), "evaluation.n_resamples"),
    (lambda p: p["evaluation"].__setitem__("n_seeds", 10**6), "evaluation.n_seeds"),
    (lambda p: p["encoder"].__setitem__("processes", 10**6), "encoder.processes"),
    (lambda p: p["encoder"].__setitem__("batch_size", 10**9), "encoder.batch_size"),
])
def test_params_counts_above_their_ceiling_are_refused(edit, message):
    raw = _shipped()
    edit(raw)
    with pytest.raises(ValueError, match=message):
        parse_tree(raw)


def test_tau_n_bootstrap_and_library_counts_have_ceilings():
    import numpy as np

    from ood_core import bootstrap, mpe
    from ood_core.methods import get

    with pytest.raises(ValueError, match="tau_n_bootstrap"):
        get("dnm_auto").scoring_params_for({"tau_n_bootstrap": 10**9}, "ViT-B-16")
    pair = {"a": (np.arange(6.0), np.arange(6.0) - 3)}
    with pytest.raises(ValueError, match=r"n_resamples=1000000000 must be an integer in \[1, 100,000\]"):
        bootstrap.bootstrap_draws(pair, n_resamples=10**9)
    x = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(ValueError, match=r"n_bootstrap=1000000000 must be an integer in \[0, 100,000\]"):
        mpe.estimate_proportion(x, x + 1, n_folds=2, n_bootstrap=10**9)


def test_long_bootstraps_print_progress_and_short_ones_stay_silent(capsys):
    import numpy as np

    from ood_core import bootstrap, mpe

    pair = {"a": (np.arange(6.0), np.arange(6.0) - 3)}
    bootstrap.bootstrap_draws(pair, n_resamples=10_000, _chunk=2_500)
    err = capsys.readouterr().err
    assert "bootstrap resamples: 0 / 10,000 (0 %)" in err and "bootstrap resamples: 10,000 / 10,000 (100 %)" in err
    bootstrap.bootstrap_draws(pair, n_resamples=1_000)
    rng = np.random.default_rng(0)
    mpe.estimate_proportion(rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), n_folds=2, n_bootstrap=100)
    assert capsys.readouterr().err == ""


def test_more_processes_than_this_machine_has_devices_is_refused_before_launching(tmp_path, monkeypatch):
    from ood_study.stages import embed

    raw = _shipped()
    raw["encoder"]["processes"] = 1000
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw))
    from ood_study.params import load_params

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(embed, "local_rank_limit", lambda: (2, "CPU core(s) and no CUDA device"))
    monkeypatch.setattr(embed, "run_process_group", lambda cmd: pytest.fail("launched"))
    with pytest.raises(ValueError, match=r"encoder.processes = 1000: this machine has 2 CPU core\(s\) and no CUDA "
                                         r"device, so a launch here runs at most 2 ranks; set encoder.processes to "
                                         r"at most 2"):
        embed._launch_ranks(load_params(params_path), Layout(tmp_path), "images", "imagenet1k", "ViT-B-16")


_LAUNCHER = """
import subprocess, sys, time
rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # a surviving 'rank'
open(sys.argv[1], "w").write(str(rank.pid))
time.sleep(0.2)
sys.exit(3)  # the launch fails
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status is left


def test_a_failed_launch_leaves_no_process_behind(tmp_path):
    import subprocess
    import sys

    from ood_study.stages.embed import run_process_group

    pid_file = tmp_path / "rank.pid"
    with pytest.raises(subprocess.CalledProcessError) as err:
        run_process_group([sys.executable, "-c", _LAUNCHER, str(pid_file)], grace_s=2.0)
    assert err.value.returncode == 3
    assert not _alive(int(pid_file.read_text()))


# --- item 9: concurrent writers of one cache entry never delete each other's parts ----------------------

def _cache_writer(root: str, barrier, rounds: int, worker: int, errors) -> None:
    """One of several processes computing the same cache entries at once, round after round."""
    import time

    import numpy as np

    from ood_core.features.cache import EmbeddingCache
    from ood_core.features.distributed import encode_sharded

    cache = EmbeddingCache(root)
    for r in range(rounds):
        barrier.wait()

        def encode(todo):
            for rows in todo:
                time.sleep(0.002 * (1 + (worker + rows.start) % 3))  # staggered, so the writers interleave
                idx = np.arange(rows.start, rows.stop)
                yield np.stack([idx, idx * 2.0, np.full(idx.size, r)], axis=1).astype(np.float32), idx

        try:
            out = encode_sharded(cache, {"round": r, "test": "concurrent"}, 60, 4, encode).features
            if not np.array_equal(out[:, 0], np.arange(60)) or not (out[:, 2] == r).all():
                errors.put(f"worker {worker} round {r}: wrong features")
        except Exception as err:  # noqa: BLE001 - every failure is reported to the test
            errors.put(f"worker {worker} round {r}: {type(err).__name__}: {err}")


@pytest.mark.e2e  # four spawned processes importing torch: ~1.5 min on a busy 2-core machine (old code: 8 of 80 failed)
def test_four_processes_computing_one_entry_twenty_times_never_break_each_other(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_cache_writer, args=(str(tmp_path / "cache"), barrier, 20, w, errors))
               for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == [] and [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 20
    assert list((tmp_path / "cache" / "partial").glob("*/*")) == []  # the last writer out removed the parts


# --- item 10: the lower items, each a clear error naming the path, value or line -------------------------

def test_decode_gpu_without_cuda_is_an_error_not_a_silent_cpu_decode(monkeypatch):
    import torch

    from ood_study.stages import embed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="encoder.decode = 'gpu' but no CUDA device is visible .* set encoder.decode: "
                                         "pil"):
        embed.check_decode("gpu")
    embed.check_decode("pil")


def test_tau_auto_on_huge_scale_features_matches_the_unit_scale_estimate():
    import numpy as np

    from ood_core import mpe

    rng = np.random.default_rng(0)
    pos = rng.normal(size=(40, 6)) + 1.0
    unl = np.concatenate([rng.normal(size=(30, 6)) + 1.0, rng.normal(size=(30, 6)) - 1.0])
    unit = mpe.estimate_proportion(pos, unl, n_folds=2, n_bootstrap=0)
    huge = mpe.estimate_proportion(pos * 1e200, unl * 1e200, n_folds=2, n_bootstrap=0)
    assert huge.estimate == pytest.approx(unit.estimate, abs=1e-9) and unit.estimate < 1.0


def test_a_cache_dir_that_is_a_file_is_named_as_such(tmp_path):
    from ood_core.features.cache import EmbeddingCache

    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=rf"embedding cache folder {tmp_path / 'cache'} is a file, not a folder; "
                                                 "point params.yaml paths.cache_dir at a folder"):
        EmbeddingCache(tmp_path / "cache").require_writable()


def test_a_full_disk_names_the_file_being_written(tmp_path):
    import errno

    from ood_core.features import files

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=rf"No space left on device while writing {tmp_path / 'x.npy'}") as err:
        files._atomic_write(tmp_path / "x.npy", full)
    assert err.value.errno == errno.ENOSPC and list(tmp_path.iterdir()) == []


def test_non_finite_features_are_never_cached(tmp_path):
    import numpy as np

    from ood_core.features.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    features = np.ones((3, 4), dtype=np.float32)
    features[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"refusing to cache 1 NaN/inf feature value\(s\) \(first in row 2\)"):
        cache.save("k" * 64, features)
    assert list(tmp_path.glob("*.npy")) == []


def test_adaneg_huge_memory_length_and_beta_are_named_before_allocating():
    from ood_core.methods.adaneg import adaneg_stream

    img, labels, negs = _clusters(1, 6), _clusters(0, 3), _clusters(4, 12)
    with pytest.raises(ValueError, match=r"memory_length=10000000000: the memory banks of 15 labels need ~.* GiB, "
                                         r"more than the .* GiB of cpu; lower memory_length"):
        adaneg_stream(img, labels, negs, n_groups=3, memory_length=10**10)
    with pytest.raises(ValueError, match=r"beta=1000.0: the bank weights exp\(beta \* cos\) overflow torch.float32 for "
                                         r"beta above 88.7; lower beta"):
        adaneg_stream(img, labels, negs, n_groups=3, beta=1000.0)


@pytest.mark.parametrize("call, message", [
    (lambda s, i, n: s.neglabel(i[0], i[1], n, temperature="0.01"), r"temperature='0.01' must be a finite number > 0, "
                                                                     r"not a str"),
    (lambda s, i, n: s.neglabel(i[0], i[1], n, temperature=True), "temperature=True must be a finite number > 0, not a "
                                                                  "bool"),
    (lambda s, i, n: s.dnm(i[0], i[1], n, tau="0.5"), r"tau='0.5' must be a number in \[0, 1\), not a str"),
])
def test_string_or_bool_numbers_are_refused_at_the_library_edge_as_params_yaml_does(call, message):
    from ood_core import scoring

    with pytest.raises(ValueError, match=message):
        call(scoring, (_clusters(1, 6), _clusters(0, 3)), _clusters(4, 12))


def test_a_non_utf8_image_list_names_the_file_and_line(tmp_path):
    from ood_core.features import image_sets

    list_path = tmp_path / "openood/benchmark_imglist/imagenet/test_ninco.txt"
    list_path.parent.mkdir(parents=True)
    list_path.write_bytes(b"ninco/a.jpg -1\nninco/\xe9t\xe9.jpg -1\n")
    report = image_sets.image_set("ninco", tmp_path).check()
    assert report.problems == [f"{list_path}, line 2: not UTF-8 text (invalid continuation byte at byte 6 of the line); "
                               "save the list as UTF-8"]


@pytest.mark.parametrize("name, files, message", [
    ("cub200", {"CUB_200_2011/images.txt": "1 001.A/a.jpg\n2 001.A/b.jpg\n",
             "CUB_200_2011/train_test_split.txt": "1 0\n2\n"}, r"train_test_split.txt, line 2: '2' is not '<image id> "
                                                              r"<1 if training image, else 0>'; fix or delete the line"),
    ("cub200", {"CUB_200_2011/images.txt": "1 001.A/a.jpg\n", "CUB_200_2011/train_test_split.txt": "1 0\n7 0\n"},
     r"train_test_split.txt, line 2: image id '7' is not in .*images.txt"),
    ("oxford_pets", {"oxford-iiit-pet/annotations/test.txt": "Abyssinian_1 1 1 1\nBengal_2 x 1 2\n"},
     r"test.txt, line 2: 'Bengal_2 x 1 2' is not '<Breed_N> <class id> <species> <breed id>'"),
])
def test_malformed_cub_and_pets_split_files_name_the_line(tmp_path, name, files, message):
    from ood_core.features import image_sets

    dataset = image_sets.image_set(name, tmp_path)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with pytest.raises(ValueError, match=message):
        dataset.classnames if name == "oxford_pets" else dataset.reader.files(dataset)


def test_the_torchrun_instructions_say_trusted_networks_only():
    text = (REPO / "docs" / "real_benchmarks.md").read_text()
    section = text[text.index("## Sharded embedding"):text.index("## Image sets and embeddings under DVC")]
    assert "Trusted networks only" in section and "pickled Python objects" in section


def test_an_unusable_wnsearchdir_is_named_instead_of_silently_searching_elsewhere(tmp_path, monkeypatch):
    from ood_core.text.wordnet import resolve_wordnet_dir

    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"\$WNSEARCHDIR='{tmp_path}' does not hold WordNet 3.0 .* unset it"):
        resolve_wordnet_dir()


def test_load_encoder_none_and_a_garbage_weights_file_are_named(tmp_path):
    from ood_core.features.encoders import load_encoder, write_random_weights

    with pytest.raises(ValueError, match=r"model=None must be an open_clip architecture name, e.g. 'ViT-B-16-quickgelu'"):
        load_encoder(None)
    write_random_weights("tiny-random", tmp_path)  # registers the tiny architecture
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=rf"weights file {garbage} cannot be loaded as 'ood-tiny-random' weights .*"
                                         "delete it and download it again"):
        load_encoder("ood-tiny-random", str(garbage), device="cpu", precision="fp32")
