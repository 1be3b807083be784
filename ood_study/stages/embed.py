"""Stages ``embed_text`` and ``embed_images``: a study's raw features from its feature source.

``python -m ood_study.stages.embed {text,images} --benchmark B --backbone N``. The source is the
simulated world for the ``simulated`` benchmark, else open_clip (weights and image folders must
be on disk; see docs/real_benchmarks.md). Both go through the one feature interface
(:mod:`ood_core.features`), so prompting and CSP's ensembling are the same on both paths.

Sharded embedding: with ``encoder.processes: N > 1`` the stage starts itself under ``torchrun
--standalone --nproc-per-node N``; started by torchrun directly (``torchrun --nnodes ... -m
ood_study.stages.embed images ...``, e.g. on several nodes) it joins that process group. Each rank
encodes its block of fixed batches, rank 0 joins them into the cache entry (byte-identical to one
process; :mod:`ood_core.features.distributed`) and writes the stage's outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from ood_core._params import unknown_key_error
from ood_core.features import FeatureSource, text_features
from ood_core.features.encoders import is_random_weights
from ood_core.features.files import write_features
from ood_core.text.corpus import Corpus
from ood_study.layout import ID_LIKE_FILE, TEXT_FILES, Layout, study_name
from ood_study.params import SIMULATED, StudyParams
from ood_study.stages import log, parser, stage_main

# Text features do not depend on encoder.batch_size etc., but on the real path a change there
# only costs a cache lookup, and one feature source serves both stages.
PARAMS_TEXT = ("benchmark_sets.{benchmark}", "corpus.wordnet_dir", "prompts", "encoder", "paths")
PARAMS_IMAGES = ("benchmark_sets.{benchmark}", "corpus.wordnet_dir", "encoder", "paths", "image_sets")
PARAMS = {"text": PARAMS_TEXT, "images": PARAMS_IMAGES}

_WORLDS: dict = {}


def feature_source(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> FeatureSource:
    """The simulated world (memoised per process) or the open_clip source of the study."""
    sets = params.sets(benchmark)
    check_sets(benchmark, sets, backbone)
    wordnet_dir = params.get("corpus.wordnet_dir")
    if benchmark == SIMULATED:
        from ood_core import simulate

        try:
            config = simulate.SimulationConfig.from_dict(sets.simulation)
        except ValueError as err:
            raise ValueError(f"benchmark_sets.{benchmark}.simulation: {err}") from None
        key = (repr(config), wordnet_dir)
        if key not in _WORLDS:
            _WORLDS[key] = simulate.build_world(config, wordnet_dir=wordnet_dir)
        return _WORLDS[key]
    from ood_core.features import distributed, encoders, image_sets
    from ood_core.features.cache import EmbeddingCache
    from ood_core.features.clip import ClipFeatures

    check_decode(params.get("encoder.decode"))
    ranks = distributed.init_from_env()
    data_root = layout.data_root(params)
    # Check every set before loading weights or encoding, so a missing folder fails in seconds
    # (rank 0 only: it opens every image header; the others wait at the first cache decision).
    skip_unreadable = params.get("encoder.skip_unreadable")
    counts = sets.expected_counts or {}
    sets_by_split = {s: (_checked(s, data_root, skip_unreadable, counts.get(s)) if ranks.is_main
                         else image_sets.image_set(s, root=data_root)) for s in (sets.id, *sets.ood)}
    weights_dir = layout.weights_dir(params)
    weights_dir = None if weights_dir is None else str(weights_dir)
    device = None
    if ranks.world_size > 1:
        import torch

        if torch.cuda.is_available():  # one GPU per rank on each node
            device = f"cuda:{ranks.local_rank % torch.cuda.device_count()}"
            torch.cuda.set_device(device)
    encoder = encoders.load_backbone(backbone, precision=params.get("encoder.precision"),
                                     preprocess=params.get("encoder.preprocess"), cache_dir=weights_dir,
                                     device=device, decode=params.get("encoder.decode"))
    return ClipFeatures(encoder, sets_by_split, sets.id, EmbeddingCache(layout.cache_dir(params)),
                        batch_size=params.get("encoder.batch_size"), num_workers=params.get("encoder.num_workers"),
                        skip_unreadable=skip_unreadable)


def check_decode(decode: str) -> None:
    """``encoder.decode: gpu`` needs a CUDA device: without one the JPEGs would silently be decoded on the CPU."""
    import torch

    if decode == "gpu" and not torch.cuda.is_available():
        raise ValueError("encoder.decode = 'gpu' but no CUDA device is visible (torch.cuda.is_available() is False), "
                         "so the images would be decoded on the CPU; set encoder.decode: pil, or run on a machine "
                         "with a GPU")


def check_sets(benchmark: str, sets, backbone: str) -> None:
    """The set and backbone names of a study, against the registries that define them (params.py
    checks only the file's shape): the simulated world's sets, or the dataset registry."""
    from ood_core.backbones import BACKBONES, RANDOM_WEIGHT_BACKBONES

    known = {**BACKBONES, **RANDOM_WEIGHT_BACKBONES}
    if backbone not in known:
        raise unknown_key_error("backbones", backbone, known)
    where = f"benchmark_sets.{benchmark}"
    if benchmark == SIMULATED:
        from ood_core import simulate

        valid_id, valid_ood = [simulate.ID_SET], list(simulate.OOD_SETS)
    else:
        from ood_core.features import image_sets as registry

        valid_id = registry.list_image_sets("id") + registry.list_image_sets("id_shift")
        valid_ood = registry.list_image_sets("ood")
    if sets.id not in valid_id:
        raise unknown_key_error(f"{where}.id", sets.id, valid_id)
    for ood in sets.ood:
        if ood not in valid_ood:
            raise unknown_key_error(f"{where}.ood", ood, valid_ood)


def check_image_sets(image_sets: dict, names) -> None:
    """``image_sets`` of params.yaml must map each of ``names`` to its registry folder: DVC tracks
    exactly those folders (the ``image_set`` stages), and dvc.yaml cannot derive the list itself."""
    from ood_core.features import image_sets as registry

    need = {name: registry.image_set(name, root=".").path.as_posix() for name in names}
    wrong = sorted(k for k, v in need.items() if image_sets.get(k) != v)
    if wrong:
        lines = "".join(f"\n  {k}: {v}" for k, v in need.items())
        raise ValueError(f"image_sets = {image_sets!r} lacks or misnames {wrong}: it must map every image set of the "
                         f"real benchmarks in `benchmarks` to its folder under paths.data_root, so DVC tracks them "
                         f"(the image_set stages); put this in params.yaml:\nimage_sets:{lines}")


def _checked(name: str, data_root, skip_unreadable: bool, expected_count: int | None = None):
    """The image set, complete by ``check()``; with ``skip_unreadable`` a report whose only problem
    is unreadable image files passes (the encoder then skips and records them). ``expected_count``:
    ``benchmark_sets.<b>.expected_counts`` (sets that are not the published ones)."""
    from ood_core.features import image_sets

    count = {} if expected_count is None else {"expected_count": expected_count}
    if not skip_unreadable:
        return image_sets.require(name, root=data_root, **count)
    dataset = image_sets.image_set(name, root=data_root, **count)
    report = dataset.check()
    if report.ok or (report.unreadable and len(report.problems) == 1):
        return dataset
    raise FileNotFoundError(str(report))


def _is_main() -> bool:
    from ood_core.features.distributed import current_ranks

    return current_ranks().is_main


def _log_encodings(source, kind: str) -> None:
    """One line per encoding call of a real source: a cache hit, or how much was encoded now."""
    history = getattr(source, "history", None)
    if history is None:
        return
    hits = sum(r.hit for _, r in history)
    encoded = sum(r.n_encoded for _, r in history)
    resumed = sum(r.n_resumed for _, r in history)
    for what, r in history:
        state = "cache hit" if r.hit else f"encoded {r.n_encoded} on this rank, {r.n_resumed} resumed"
        log("embed", f"{what}: {state} ({r.features.shape[0]} rows)")
    log("embed", f"{kind}: {hits} of {len(history)} entries were cache hits; {encoded} items encoded by this rank, "
                 f"{resumed} resumed from an interrupted run")


def _launch_ranks(params: StudyParams, layout: Layout, kind: str, benchmark: str, backbone: str) -> bool:
    """With ``encoder.processes > 1`` outside torchrun, run this stage under torchrun; True if it did."""
    processes = params.get("encoder.processes")
    if processes <= 1 or "WORLD_SIZE" in os.environ or benchmark == SIMULATED:
        return False
    limit, what = local_rank_limit()
    if processes > limit:
        raise ValueError(f"encoder.processes = {processes}: this machine has {limit} {what}, so a launch here runs at "
                         f"most {limit} ranks; set encoder.processes to at most {limit} (several nodes: start "
                         "torchrun on each yourself, docs/real_benchmarks.md)")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
           "-m", "ood_study.stages.embed", kind, "--params", str(params.path), "--root", str(layout.root),
           "--benchmark", benchmark, "--backbone", backbone]
    log("embed", " ".join(cmd))
    run_process_group(cmd)
    return True


def local_rank_limit() -> tuple[int, str]:
    """The most ranks one launch on this machine runs: one per GPU, else one per CPU core."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.device_count(), "CUDA device(s)"
    return os.cpu_count() or 1, "CPU core(s) and no CUDA device"


def run_process_group(cmd: list[str], grace_s: float = 10.0) -> None:
    """Run ``cmd`` (torchrun) in a session of its own and, however it ends (success, failure, Ctrl-C, an
    exception here), end every process left in that session: a rank that outlives a failed launch
    would otherwise wait for its peers until the process-group timeout (hours), holding its memory.
    Raises ``subprocess.CalledProcessError`` when ``cmd`` fails."""
    import signal

    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _end_session(proc.pid, signal.SIGTERM, grace_s)
    if code != 0:
        raise subprocess.CalledProcessError(code, cmd)


def _end_session(pgid: int, sig, grace_s: float) -> None:
    """SIGTERM every process of group ``pgid``, then SIGKILL what is left after ``grace_s``."""
    import signal
    import time

    for current, wait in ((sig, grace_s), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, current)
        except (ProcessLookupError, PermissionError):
            return  # the group is empty
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


def _random_weights_flag(backbone: str) -> dict:
    # Only when true, so the outputs of real and simulated studies keep their bytes.
    return {"random_weights": True} if is_random_weights(backbone) else {}


def _write(path, features: np.ndarray, meta: dict) -> None:
    # No timestamp: the same features must give the same bytes, or DVC would re-run every
    # downstream stage after a forced re-embedding.
    write_features(path, np.ascontiguousarray(features, dtype=np.float32), meta, record_time=False)
    log("embed", f"wrote {path} {features.shape}")


def run_text(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> None:
    if _launch_ranks(params, layout, "text", benchmark, backbone):
        return
    name = study_name(benchmark, backbone)
    corpus = Corpus.load(layout.corpus)
    source = feature_source(params, layout, benchmark, backbone)
    pr = params.get("prompts")
    texts = text_features(source, corpus, pr.id, pr.noun, pr.adj, csp_seed=pr.csp_seed)
    _log_encodings(source, "texts")
    if not _is_main():
        return
    meta = {"benchmark": benchmark, "backbone": backbone, "simulated": benchmark == SIMULATED,
            **_random_weights_flag(backbone),
            "prompts": {"id": pr.id, "noun": pr.noun, "adj": pr.adj, "csp_seed": pr.csp_seed}}
    for file, features in zip(TEXT_FILES,
                              (texts.id_labels, texts.candidates, texts.csp_adjectives)):
        _write(layout.text_file(name, file), features, meta)
    if benchmark == SIMULATED:
        np.save(layout.text_file(name, ID_LIKE_FILE), source.candidate_is_id_like(corpus))


def run_images(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> None:
    if _launch_ranks(params, layout, "images", benchmark, backbone):
        return
    name = study_name(benchmark, backbone)
    sets = params.sets(benchmark)
    if benchmark != SIMULATED:
        check_image_sets(params.get("image_sets"), [sets.id, *sets.ood])
    source = feature_source(params, layout, benchmark, backbone)
    features = {split: source.image_features(split) for split in (sets.id, *sets.ood)}
    _log_encodings(source, "images")
    if not _is_main():
        return
    for split, feats in features.items():
        _write(layout.image_file(name, split), feats,
               {"benchmark": benchmark, "backbone": backbone, "split": split, "simulated": benchmark == SIMULATED,
                **_random_weights_flag(backbone)})


def main(argv=None) -> None:
    import sys

    command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PARAMS:
        kind, rest = argv[0], argv[1:]
        prog = f"{parser(None).prog} {kind}"
        stage_main(__doc__, PARAMS[kind], run_text if kind == "text" else run_images, ("benchmark", "backbone"), rest,
                   prog=prog, command_line=command_line)
        return
    cli = parser(__doc__)
    cli.add_argument("kind", choices=list(PARAMS), help="what to embed: the corpus's text, or the benchmark's images "
                     "(then `--help` after it lists its options)")
    cli.parse_args(argv[:1])  # --help: exit 0; no kind (an option first), or an unknown one: usage error, exit 2


if __name__ == "__main__":
    main()
