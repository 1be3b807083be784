"""Sharded embedding (ood_core.features.distributed): fixed batches, contiguous shards, resumable parts,
and 2 CPU ranks under torchrun (gloo) on the mini benchmark giving cache entries byte-identical to
one process, for the images and for the wild corpus's texts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from ood_core.features.cache import EmbeddingCache
from ood_core.features.distributed import batches, encode_sharded, shard

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("n_batches, world", [(0, 1), (1, 2), (7, 2), (8, 3), (100, 7), (3, 5)])
def test_shards_are_contiguous_blocks_covering_every_batch_once(n_batches, world):
    blocks = [shard(n_batches, r, world) for r in range(world)]
    assert [b for block in blocks for b in block] == list(range(n_batches))  # in order, each once
    sizes = [len(b) for b in blocks]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="rank"):
        shard(n_batches, world, world)


def test_batches_have_fixed_boundaries():
    assert batches(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert batches(0, 4) == []
    with pytest.raises(ValueError, match="batch_size"):
        batches(5, 0)


def _item_features(rows) -> np.ndarray:
    """A stand-in encoder with a known answer: item i -> [i, 2i, i^2] (float32)."""
    i = np.asarray(list(rows), dtype=np.float32)
    return np.stack([i, 2 * i, i * i], axis=1)


def test_a_failed_run_keeps_finished_batches_and_the_next_run_encodes_only_the_rest(tmp_path):
    cache = EmbeddingCache(tmp_path)
    fields = {"kind": "test", "n": 10}
    seen: list[int] = []

    def encode_failing_after(k):
        def encode(todo):
            for j, rows in enumerate(todo):
                if j == k:
                    raise RuntimeError("injected failure")
                seen.extend(rows)
                yield _item_features(rows), np.arange(rows.start, rows.stop)
        return encode

    with pytest.raises(RuntimeError, match="injected"):
        encode_sharded(cache, fields, 10, 3, encode_failing_after(2))
    assert seen == list(range(6)) and cache.load(cache.key(fields)) is None
    seen.clear()
    result = encode_sharded(cache, fields, 10, 3, encode_failing_after(99))
    assert seen == [6, 7, 8, 9]  # batches 2 and 3 only
    assert not result.hit and result.n_encoded == 4 and result.n_resumed == 6
    np.testing.assert_array_equal(result.features, _item_features(range(10)))
    assert not (tmp_path / "partial" / cache.key(fields)).exists()
    again = encode_sharded(cache, fields, 10, 3, encode_failing_after(0))
    assert again.hit and again.n_encoded == 0
    np.testing.assert_array_equal(again.features, result.features)


def test_a_damaged_part_is_encoded_again(tmp_path):
    cache = EmbeddingCache(tmp_path)
    fields = {"kind": "test", "n": 4}

    def stop_after_first(todo):
        rows = todo[0]
        yield _item_features(rows), np.arange(rows.start, rows.stop)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        encode_sharded(cache, fields, 4, 2, stop_after_first)
    (part,) = (tmp_path / "partial" / cache.key(fields)).glob("batch-*.npy")
    part.write_bytes(part.read_bytes()[:-4] + b"\0\0\0\0")  # last value damaged: its sha256 no longer matches
    seen = []

    def encode(todo):
        for rows in todo:
            seen.append(rows)
            yield _item_features(rows), np.arange(rows.start, rows.stop)

    result = encode_sharded(cache, fields, 4, 2, encode)
    assert seen == [range(0, 2), range(2, 4)]
    np.testing.assert_array_equal(result.features, _item_features(range(4)))


def test_skipped_items_leave_their_rows_out_and_reach_the_meta(tmp_path):
    cache = EmbeddingCache(tmp_path)

    def encode(todo):
        for rows in todo:
            kept = [i for i in rows if i != 3]
            yield _item_features(kept), np.asarray(kept)

    result = encode_sharded(cache, {"kind": "t"}, 5, 2, encode, meta_fn=lambda kept: {"kept": kept.tolist()})
    np.testing.assert_array_equal(result.features, _item_features([0, 1, 2, 4]))
    assert result.meta["kept"] == [0, 1, 2, 4]


# --- torchrun on the mini benchmark ------------------------------------------------------------


def _env() -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "OMP_NUM_THREADS")}
    return {**environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO)}


def _stage(root: Path, params: dict, *args: str) -> float:
    params_path = root / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *args, "--params", str(params_path), "--root", str(root)],
                            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def two_runs(mini_benchmark, tmp_path_factory):
    """The embedding stages run with encoder.processes 1 and 2 on the mini benchmark, each in its own
    project root and cold cache: (root of 1, root of 2, seconds of 1, seconds of 2)."""
    pytest.importorskip("open_clip")
    from conftest import tiny_params

    from ood_study.mini_benchmark import mini_params

    data_root, weights_dir, counts = mini_benchmark
    roots, seconds = [], []
    for processes in (1, 2):
        root = tmp_path_factory.mktemp(f"processes{processes}")
        params = mini_params(tiny_params(), data_root, weights_dir, counts)
        params["corpus"]["noun_lexnames"] = ["noun.motive", "noun.shape"]
        params["corpus"]["adj_lexnames"] = ["adj.ppl"]
        params["encoder"]["processes"] = processes
        params["methods"] = ["mcm"]  # the embedding stages read no method block
        item = ("--benchmark", "imagenet1k", "--backbone", "tiny-random")
        _stage(root, params, "ood_study.stages.corpus")
        seconds.append(_stage(root, params, "ood_study.stages.embed", "images", *item)
                       + _stage(root, params, "ood_study.stages.embed", "text", *item))
        roots.append(root)
    print(f"\nembed images + text of the mini benchmark: 1 process {seconds[0]:.1f} s, "
          f"2 ranks (torchrun, gloo) {seconds[1]:.1f} s, speed-up {seconds[0] / seconds[1]:.2f}x")
    return roots[0], roots[1], seconds[0], seconds[1]


def test_two_cpu_ranks_give_byte_identical_cache_entries_and_outputs(two_runs):
    one, two, *_ = two_runs
    entries = {r: {p.name: p.read_bytes() for p in (r / "data" / "cache").glob("*.npy")} for r in (one, two)}
    assert len(entries[one]) >= 5 + 4  # 5 image sets; ID labels, nouns, adjectives, CSP templates
    assert entries[one] == entries[two]  # same keys, same bytes
    outputs = sorted(p.relative_to(one) for p in (one / "data" / "embeddings").rglob("*.npy"))
    assert len(outputs) == 5 + 3
    for rel in outputs:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    assert not list((two / "data" / "cache").glob("partial/*/*"))  # parts joined and removed
