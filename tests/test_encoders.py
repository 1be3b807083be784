"""ood_core.features.encoders with a tiny random-weight open_clip model (no pretrained weights needed)."""

import hashlib
import http.server
import os
import shlex
import socket
import socketserver
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ood_core.features import encoders, hub
from ood_core.features.clip import encode_images
from ood_core.features.images import ImageFiles, UnreadableImageError, paper_transform

open_clip = pytest.importorskip("open_clip")
hf_constants = pytest.importorskip("huggingface_hub.constants")

TINY = "ood-test-tiny-enc"
TINY_CONFIG = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEXTS = ["the nice tench", "the nice goldfish", "This is a dark photo", "the nice great white shark", "a"]


@pytest.fixture(scope="module", autouse=True)
def tiny_model(tmp_path_factory):
    encoders.register_model_config(TINY, TINY_CONFIG, tmp_path_factory.mktemp("configs"))


@pytest.fixture(scope="module")
def encoder():
    return encoders.load_encoder(TINY, pretrained=None, device="cpu")


def _write_images(folder, n, size=(48, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"img_{i:02d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def test_encode_text_is_raw_float32_and_normalises_to_open_clip_output(encoder):
    feats = encoder.encode_text(TEXTS, batch_size=2)
    assert feats.shape == (len(TEXTS), 16) and feats.dtype == np.float32
    norms = np.linalg.norm(feats, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)  # raw, not unit vectors
    with torch.no_grad():
        expected = encoder.model.encode_text(open_clip.get_tokenizer(TINY)(TEXTS), normalize=True).numpy()
    np.testing.assert_allclose(feats / norms[:, None], expected, rtol=1e-4, atol=1e-5)


def test_encode_text_independent_of_batch_size_and_deterministic(encoder):
    a = encoder.encode_text(TEXTS, batch_size=1)
    b = encoder.encode_text(TEXTS, batch_size=64)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    again = encoders.load_encoder(TINY, pretrained=None, device="cpu").encode_text(TEXTS)
    np.testing.assert_array_equal(b, again)  # same seed -> same random weights -> same features
    other_seed = encoders.load_encoder(TINY, pretrained=None, device="cpu", random_init_seed=1)
    assert not np.allclose(other_seed.encode_text(TEXTS), b)
    assert other_seed.cache_fields()["weights"] != encoder.cache_fields()["weights"]


def test_encode_text_rejects_a_bare_string(encoder):
    with pytest.raises(TypeError, match="sequence of strings"):
        encoder.encode_text("the nice tench")


def test_paper_transform_resizes_crops_and_normalises():
    # A solid colour survives resize/crop exactly; each channel becomes (value/255 - mean) / std.
    colour = (200, 100, 50)
    out = paper_transform(24)(Image.new("RGB", (60, 30), colour))
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    expected = (np.array(colour) / 255.0 - mean) / std
    np.testing.assert_allclose(out.mean(dim=(1, 2)).numpy(), expected, atol=1e-5)
    grey = paper_transform(24)(Image.new("L", (30, 30), 128))
    assert grey.shape == (3, 24, 24)  # grayscale converted to RGB


def test_paper_transform_is_bilinear_shorter_side_center_crop(encoder):
    assert "bilinear" in encoder.cache_fields()["transform"]
    assert "CenterCrop(size=(32, 32))" in encoder.cache_fields()["transform"]
    # Left third red, rest blue, 96x32: shorter side already 32 -> crop keeps columns 32..64.
    pixels = np.zeros((32, 96, 3), np.uint8)
    pixels[:, :32] = (255, 0, 0)
    pixels[:, 32:] = (0, 0, 255)
    out = encoder.transform(Image.fromarray(pixels))
    blue = (1.0 - 0.40821073) / 0.27577711  # blue channel of a pure-blue pixel
    np.testing.assert_allclose(out[2].numpy(), blue, atol=1e-5)


def test_openclip_preprocessing_is_a_different_cache_key():
    enc = encoders.load_encoder(TINY, pretrained=None, device="cpu", preprocess="openclip")
    fields = enc.cache_fields()
    assert fields["preprocess"] == "openclip" and "bicubic" in fields["transform"]
    paper = encoders.load_encoder(TINY, pretrained=None, device="cpu").cache_fields()
    assert paper["transform"] != fields["transform"]


def test_cpu_falls_back_to_fp32_and_fields_name_everything(encoder):
    fields = encoder.cache_fields()
    assert fields == {
        "model": TINY,
        "weights": "random-init:seed=0",
        "quick_gelu": True,
        "preprocess": "paper",
        "transform": fields["transform"],
        "precision": "fp32",
        "embed_dim": 16,
    }
    assert next(encoder.model.parameters()).dtype == torch.float32


def test_encode_images_matches_manual_forward_with_or_without_workers(encoder, tmp_path):
    paths = _write_images(tmp_path / "imgs", 5)
    dataset = ImageFiles(paths, encoder.transform)
    feats, rows = encode_images(encoder, dataset, batch_size=2, num_workers=0)
    assert feats.shape == (5, 16) and feats.dtype == np.float32 and rows.tolist() == [0, 1, 2, 3, 4]
    batch = torch.stack([encoder.transform(Image.open(p)) for p in paths])
    with torch.no_grad():
        expected = encoder.model.encode_image(batch, normalize=False).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-3)
    # Worker processes give the same bytes as in-process loading.
    with_workers, _ = encode_images(encoder, dataset, batch_size=2, num_workers=2)
    np.testing.assert_array_equal(with_workers, feats)
    with pytest.raises(ValueError, match="batch_size=0 must be a positive integer"):
        encode_images(encoder, dataset, batch_size=0)


def test_unreadable_image_raises_naming_file_or_is_skipped(encoder, tmp_path):
    paths = _write_images(tmp_path / "imgs", 3)
    bad = tmp_path / "imgs" / "img_01.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UnreadableImageError, match="img_01.jpg.*skip_unreadable=True"):
        encode_images(encoder, ImageFiles(paths, encoder.transform), batch_size=2, num_workers=0)
    feats, rows = encode_images(encoder, ImageFiles(paths, encoder.transform, skip_unreadable=True), batch_size=1,
                                num_workers=0)
    assert rows.tolist() == [0, 2] and feats.shape == (2, 16)


# --------------------------------------------------------------------------------------------
# Weight lookup
# --------------------------------------------------------------------------------------------

OPENAI_REPO = "timm/vit_base_patch16_clip_224.openai"  # open_clip's hf_hub entry for ViT-B-16 "openai"


@pytest.fixture
def network_calls(monkeypatch):
    """Records (and refuses) every name lookup and socket connect made during the test."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network access refused by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return calls


@pytest.fixture
def hub_online(monkeypatch):
    """huggingface_hub not in offline mode (the test command sets HF_HUB_OFFLINE=1)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def tiny_weights(encoder, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(encoder.model.state_dict(), path)
    return path


def _put_in_hub_cache(cache: Path, repo_id: str, filename: str, payload: bytes, commit: str = "0123abcd") -> Path:
    """Lay a file out as huggingface_hub's cache does: blob, snapshot symlink, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    blob = repo / "blobs" / hashlib.sha256(payload).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(payload)
    link = repo / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return link


def test_local_weights_file_and_local_dir_load_and_hash(encoder, tiny_weights, tmp_path, network_calls):
    reference = encoder.encode_text(TEXTS)
    from_file = encoders.load_encoder(TINY, pretrained=str(tiny_weights), device="cpu", random_init_seed=7)
    np.testing.assert_allclose(from_file.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)
    assert from_file.cache_fields()["weights"] == "sha256:" + hashlib.sha256(tiny_weights.read_bytes()).hexdigest()

    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "model.pt").write_bytes(tiny_weights.read_bytes())
    from_dir = encoders.load_encoder(TINY, pretrained=f"local-dir:{folder}", device="cpu", random_init_seed=7)
    np.testing.assert_allclose(from_dir.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)
    assert from_dir.cache_fields()["weights"] == from_file.cache_fields()["weights"]
    assert network_calls == []


@pytest.mark.parametrize("filename", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
def test_hf_hub_repo_in_a_temp_hf_cache_is_found_without_network(
    encoder, tiny_weights, tmp_path, monkeypatch, network_calls, hub_online, filename
):
    # Downloads allowed and HF_HUB_OFFLINE unset: a cache hit must still not touch the network.
    reference = encoder.encode_text(TEXTS)
    if filename.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in encoder.model.state_dict().items()}, str(tmp_path / "w"))
        payload = (tmp_path / "w").read_bytes()
    else:
        payload = tiny_weights.read_bytes()
    cache = tmp_path / "hf"
    link = _put_in_hub_cache(cache, "someone/tiny", filename, payload)
    from huggingface_hub import try_to_load_from_cache

    assert try_to_load_from_cache("someone/tiny", filename, cache_dir=cache) == str(link)  # a valid layout

    from_hub = encoders.load_encoder(TINY, pretrained="hf-hub:someone/tiny", device="cpu", cache_dir=cache,
                                     random_init_seed=7)
    np.testing.assert_allclose(from_hub.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)
    assert from_hub.cache_fields()["weights"] == "sha256:" + hashlib.sha256(payload).hexdigest()

    # Without cache_dir the default cache (huggingface_hub.constants.HF_HUB_CACHE, i.e. $HF_HUB_CACHE) is searched.
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    default = encoders.load_encoder(TINY, pretrained="hf-hub:someone/tiny", device="cpu", random_init_seed=7)
    np.testing.assert_allclose(default.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)
    assert network_calls == []


def test_tag_weights_in_a_temp_hf_cache_go_to_open_clip_without_network(tmp_path, monkeypatch, network_calls,
                                                                        hub_online):
    # Building ViT-B-16 for real is too slow for a unit test: open_clip.create_model is replaced by a
    # tiny model, and what matters is the file load_encoder hands it.
    handed = []
    real_create_model = open_clip.create_model

    def create_model(name, pretrained=None, **kwargs):
        handed.append((name, pretrained))
        return real_create_model(TINY, pretrained=None, **kwargs)

    monkeypatch.setattr(open_clip, "create_model", create_model)
    cache = tmp_path / "hf"
    bin_file = _put_in_hub_cache(cache, OPENAI_REPO, "open_clip_pytorch_model.bin", b"bin weights")
    enc = encoders.load_encoder("ViT-B-16-quickgelu", "openai", device="cpu", cache_dir=cache)
    assert handed == [("ViT-B-16-quickgelu", str(bin_file))]
    fields = enc.cache_fields()
    assert fields["weights"] == "open_clip:ViT-B-16-quickgelu:openai" and fields["quick_gelu"] is True

    # Like open_clip, the safetensors file is preferred when both are there.
    safe_file = _put_in_hub_cache(cache, OPENAI_REPO, "open_clip_model.safetensors", b"safe weights")
    encoders.load_backbone("ViT-B-16", device="cpu", cache_dir=cache)
    assert handed[-1] == ("ViT-B-16-quickgelu", str(safe_file))
    assert network_calls == []


def _check_instructions(message: str, cache) -> None:
    """The message names what and where, and gives commands that fetch it into ``cache``."""
    for needle in (
        "model='ViT-B-16-quickgelu'", "pretrained='openai'",
        f"Hub repo '{OPENAI_REPO}'", "'open_clip_model.safetensors'", "'open_clip_pytorch_model.bin'",
        f"Hugging Face cache folder {cache}",
        f"hf download {OPENAI_REPO} open_clip_model.safetensors --cache-dir {cache}",
        "huggingface-cli download",
        f"cache_dir='{cache}'", "HF_HUB_CACHE=", "pretrained='/path/to/ViT-B-16.pt'",
        "wget -O ViT-B-16.pt https://openaipublic.azureedge.net/clip/models/",
    ):
        assert needle in message, (needle, message)
    # The python one-liner is a valid command that downloads into the same folder.
    line = next(line for line in message.splitlines() if line.strip().startswith("python -c"))
    argv = shlex.split(line)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<fetch command>", "exec")
    assert "open_clip.download_pretrained(open_clip.get_pretrained_cfg(" in argv[2] and f'"{cache}"' in argv[2]


@pytest.fixture
def dropped_packets(monkeypatch):
    """A network that drops packets: name lookups and connects hang (until the test ends)."""
    release, calls = threading.Event(), []

    def hang(*args, **kwargs):
        calls.append(args)
        release.wait(60)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    monkeypatch.setattr(socket.socket, "connect", hang)
    yield calls
    release.set()


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "hub unreachable", "allow_download=False"])
def test_missing_weights_fail_fast_with_instructions(tmp_path, monkeypatch, hub_online, dropped_packets, how):
    kwargs = {"allow_download": False} if how == "allow_download=False" else {}
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The real probe (3 s) runs against the hanging network; nothing else may touch it.
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError) as info:
        encoders.load_encoder("ViT-B-16-quickgelu", "openai", device="cpu", cache_dir=tmp_path, **kwargs)
    assert time.monotonic() - start < 10
    assert isinstance(info.value, FileNotFoundError)
    _check_instructions(str(info.value), tmp_path)
    reason = {"HF_HUB_OFFLINE": "HF_HUB_OFFLINE is set",
              "hub unreachable": "https://huggingface.co did not answer within 3 s",
              "allow_download=False": "downloads are disabled (allow_download=False)"}[how]
    assert reason in str(info.value)
    if how == "hub unreachable":
        assert dropped_packets, "the probe tried the network"
    else:
        assert dropped_packets == [], "no probe when downloads are off"

    monkeypatch.setattr(hub, "_PROBE_TIMEOUT_S", 0.5)  # the same for the other entry points, faster
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError) as info:
        encoders.load_backbone("RN50", device="cpu", cache_dir=tmp_path, **kwargs)
    assert "model='RN50-quickgelu'" in str(info.value) and "'timm/resnet50_clip.openai'" in str(info.value)
    with pytest.raises(encoders.WeightsNotAvailableError) as info:
        encoders.load_encoder(TINY, "hf-hub:nobody/nothing", device="cpu", cache_dir=tmp_path, **kwargs)
    message = str(info.value)
    assert "pretrained='hf-hub:nobody/nothing'" in message and "Hub repo 'nobody/nothing'" in message
    assert f"hf download nobody/nothing open_clip_model.safetensors --cache-dir {tmp_path}" in message
    assert time.monotonic() - start < 10


class _AnswerHead(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.send_response(302)  # a redirect is an answer; the probe must not follow it
        self.send_header("Location", "https://cdn.example.invalid/file")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_network_probe_is_bounded_and_sees_an_answering_endpoint(monkeypatch):
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with http.server.HTTPServer(("127.0.0.1", 0), _AnswerHead) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert hub._hub_reachable(timeout=2.0) is True
        server.shutdown()
    assert hub._hub_reachable(timeout=2.0) is False  # nothing listens there any more
    # Accepting the connection is not answering: a server that closes it without a reply is no Hub.
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        why = []
        assert hub._hub_reachable(timeout=2.0, why=why) is False
        assert why and "RemoteDisconnected" in why[0]
        server.shutdown()

    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(60) and [])  # DNS that hangs
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://huggingface.co")
    try:
        start = time.monotonic()
        assert hub._hub_reachable(timeout=0.5) is False
        assert time.monotonic() - start < 2
    finally:
        release.set()


def test_reachable_hub_delegates_to_open_clip_download(encoder, tiny_weights, tmp_path, monkeypatch, hub_online):
    monkeypatch.setattr(hub, "_hub_reachable", lambda *a, **k: True)
    asked = []

    def download_pretrained(cfg, prefer_hf_hub=True, cache_dir=None):
        asked.append((dict(cfg), cache_dir))
        return str(tiny_weights)

    monkeypatch.setattr(open_clip, "download_pretrained", download_pretrained)
    enc = encoders.load_encoder(TINY, "hf-hub:someone/tiny", device="cpu", cache_dir=tmp_path / "hf")
    assert asked == [({"hf_hub": "someone/tiny/"}, str(tmp_path / "hf"))]
    np.testing.assert_allclose(enc.encode_text(TEXTS), encoder.encode_text(TEXTS), rtol=1e-5, atol=1e-6)

    def failing(cfg, prefer_hf_hub=True, cache_dir=None):
        raise OSError("connection reset")

    monkeypatch.setattr(open_clip, "download_pretrained", failing)
    with pytest.raises(encoders.WeightsNotAvailableError, match=r"the download failed \(OSError: connection reset\)"):
        encoders.load_encoder("ViT-B-16-quickgelu", "openai", device="cpu", cache_dir=tmp_path / "hf")


def test_bad_names_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"not an open_clip architecture.*ViT-B-16-quickgelu.*All valid names") as info:
        encoders.load_encoder("ViT-B-16-quikgelu", None)
    message = str(info.value)
    assert message.index("Did you mean ['ViT-B-16-quickgelu'") < message.index("All valid names")  # close first
    assert all(name in message for name in open_clip.list_models())
    with pytest.raises(ValueError, match=r"Did you mean \['openai'\].*Valid tags for 'ViT-B-16-quickgelu'.*openai"):
        encoders.load_encoder("ViT-B-16-quickgelu", "opanai", allow_download=False)
    with pytest.raises(ValueError, match=r"names no repo"):
        encoders.load_encoder(TINY, "hf-hub:", allow_download=False)
    with pytest.raises(ValueError, match=r"precision='fp8'.*'fp16', 'amp', 'fp32'"):
        encoders.load_encoder(TINY, None, precision="fp8")
    with pytest.raises(ValueError, match=r"preprocess='clip'.*'paper', 'openclip'"):
        encoders.load_encoder(TINY, None, preprocess="clip")
    with pytest.raises(ValueError, match=r"backbone='ViT-H-14'.*'RN50'.*'ViT-L-14-336'"):
        encoders.load_backbone("ViT-H-14")
    with pytest.raises(FileNotFoundError, match="exactly one weights file"):
        (tmp_path / "empty").mkdir()
        encoders.load_encoder(TINY, f"local-dir:{tmp_path / 'empty'}")


def test_backbones_are_quickgelu_models_with_openai_weights():
    assert set(encoders.BACKBONES) == {"ViT-B-16", "ViT-B-32", "ViT-L-14", "ViT-L-14-336", "RN50"}
    known = set(open_clip.list_pretrained(as_str=True))
    for model, tag in encoders.BACKBONES.values():
        assert model.endswith("-quickgelu") and f"{model}:{tag}" in known
        assert open_clip.get_model_config(model)["quick_gelu"] is True


# --------------------------------------------------------------------------------------------
# A Hub endpoint / proxy that accepts connections and never answers (loopback only)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted, stop = [], threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)  # held open, never read or answered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def loopback_only(monkeypatch):
    """Name lookups of anything but 127.0.0.1 fail (and are recorded): nothing leaves the machine."""
    real, refused = socket.getaddrinfo, []

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", b"127.0.0.1"):
            refused.append(host)
            raise OSError(f"test: only 127.0.0.1 may be reached, not {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    return refused


@pytest.mark.parametrize("via", ["endpoint", "proxy"])
def test_silent_endpoint_or_proxy_fails_within_the_time_limit(tmp_path, monkeypatch, hub_online, loopback_only,
                                                             silent_server, via):
    # The TCP connect succeeds (the server accepts), so only an HTTP-level bound can stop the wait.
    port, accepted = silent_server
    server = "https://huggingface.co"
    if via == "endpoint":  # what HF_ENDPOINT=http://127.0.0.1:<port> sets when huggingface_hub is imported
        server = f"http://127.0.0.1:{port}"
        monkeypatch.setattr(hf_constants, "ENDPOINT", server)
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", server + "/{repo_id}/resolve/{revision}/{filename}")
    else:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError) as info:
        encoders.load_backbone("ViT-B-16", device="cpu", cache_dir=tmp_path)
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"took {elapsed:.1f} s"
    message = str(info.value)
    assert f"{server} did not answer within 3 s" in message
    assert (f"through the proxy http://127.0.0.1:{port}" in message) == (via == "proxy")
    _check_instructions(message, tmp_path)
    assert accepted, "the server saw the connection"

    # load_encoder with an hf-hub: repo, the same (a shorter probe limit, to keep the test short).
    monkeypatch.setattr(hub, "_PROBE_TIMEOUT_S", 0.5)
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError, match=rf"{server} did not answer within 0\.5 s"):
        encoders.load_encoder(TINY, "hf-hub:nobody/nothing", device="cpu", cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    assert loopback_only == []
