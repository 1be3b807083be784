"""The device decode path (ood_core.features.gpu_decode) against the PIL path, on the CPU:
torchvision's decode_jpeg and the torch resize/crop run on any device, so the same code that runs on
CUDA is checked here; nvJPEG's own pixel differences are checked by benchmarks/gpu_check.sh."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ood_core.features.clip import encode_images
from ood_core.features.encoders import load_encoder, register_model_config
from ood_core.features.gpu_decode import (
    CPU_MAX_ABS_DIFF,
    CPU_MEAN_ABS_DIFF,
    CUDA_MEAN_ABS_DIFF,
    JpegHeader,
    image_batches,
    jpeg_header,
    paper_preprocess,
    resized_size,
)
from ood_core.features.images import CLIP_STD, ImageFiles, UnreadableImageError, paper_transform

S = 224
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB image: smooth colour fields plus grain (edges and texture for the resize)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)).resize((width, height),
                                                                                            Image.BICUBIC)
    pixels = np.asarray(coarse).astype(np.int16) + rng.integers(-25, 26, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kw)
    return buffer.getvalue()


def _exif_segment(orientation: int, big_endian: bool) -> bytes:
    """An APP1 Exif segment holding one IFD0 entry, Orientation (0x0112, SHORT), written by hand."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 1)
    tiff += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "H", orientation) + b"\0\0" + struct.pack(e + "I", 0)
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _with_segment(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]  # right after SOI, as cameras write APP1


# --- the header parser -----------------------------------------------------------------------


def test_jpeg_header_reads_frame_components_and_exif_orientation_in_both_byte_orders():
    rgb = _jpeg(_photo(40, 30, 0))
    assert jpeg_header(rgb) == JpegHeader("baseline", 8, 3, 1, False)
    assert jpeg_header(_jpeg(_photo(40, 30, 0).convert("L"))).components == 1
    assert jpeg_header(_jpeg(_photo(40, 30, 0), progressive=True)).frame == "progressive"
    cmyk = jpeg_header(_jpeg(_photo(40, 30, 0).convert("CMYK")))
    assert cmyk.components == 4 and not cmyk.device_decodable
    for big_endian in (False, True):
        header = jpeg_header(_with_segment(rgb, _exif_segment(6, big_endian)))
        assert header.orientation == 6 and not header.device_decodable
        assert jpeg_header(_with_segment(rgb, _exif_segment(1, big_endian))).device_decodable
    png = io.BytesIO()
    _photo(40, 30, 0).save(png, "PNG")
    assert jpeg_header(png.getvalue()) is None
    assert jpeg_header(b"") is None and jpeg_header(rgb[:3]) is None


def test_resized_size_is_torchvisions_shorter_side_rule():
    # Resize(224): shorter side 224, longer int(224 * long / short), computed by hand.
    assert resized_size(375, 500, 224) == (224, 298)  # 224 * 500 / 375 = 298.67
    assert resized_size(500, 333, 224) == (336, 224)  # 224 * 500 / 333 = 336.34
    assert resized_size(120, 160, 224) == (224, 298)
    assert resized_size(300, 300, 224) == (224, 224)


# --- pixels against the PIL path ---------------------------------------------------------------

SIZES = [(500, 375), (375, 500), (500, 333), (333, 500), (1024, 683), (160, 120), (224, 224), (230, 224),
         (2000, 1500)]


def test_paper_preprocess_equals_the_pil_transform_within_the_stated_tolerance():
    from torchvision.io import ImageReadMode, decode_jpeg

    reference = paper_transform(S)
    assert CPU_MAX_ABS_DIFF == pytest.approx(2 / 255 / min(CLIP_STD))  # two uint8 levels
    images, expected = [], []
    for seed, (w, h) in enumerate(SIZES):
        data = _jpeg(_photo(w, h, seed))
        images.append(decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB))
        expected.append(reference(Image.open(io.BytesIO(data))))
    got = paper_preprocess(images, S)
    assert got.shape == (len(SIZES), 3, S, S) and got.dtype == torch.float32
    for j, (w, h) in enumerate(SIZES):
        diff = (got[j] - expected[j]).abs()
        assert diff.max() <= CPU_MAX_ABS_DIFF + 1e-6, (w, h, float(diff.max()))
        assert diff.mean() <= CPU_MEAN_ABS_DIFF, (w, h, float(diff.mean()))
    # An image already at 224 x 224 is neither resized nor cropped: only the normalisation.
    assert torch.allclose(got[SIZES.index((224, 224))], expected[SIZES.index((224, 224))], atol=1e-5)


def test_paper_preprocess_rejects_what_is_not_uint8_rgb():
    with pytest.raises(ValueError, match=r"uint8 \[3, H, W\]"):
        paper_preprocess([torch.zeros(1, 30, 40, dtype=torch.uint8)], S)
    with pytest.raises(ValueError, match="uint8"):
        paper_preprocess([torch.zeros(3, 30, 40)], S)


@pytest.fixture
def mixed_folder(tmp_path):
    """JPEGs of varied sizes, a grayscale, a progressive, a CMYK, two EXIF-rotated, a PNG and a
    truncated JPEG (the last one unreadable by both paths)."""
    files = []

    def add(name: str, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        files.append(path)

    for seed, (w, h) in enumerate(SIZES[:5]):
        add(f"rgb_{seed}.jpg", _jpeg(_photo(w, h, seed)))
    add("gray.jpg", _jpeg(_photo(400, 300, 10).convert("L")))
    add("progressive.jpg", _jpeg(_photo(300, 400, 11), progressive=True))
    add("cmyk.jpg", _jpeg(_photo(320, 240, 12).convert("CMYK")))
    add("exif6.jpg", _with_segment(_jpeg(_photo(480, 320, 13)), _exif_segment(6, False)))
    add("exif3_be.jpg", _with_segment(_jpeg(_photo(320, 480, 14)), _exif_segment(3, True)))
    png = io.BytesIO()
    _photo(350, 260, 15).save(png, "PNG")
    add("image.png", png.getvalue())
    add("truncated.jpg", _jpeg(_photo(500, 375, 16))[:5000])
    return files


FALLBACKS = ("cmyk.jpg", "exif6.jpg", "exif3_be.jpg", "image.png")


def _all_batches(files, decode, skip_unreadable=True, batch=4):
    dataset = ImageFiles(files, paper_transform(S), skip_unreadable=skip_unreadable)
    sampler = [range(s, min(s + batch, len(files))) for s in range(0, len(files), batch)]
    batches = list(image_batches(dataset, sampler, decode=decode, device="cpu", image_size=S))
    return torch.cat([b.images for b in batches]), torch.cat([b.indices for b in batches]), sum(b.n_items for b in batches)


def test_device_batches_equal_pil_batches_with_fallbacks_identical(mixed_folder):
    names = [p.name for p in mixed_folder]
    pil_images, pil_rows, pil_items = _all_batches(mixed_folder, "pil")
    gpu_images, gpu_rows, gpu_items = _all_batches(mixed_folder, "gpu")
    # The truncated file is skipped by both paths; every other row is kept, in dataset order.
    assert pil_rows.tolist() == gpu_rows.tolist() == [i for i, n in enumerate(names) if n != "truncated.jpg"]
    assert pil_items == gpu_items == len(names)
    for k, row in enumerate(gpu_rows.tolist()):
        diff = (gpu_images[k] - pil_images[k]).abs()
        if names[row] in FALLBACKS:  # decoded by PIL on both paths: the same numbers
            assert torch.equal(gpu_images[k], pil_images[k]), names[row]
        else:
            assert diff.max() <= CPU_MAX_ABS_DIFF + 1e-6 and diff.mean() <= CPU_MEAN_ABS_DIFF, names[row]


def test_device_path_raises_the_pil_paths_error_for_an_unreadable_file(mixed_folder):
    with pytest.raises(UnreadableImageError, match="truncated.jpg"):
        _all_batches(mixed_folder, "gpu", skip_unreadable=False)
    with pytest.raises(ValueError, match="decode='nvjpeg' is unknown"):
        list(image_batches(ImageFiles(mixed_folder, paper_transform(S)), [[0]], decode="nvjpeg", device="cpu",
                           image_size=S))


@pytest.mark.slow  # every image of the mini benchmark; the decode paths are also compared on small inputs above
@pytest.mark.parametrize("device", DEVICES)
def test_the_mini_benchmarks_images_equal_the_pil_path(tmp_path, device):
    mini = pytest.importorskip("ood_study.mini_benchmark")
    from ood_core.features.image_sets import image_set

    mini.write_mini_benchmark(tmp_path)
    files = [f for name in ("imagenet1k", "inaturalist", "sun", "places", "textures")
             for f in image_set(name, root=tmp_path).files()]
    size = 32  # the input size of the mini benchmark's tiny-random backbone; 24-96 px images, so both ways
    dataset = ImageFiles(files, paper_transform(size))
    batches = [range(s, min(s + 256, len(files))) for s in range(0, len(files), 256)]
    pil = torch.cat([b.images for b in image_batches(dataset, batches, decode="pil", device=device, image_size=size)])
    gpu = torch.cat([b.images.cpu() for b in image_batches(dataset, batches, decode="gpu", device=device,
                                                            image_size=size)])
    assert pil.shape == gpu.shape == (len(files), 3, size, size)
    diff = (gpu - pil).abs().flatten(1)
    print(f"\n[{device}] mini benchmark ({len(files)} images, {size} px): max |diff| {diff.max():.4f}, "
          f"mean {diff.mean():.5f}, worst image mean {diff.mean(1).max():.5f}")
    if device == "cpu":
        assert diff.max() <= CPU_MAX_ABS_DIFF + 1e-6 and diff.mean(1).max() <= CPU_MEAN_ABS_DIFF
    else:
        assert diff.mean(1).max() <= CUDA_MEAN_ABS_DIFF


# --- through the encoder -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model():
    return register_model_config("ood-tiny-decode-test", {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    })


@pytest.mark.parametrize("device", DEVICES)
def test_encoder_decode_gpu_gives_pil_embeddings_and_its_own_cache_key(tiny_model, mixed_folder, device):
    pil = load_encoder(tiny_model, None, device=device, precision="fp32")
    gpu = load_encoder(tiny_model, None, device=device, precision="fp32", decode="gpu")
    assert pil.decode == "pil" and gpu.decode == "gpu" and gpu.image_size == 64
    assert "decode" not in pil.cache_fields()  # existing PIL-path cache entries keep their keys
    assert {k: v for k, v in gpu.cache_fields().items() if k != "decode"} == pil.cache_fields()
    assert gpu.cache_fields()["decode"] == f"gpu:{device}"
    files = [p for p in mixed_folder if p.name != "truncated.jpg"]
    feats = {}
    for name, encoder in (("pil", pil), ("gpu", gpu)):
        dataset = ImageFiles(files, encoder.transform)
        feats[name], rows = encode_images(encoder, dataset, batch_size=3, num_workers=0)
        assert rows.tolist() == list(range(len(files)))
    a, b = (f / np.linalg.norm(f, axis=1, keepdims=True) for f in (feats["pil"], feats["gpu"]))
    cosine = (a * b).sum(axis=1)
    print(f"\n[{device}] embedding cosine gpu vs pil path: min {cosine.min():.6f} mean {cosine.mean():.6f}")
    assert cosine.min() >= (0.9999 if device == "cpu" else 0.999), cosine
    fallback = [i for i, p in enumerate(files) if p.name in FALLBACKS]
    np.testing.assert_allclose(feats["gpu"][fallback], feats["pil"][fallback], rtol=0, atol=1e-5)


def test_load_encoder_rejects_an_unknown_decode_or_gpu_decode_with_openclip_preprocessing(tiny_model):
    with pytest.raises(ValueError, match="decode='cuda' is unknown"):
        load_encoder(tiny_model, None, device="cpu", decode="cuda")
    with pytest.raises(ValueError, match="preprocess='paper'"):
        load_encoder(tiny_model, None, device="cpu", decode="gpu", preprocess="openclip")


def test_params_yaml_validates_encoder_decode():
    import yaml

    from ood_study.params import parse_tree

    raw = yaml.safe_load((Path(__file__).resolve().parent.parent / "params.yaml").read_text())
    assert parse_tree(raw)["encoder"].decode == "pil"  # the default stays the CPU path
    with pytest.raises(ValueError, match=r"encoder.decode = 'nvjpeg' is not valid.*\['pil', 'gpu'\]"):
        parse_tree({**raw, "encoder": {**raw["encoder"], "decode": "nvjpeg"}})
    with pytest.raises(ValueError, match="encoder.preprocess: paper or encoder.decode: pil"):
        parse_tree({**raw, "encoder": {**raw["encoder"], "decode": "gpu", "preprocess": "openclip"}})
