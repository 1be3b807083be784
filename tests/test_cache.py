"""ood_core.features.cache / files / clip: keys, atomic feature files, cache hits/misses/invalidation."""

import hashlib
import json
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ood_core.features import files as cache_mod
from ood_core.features.cache import EmbeddingCache, fingerprint_files
from ood_core.features.clip import encode_images, encode_images_cached, encode_text_cached
from ood_core.features.files import read_features, write_features


class CountingTextEncoder:
    """Stands in for ClipEncoder: deterministic features from the text bytes, counts calls."""

    def __init__(self, precision="fp16"):
        self.calls = 0
        self.precision = precision

    def cache_fields(self):
        return {"model": "fake", "weights": "none", "preprocess": "paper", "precision": self.precision}

    def encode_text(self, texts, batch_size=256):
        self.calls += 1
        return np.array([[len(t), t.count("a"), 1.5] for t in texts], dtype=np.float32)


def test_key_is_sha256_of_canonical_json():
    fields = {"model": "ViT-B-16-quickgelu", "weights": "open_clip:x:openai", "n": 3}
    expected = hashlib.sha256(b'{"model":"ViT-B-16-quickgelu","n":3,"weights":"open_clip:x:openai"}').hexdigest()
    assert EmbeddingCache.key(fields) == expected
    assert EmbeddingCache.key(dict(reversed(list(fields.items())))) == expected  # key order irrelevant
    assert EmbeddingCache.key({**fields, "n": 4}) != expected
    with pytest.raises(TypeError, match="JSON-serialisable"):
        EmbeddingCache.key({"path": object()})


def test_write_read_roundtrip_with_sidecar(tmp_path):
    data = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    path = write_features(tmp_path / "sub" / "feats.npy", data, {"model": "m", "n_texts": 3})
    assert path == tmp_path / "sub" / "feats.npy"
    features, sidecar = read_features(path)
    assert features.dtype == np.float32 and features.shape == (3, 4)
    np.testing.assert_array_equal(features, data.astype(np.float32))
    assert np.load(path).dtype == np.float32  # a plain .npy, readable without this library
    on_disk = json.loads((tmp_path / "sub" / "feats.json").read_text())
    assert on_disk == sidecar
    assert sidecar["meta"] == {"model": "m", "n_texts": 3} and sidecar["shape"] == [3, 4]
    assert sidecar["versions"]["numpy"] == np.__version__ and "created" in sidecar
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["feats.json", "feats.npy"]


def test_write_features_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.npy"):
        write_features(tmp_path / "feats.bin", np.zeros((2, 2)))
    with pytest.raises(TypeError, match="numeric"):
        write_features(tmp_path / "feats.npy", np.array([["a"]]))
    with pytest.raises(TypeError, match="JSON-serialisable"):
        write_features(tmp_path / "feats.npy", np.zeros((2, 2)), {"x": {1, 2}})
    with pytest.raises(FileNotFoundError, match="write_features"):
        read_features(tmp_path / "absent.npy")


def test_interrupted_array_write_leaves_old_pair_intact_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "feats.npy"
    write_features(path, np.ones((2, 3)), {"version": "old"})
    real_save = np.save

    def save_then_die(file, array, **kwargs):
        real_save(file, array[:1], **kwargs)  # part of the data reaches the temp file ...
        raise KeyboardInterrupt  # ... then the run is killed

    monkeypatch.setattr(cache_mod.np, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_features(path, np.zeros((5, 3)), {"version": "new"})
    monkeypatch.undo()
    features, sidecar = read_features(path)
    assert features.shape == (2, 3) and sidecar["meta"]["version"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.json", "feats.npy"]


def test_interruption_between_renames_is_detected_and_recomputed(tmp_path, monkeypatch):
    store = EmbeddingCache(tmp_path)
    fields = {"model": "m"}
    key = store.key(fields)
    store.save(key, np.ones((2, 3)), {"fields": fields})
    real_replace = os.replace

    def replace_array_only(src, dst):
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt  # killed after the new array landed, before its sidecar
        real_replace(src, dst)

    monkeypatch.setattr(cache_mod.os, "replace", replace_array_only)
    with pytest.raises(KeyboardInterrupt):
        store.save(key, np.full((2, 3), 9.0), {"fields": fields})
    monkeypatch.undo()
    with pytest.raises(ValueError, match="sha256 differs.*delete both"):
        read_features(store.path(key))
    assert store.load(key) is None  # never read as valid
    store.save(key, np.full((2, 3), 9.0), {"fields": fields})  # the next write repairs the entry
    assert store.load(key).tolist() == [[9.0] * 3] * 2


def test_truncated_array_file_is_a_miss(tmp_path):
    store = EmbeddingCache(tmp_path)
    key = store.key({"a": 1})
    store.save(key, np.ones((100, 8)))
    data = store.path(key).read_bytes()
    store.path(key).write_bytes(data[: len(data) // 2])
    assert store.load(key) is None and store.meta(key) is None


def encode_texts_via_cache(encoder, texts, store):
    return encode_text_cached(encoder, texts, store).features


def encode_images_via_cache(encoder, dataset, store, **kwargs):
    return encode_images_cached(encoder, dataset, store, **kwargs).features


def test_cached_text_features_key_covers_texts_order_and_encoder(tmp_path):
    store = EmbeddingCache(tmp_path)
    enc = CountingTextEncoder()
    nouns = ["tench", "goldfish", "banana"]
    prompts = [f"the nice {n}" for n in nouns]
    first = encode_texts_via_cache(enc, prompts, store)
    np.testing.assert_array_equal(first[:, 0], [len(p) for p in prompts])
    encode_texts_via_cache(enc, prompts, store)
    assert enc.calls == 1
    encode_texts_via_cache(enc, [f"a photo of {n}" for n in nouns], store)  # another template
    assert enc.calls == 2
    encode_texts_via_cache(enc, prompts[::-1], store)  # rows follow order, so order is in the key
    assert enc.calls == 3
    encode_texts_via_cache(CountingTextEncoder(precision="fp32"), prompts, store)
    assert enc.calls == 3 and len(list(tmp_path.glob("*.npy"))) == 4


def test_fingerprint_files_covers_paths_sizes_and_contents_not_root_or_order(tmp_path):
    a, b = tmp_path / "r1" / "x" / "a.jpg", tmp_path / "r1" / "b.jpg"
    a.parent.mkdir(parents=True)
    a.write_bytes(b"12345")
    b.write_bytes(b"67")
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    lines = f"b.jpg\t2\t{sha(b'67')}\nx/a.jpg\t5\t{sha(b'12345')}\n"
    expected = sha(lines.encode())
    assert fingerprint_files([a, b], tmp_path / "r1") == expected
    assert fingerprint_files([b, a], tmp_path / "r1") == expected
    moved = tmp_path / "r2"
    (tmp_path / "r1").rename(moved)
    assert fingerprint_files([moved / "x" / "a.jpg", moved / "b.jpg"], moved) == expected
    (moved / "b.jpg").write_bytes(b"678")
    assert fingerprint_files([moved / "x" / "a.jpg", moved / "b.jpg"], moved) != expected
    (moved / "b.jpg").write_bytes(b"76")  # replaced by another file of the same size
    assert fingerprint_files([moved / "x" / "a.jpg", moved / "b.jpg"], moved) != expected
    with pytest.raises(ValueError, match="not under"):
        fingerprint_files([tmp_path / "elsewhere.jpg"], moved)


def test_fingerprint_memo_hashes_a_file_again_only_when_its_stat_changes(tmp_path, monkeypatch):
    import os

    from ood_core.features import cache as cache_module

    root = tmp_path / "root"
    root.mkdir()
    files = [root / f"{i}.jpg" for i in range(3)]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 10)
    hashed = []
    real = cache_module.sha256_file
    monkeypatch.setattr(cache_module, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    memo = tmp_path / "memo"
    first = fingerprint_files(files, root, memo_dir=memo)
    assert sorted(hashed) == ["0.jpg", "1.jpg", "2.jpg"]
    hashed.clear()
    assert fingerprint_files(files, root, memo_dir=memo) == first and hashed == []
    st = files[1].stat()
    files[1].write_bytes(b"\xff" * 10)  # same size, new bytes; keep the old mtime to see the inode/size check
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    changed = fingerprint_files(files, root, memo_dir=memo)
    assert hashed == ["1.jpg"] and changed != first
    assert changed == fingerprint_files(files, root)  # the memo never changes the value


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    pytest.importorskip("open_clip")
    from ood_core.features import encoders

    config = {
        "embed_dim": 8,
        "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1},
    }
    encoders.register_model_config("ood-test-tiny-cache", config, tmp_path_factory.mktemp("cfg"))
    return encoders.load_encoder("ood-test-tiny-cache", pretrained=None, device="cpu")


def _sun_layout(root, n=4):
    from ood_core.features.image_sets import image_set

    folder = root / "SUN" / "images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / f"sun_{i}.jpg")
    return image_set("sun", root), folder


def test_cached_image_features_hit_miss_and_invalidation(tiny_encoder, tmp_path, monkeypatch):
    dataset, folder = _sun_layout(tmp_path / "data")
    store = EmbeddingCache(tmp_path / "cache")
    first = encode_images_via_cache(tiny_encoder, dataset, store, batch_size=3, num_workers=0)
    assert first.shape == (4, 8) and first.dtype == np.float32
    direct, rows = encode_images(tiny_encoder, dataset.torch_dataset(tiny_encoder.transform), batch_size=3,
                                 num_workers=0)
    np.testing.assert_array_equal(first, direct)  # the one loop: same batches, same bytes
    assert rows.tolist() == [0, 1, 2, 3]
    with torch.inference_mode():  # an independent forward pass of all four images at once
        batch = torch.stack([tiny_encoder.transform(Image.open(f)) for f in dataset.files()])
        manual = tiny_encoder.model.encode_image(batch, normalize=False).numpy()
    np.testing.assert_allclose(first, manual, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(encode_texts_via_cache(tiny_encoder, ["x"], store),
                                  tiny_encoder.encode_text(["x"]))

    calls = []
    real = tiny_encoder.encode_image_tensor
    monkeypatch.setattr(tiny_encoder, "encode_image_tensor", lambda x: calls.append(len(x)) or real(x))
    again = encode_images_via_cache(tiny_encoder, dataset, store, batch_size=3, num_workers=0)
    assert calls == [] and np.array_equal(again, first)  # a hit does no encoding

    Image.new("RGB", (30, 30), (5, 5, 5)).save(folder / "sun_1.jpg")  # a replaced file (other size)
    changed = encode_images_via_cache(tiny_encoder, dataset, store, batch_size=3, num_workers=0)
    assert calls == [3, 3] and not np.allclose(changed[1], first[1])  # the last batch is padded
    np.testing.assert_array_equal(changed[[0, 2, 3]], first[[0, 2, 3]])

    # Uncompressed pixels (BMP bytes; PIL reads by content) make two different images of one size.
    Image.new("RGB", (20, 24), (9, 9, 9)).save(folder / "sun_2.jpg", format="BMP")
    before = encode_images_via_cache(tiny_encoder, dataset, store, batch_size=3, num_workers=0)
    size = (folder / "sun_2.jpg").stat().st_size
    Image.new("RGB", (20, 24), (200, 9, 9)).save(folder / "sun_2.jpg", format="BMP")
    assert (folder / "sun_2.jpg").stat().st_size == size
    after = encode_images_via_cache(tiny_encoder, dataset, store, batch_size=3, num_workers=0)
    assert calls == [3, 3] * 3  # a miss, not the stale entry
    assert not np.allclose(after[2], before[2])


def test_cached_image_features_skip_unreadable_records_paths(tiny_encoder, tmp_path):
    from ood_core.features.images import UnreadableImageError

    dataset, folder = _sun_layout(tmp_path / "data")
    (folder / "sun_2.jpg").write_bytes(b"corrupt")
    store = EmbeddingCache(tmp_path / "cache")
    with pytest.raises(UnreadableImageError, match="sun_2.jpg"):
        encode_images_via_cache(tiny_encoder, dataset, store, num_workers=0)
    assert list((tmp_path / "cache").glob("*.npy")) == []  # nothing cached on failure
    feats = encode_images_via_cache(tiny_encoder, dataset, store, num_workers=0, skip_unreadable=True)
    assert feats.shape == (3, 8)
    (sidecar,) = (tmp_path / "cache").glob("*.json")
    meta = json.loads(sidecar.read_text())["meta"]
    assert meta["skipped"] == ["sun_2.jpg"] and meta["n_skipped"] == 1
    assert meta["fields"]["skip_unreadable"] is True and meta["fields"]["n_files"] == 4


def test_pipeline_outputs_without_time_are_byte_identical(tmp_path):
    from ood_core.features.files import write_features

    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = write_features(tmp_path / "a" / "x.npy", features, {"k": 1}, record_time=False)
    b = write_features(tmp_path / "b" / "x.npy", features, {"k": 1}, record_time=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".json").read_bytes() == b.with_suffix(".json").read_bytes()
    assert "created" not in a.with_suffix(".json").read_text()


# -- a cache shared by a group -----------------------------------------------------------------


def _this_host():
    """The host part of temp names: the host name with anything but [A-Za-z0-9_-] as '_'."""
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())


def _dead_pid():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: its PID names no process now
    return child.pid


def test_temp_files_of_dead_writers_are_removed_on_the_next_write(tmp_path, monkeypatch):
    host, now = _this_host(), time.time()
    two_days_ago = now - 2 * 24 * 3600
    names = {
        f".k.npy.{_dead_pid()}@{host}.abcd1234.tmp": (now, "gone"),  # this host, process dead
        f".k.npy.{os.getpid()}@other-host.abcd1234.tmp": (two_days_ago, "gone"),  # another host, 2 days old
        f".old.json.{os.getpid()}@{host}.zzzz9999.tmp": (two_days_ago, "gone"),  # untouched for 2 days
        ".k.npy.ab12cd34.tmp": (two_days_ago, "gone"),  # an earlier version's name (no writer), old
        f".k.npy.{os.getpid()}@{host}.abcd1234.tmp": (now, "kept"),  # a live writer (this process)
        f".k.npy.{_dead_pid()}@other-host.abcd1234.tmp": (now, "kept"),  # another host's PIDs are not ours
        ".k.npy.ab12cd34.tmp.partial": (two_days_ago, "kept"),  # not a temp name of ours
        ".notes.tmp": (two_days_ago, "kept"),  # not a temp name of ours
        ".k.npy.ef56ab78.tmp": (now, "kept"),  # an earlier version's name, fresh
    }
    for name, (mtime, _) in names.items():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (mtime, mtime))

    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(cache_mod.os, "replace", lambda src, dst: renamed.append(src) or real_replace(src, dst))
    write_features(tmp_path / "k.npy", np.ones((2, 2)))
    kept = {p.name for p in tmp_path.iterdir()} - {"k.npy", "k.json"}
    assert kept == {n for n, (_, fate) in names.items() if fate == "kept"}
    # this writer's own temp files carry its PID and host
    assert [os.path.basename(s).startswith(f".{n}.{os.getpid()}@{host}.") for s, n in
            zip(renamed, ["k.npy", "k.json"])] == [True, True]


@pytest.mark.parametrize("content", ["[]", '"x"', "3", "null", "true", '[{"shape": [2, 3]}]'])
def test_sidecar_holding_json_that_is_not_an_object_is_corrupt(tmp_path, content):
    store = EmbeddingCache(tmp_path)
    fields = {"model": "m"}
    key = store.key(fields)
    store.save(key, np.ones((2, 3)), {"fields": fields})
    store.path(key).with_suffix(".json").write_text(content)
    with pytest.raises(ValueError, match="not an object.*delete both and recompute"):
        read_features(store.path(key))
    assert store.load(key) is None and store.meta(key) is None  # a miss, not AttributeError
    store.save(key, np.full((2, 3), 4.0), {"fields": fields})
    assert store.load(key).tolist() == [[4.0] * 3] * 2  # stored again over the corrupt pair


def test_npz_in_place_of_the_array_is_corrupt(tmp_path):
    store = EmbeddingCache(tmp_path)
    key = store.key({"a": 1})
    store.save(key, np.ones((2, 3)))
    with open(store.path(key), "wb") as out:
        np.savez(out, x=np.ones((2, 3)))  # a zip: np.load returns an NpzFile, not an array
    with pytest.raises(ValueError, match="not a .npy array"):
        read_features(store.path(key))
    assert store.load(key) is None


class FakeImageEncoder(CountingTextEncoder):
    """No model: only the cache key fields; any encoding is recorded (it must not happen)."""

    transform = staticmethod(lambda image: image)

    def encode_image_tensor(self, *args, **kwargs):
        self.calls += 1
        raise AssertionError("encode_image_tensor must not be called")


def _deny_writes_to(monkeypatch, folder):
    """Make os.access answer 'not writable' for ``folder``, as it does for a non-root user on a
    0o555 folder. Tests run as root, for whom mode bits do not stop writes (only read-only mounts
    do), so this checks that the cache asks os.access and acts on its answer - not that the kernel
    denies the write."""
    real_access = os.access

    def access(path, mode, **kwargs):
        if os.path.realpath(path) == os.path.realpath(folder) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_unwritable_cache_fails_before_computing_and_hits_still_read(tmp_path, monkeypatch):
    root = tmp_path / "shared-cache"
    store = EmbeddingCache(root)
    enc = CountingTextEncoder()
    cached = encode_texts_via_cache(enc, ["a photo of a tench"], store)  # filled while writable
    _deny_writes_to(monkeypatch, root)
    with pytest.raises(PermissionError, match=rf"(?s){root}.*not writable.*paths\.cache_dir"):
        encode_texts_via_cache(enc, ["a photo of a goldfish"], store)
    assert enc.calls == 1  # failed before encoding
    np.testing.assert_array_equal(encode_texts_via_cache(enc, ["a photo of a tench"], store), cached)  # hits read
    assert enc.calls == 1

    dataset, _ = _sun_layout(tmp_path / "data")
    images = FakeImageEncoder()
    with pytest.raises(PermissionError, match=rf"{root}.*paths\.cache_dir"):
        encode_images_via_cache(images, dataset, store, num_workers=0)
    assert images.calls == 0
    assert len(list(root.glob("*.npy"))) == 1


def test_cache_folder_that_cannot_be_created_fails_before_computing(tmp_path):
    (tmp_path / "a-file").write_text("x")
    store = EmbeddingCache(tmp_path / "a-file" / "cache")  # real filesystem error, even for root
    enc = CountingTextEncoder()
    with pytest.raises(PermissionError, match=r"a-file/cache cannot be created.*paths\.cache_dir"):
        encode_texts_via_cache(enc, ["a photo of a tench"], store)
    assert enc.calls == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into a 0o555 folder anyway; covered by the os.access test above")
def test_read_only_cache_folder_fails_before_computing_as_non_root(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o555)
    try:
        enc = CountingTextEncoder()
        with pytest.raises(PermissionError, match=rf"{root}.*not writable"):
            encode_texts_via_cache(enc, ["a photo of a tench"], EmbeddingCache(root))
        assert enc.calls == 0
    finally:
        root.chmod(0o755)


@pytest.mark.parametrize("umask, expected", [(0o002, 0o664), (0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_entries_get_mode_from_the_umask(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        store = EmbeddingCache(tmp_path)
        path = store.save(store.key({"m": 1}), np.ones((2, 2)))
        assert os.umask(umask) == umask  # unchanged by the write
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o7777) == oct(expected)
    assert oct(path.with_suffix(".json").stat().st_mode & 0o7777) == oct(expected)


def test_umask_is_read_without_proc(monkeypatch):
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(cache_mod, "open", no_proc, raising=False)  # the module's open(): /proc/self/status
    old = os.umask(0o027)
    try:
        assert cache_mod._umask() == 0o027
        assert os.umask(0o027) == 0o027  # restored after reading
    finally:
        os.umask(old)
