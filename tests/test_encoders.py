"""ood_core.encoders with a tiny random-weight open_clip model (no pretrained weights needed)."""

import hashlib
import time

import numpy as np
import pytest
import torch
from PIL import Image

open_clip = pytest.importorskip("open_clip")

from ood_core import encoders  # noqa: E402
from ood_core.datasets import ImageFiles, UnreadableImageError  # noqa: E402

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
    out = encoders.paper_transform(24)(Image.new("RGB", (60, 30), colour))
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    expected = (np.array(colour) / 255.0 - mean) / std
    np.testing.assert_allclose(out.mean(dim=(1, 2)).numpy(), expected, atol=1e-5)
    grey = encoders.paper_transform(24)(Image.new("L", (30, 30), 128))
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


def test_encode_images_matches_manual_forward_and_accepts_loaders(encoder, tmp_path):
    paths = _write_images(tmp_path / "imgs", 5)
    dataset = ImageFiles(paths, encoder.transform)
    feats = encoder.encode_images(dataset, batch_size=2, num_workers=0, progress=False)
    assert feats.shape == (5, 16) and feats.dtype == np.float32
    batch = torch.stack([encoder.transform(Image.open(p)) for p in paths])
    with torch.no_grad():
        expected = encoder.model.encode_image(batch, normalize=False).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-3)

    # A plain dataset of (image, label) tuples through a user DataLoader gives the same rows.
    tensors = torch.utils.data.TensorDataset(batch, torch.zeros(5))
    loader = torch.utils.data.DataLoader(tensors, batch_size=3)
    np.testing.assert_allclose(encoder.encode_images(loader, progress=False), feats, rtol=1e-4, atol=1e-5)
    # Worker processes give the same result as in-process loading.
    with_workers = encoder.encode_images(dataset, batch_size=2, num_workers=2, progress=False)
    np.testing.assert_array_equal(with_workers, feats)


def test_unreadable_image_raises_naming_file_or_is_skipped(encoder, tmp_path):
    paths = _write_images(tmp_path / "imgs", 3)
    bad = tmp_path / "imgs" / "img_01.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UnreadableImageError, match="img_01.jpg.*skip_unreadable=True"):
        encoder.encode_images(ImageFiles(paths, encoder.transform), batch_size=2, num_workers=0, progress=False)
    feats, rows = encoder.encode_images(ImageFiles(paths, encoder.transform, skip_unreadable=True),
                                        batch_size=1, num_workers=0, return_indices=True, progress=False)
    assert rows.tolist() == [0, 2] and feats.shape == (2, 16)


def test_weights_file_local_dir_and_hub_cache_are_loaded_and_hashed(encoder, tmp_path):
    weights = tmp_path / "tiny.pt"
    torch.save(encoder.model.state_dict(), weights)
    reference = encoder.encode_text(TEXTS)
    from_file = encoders.load_encoder(TINY, pretrained=str(weights), device="cpu", random_init_seed=7)
    np.testing.assert_allclose(from_file.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)
    assert from_file.cache_fields()["weights"] == "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()

    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "model.pt").write_bytes(weights.read_bytes())
    from_dir = encoders.load_encoder(TINY, pretrained=f"local-dir:{folder}", device="cpu", random_init_seed=7)
    np.testing.assert_allclose(from_dir.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)

    # A Hugging Face cache laid out as huggingface_hub does it, with no network access.
    from safetensors.torch import save_file

    snapshot = tmp_path / "hf" / "models--someone--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in encoder.model.state_dict().items()},
              str(snapshot / "open_clip_model.safetensors"))
    (tmp_path / "hf" / "models--someone--tiny" / "refs").mkdir()
    (tmp_path / "hf" / "models--someone--tiny" / "refs" / "main").write_text("abc123")
    from_hub = encoders.load_encoder(TINY, pretrained="hf-hub:someone/tiny", device="cpu",
                                     cache_dir=tmp_path / "hf", allow_download=False, random_init_seed=7)
    np.testing.assert_allclose(from_hub.encode_text(TEXTS), reference, rtol=1e-5, atol=1e-6)


def test_missing_weights_offline_fail_fast_with_instructions(tmp_path, monkeypatch):
    # the probe's answer, not the environment's HF_HUB_OFFLINE (the test command sets it), is tested here
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(encoders, "_hub_reachable", lambda *a, **k: False)
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError) as info:
        encoders.load_encoder("ViT-B-16-quickgelu", "openai", device="cpu", cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    message = str(info.value)
    for needle in ("ViT-B-16-quickgelu", "'openai'", str(tmp_path), "timm/vit_base_patch16_clip_224.openai",
                   "ViT-B-16.pt", "huggingface-cli download", "connected machine", "did not answer"):
        assert needle in message, needle


@pytest.mark.parametrize("how", ["allow_download", "HF_HUB_OFFLINE"])
def test_downloads_disabled_never_probe_the_network(tmp_path, monkeypatch, how):
    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be touched")

    monkeypatch.setattr(encoders, "_hub_reachable", no_network)
    kwargs = {}
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        kwargs["allow_download"] = False
    start = time.monotonic()
    with pytest.raises(encoders.WeightsNotAvailableError, match="RN50-quickgelu"):
        encoders.load_encoder("RN50-quickgelu", "openai", device="cpu", cache_dir=tmp_path, **kwargs)
    with pytest.raises(encoders.WeightsNotAvailableError, match="hf-hub:nobody/nothing"):
        encoders.load_encoder(TINY, "hf-hub:nobody/nothing", device="cpu", cache_dir=tmp_path, **kwargs)
    assert time.monotonic() - start < 10


def test_bad_names_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"not an open_clip architecture.*ViT-B-16-quickgelu.*All valid names"):
        encoders.load_encoder("ViT-B-16-quikgelu", None)
    with pytest.raises(ValueError, match=r"Valid tags for 'ViT-B-16-quickgelu'.*openai"):
        encoders.load_encoder("ViT-B-16-quickgelu", "not-a-tag", allow_download=False)
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
