"""A mini real benchmark: the ``imagenet1k`` benchmark's exact folder layouts with a few generated images.

``python -m ood_study.mini_benchmark --out DIR [--weights-dir W] [--params-out P]`` (also
``ood-study mini-benchmark ...``) writes, under the data root ``DIR``, the layouts of
:mod:`ood_core.features.image_sets` for every set of ``benchmark_sets.imagenet1k``:

- ``imagenet/val/<wnid>/ILSVRC2012_val_<n>.JPEG``: one image in each of the 1,000 wnid folders;
- ``iNaturalist/images``, ``SUN/images``, ``Places/images``: 5 images each (the MOS layout);
- ``dtd/images/<texture>/<texture>_<n>.jpg``: one image in each of DTD's 47 texture folders.

The images are real files that decoders must handle: JPEGs of varied sizes and aspect ratios, a
grayscale JPEG, a CMYK JPEG, an RGBA PNG and JPEGs with an EXIF orientation tag (3, 6 and 8). The
pixels are smooth seeded patterns and the files are written by Pillow with fixed settings, so the
same seed gives the same bytes (with the same Pillow / libjpeg).

It also writes the weights file of the ``tiny-random`` test backbone (a seeded random init, see
:data:`ood_core.features.encoders.RANDOM_WEIGHT_BACKBONES`) to ``W`` (default ``DIR/weights``),
and, with ``--params-out``, a copy of ``params.yaml`` that runs this benchmark with that backbone
(:func:`mini_params`). Every table it produces says RANDOM WEIGHTS: the numbers mean nothing; the
point is that every stage, notebook and the report run on the real path (tests/test_mini_benchmark.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ood_study.stages import parser as cli_parser

__all__ = ["OOD_IMAGES", "DTD_TEXTURES", "BACKBONE", "write_mini_benchmark", "mini_params", "main"]

BENCHMARK = "imagenet1k"
BACKBONE = "tiny-random"
OOD_IMAGES = 5  # per MOS set (iNaturalist, SUN, Places)

#: The 47 categories of the Describable Textures Dataset (its images/<texture>/ folders).
DTD_TEXTURES = (
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked", "crosshatched",
    "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy", "grid", "grooved",
    "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled", "matted", "meshed", "paisley",
    "perforated", "pitted", "pleated", "polka-dotted", "porous", "potholed", "scaly", "smeared", "spiralled",
    "sprinkled", "stained", "stratified", "striped", "studded", "swirly", "veined", "waffled", "woven",
    "wrinkled", "zigzagged",
)

_EXIF_ORIENTATION = 0x0112


def _pixels(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colour pattern (gradients, a blob, mild noise) as uint8 ``[H, W, 3]``: JPEG-friendly."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((height, width, 3))
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
        out[..., c] = 127 + 80 * np.sin(2 * np.pi * (fx * x / width + fy * y / height) + phase)
    cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.2, 0.5) * min(height, width)
    out += 60 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None] * rng.choice([-1, 1], 3)
    out += rng.normal(0, 4, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) between 24 and 96 pixels, landscape and portrait, now and then very elongated."""
    short, ratio = int(rng.integers(24, 64)), float(rng.choice([1.0, 4 / 3, 3 / 2, 16 / 9, 3.0]))
    long = min(96, int(round(short * ratio)))
    return (short, long) if rng.random() < 0.6 else (long, short)


def _save(path: Path, image, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


def _jpeg(path: Path, rng: np.random.Generator, kind: str = "rgb") -> None:
    from PIL import Image

    h, w = _size(rng)
    image = Image.fromarray(_pixels(rng, h, w))
    if kind == "gray":
        image = image.convert("L")
    elif kind == "cmyk":
        image = image.convert("CMYK")
    if kind.startswith("exif"):
        exif = Image.Exif()
        exif[_EXIF_ORIENTATION] = int(kind[4:])  # 3: 180°, 6: 90° clockwise, 8: 90° counter-clockwise
        _save(path, image, format="JPEG", quality=85, exif=exif.tobytes())
    else:
        _save(path, image, format="JPEG", quality=85)


def _png(path: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    h, w = _size(rng)
    rgba = np.concatenate([_pixels(rng, h, w), rng.integers(128, 256, (h, w, 1), dtype=np.uint8)], axis=2)
    _save(path, Image.fromarray(rgba, mode="RGBA"), format="PNG", optimize=False)


def write_mini_benchmark(root: str | Path, seed: int = 0) -> dict[str, int]:
    """Write the mini benchmark under data root ``root``; returns set name -> image count.

    Deterministic: the same ``seed`` gives the same files, byte for byte (same Pillow build).
    Existing files are overwritten; nothing else under ``root`` is touched.
    """
    from ood_core.features.image_sets import image_set
    from ood_core.text.imagenet import imagenet_wnids

    root = Path(root)
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    # ImageNet val: one image per wnid; a few special files spread over the classes.
    special = {7: "gray", 123: "cmyk", 321: "exif6", 654: "exif3", 987: "exif8"}
    val = image_set("imagenet1k", root=root).path
    for i, wnid in enumerate(imagenet_wnids()):
        _jpeg(val / wnid / f"ILSVRC2012_val_{i * 50 + 1:08d}.JPEG", rng, special.get(i, "rgb"))
    counts["imagenet1k"] = 1000
    # MOS sets: flat folders; each holds one unusual file.
    unusual = {"inaturalist": "gray", "sun": "cmyk", "places": "png"}
    prefixes = {"inaturalist": "", "sun": "sun_", "places": "places_"}
    for name, odd in unusual.items():
        folder = image_set(name, root=root).path
        for j in range(OOD_IMAGES):
            stem = f"{prefixes[name]}{rng.integers(0, 16 ** 12):012x}"
            if j == 0 and odd == "png":
                _png(folder / f"{stem}.png", rng)
            else:
                _jpeg(folder / f"{stem}.jpg", rng, odd if j == 0 else ("exif6" if j == 1 else "rgb"))
        counts[name] = OOD_IMAGES
    # DTD: one image per texture folder.
    dtd = image_set("textures", root=root).path
    for k, texture in enumerate(DTD_TEXTURES):
        _jpeg(dtd / texture / f"{texture}_{k + 1:04d}.jpg", rng, "exif8" if k == 5 else "rgb")
    counts["textures"] = len(DTD_TEXTURES)
    return counts


def mini_params(raw: dict, data_root: str | Path, weights_dir: str | Path, counts: dict[str, int]) -> dict:
    """``raw`` (a parsed params.yaml) changed to run the mini benchmark with the tiny-random backbone.

    Sets the benchmark, backbone, data root, weights folder, ``image_sets`` (the folders DVC tracks),
    the mini counts, and fp32 / small batches / no loader workers for CPUs. The methods, corpus and
    ablations stay as in ``raw`` (shrink them for a quick run).
    """
    from ood_core.features.image_sets import image_set

    out = dict(raw)
    out["paths"] = {**raw["paths"], "data_root": str(data_root), "weights_dir": str(weights_dir)}
    out["benchmarks"] = [BENCHMARK]
    out["backbones"] = [BACKBONE]
    sets = raw["benchmark_sets"][BENCHMARK]
    names = [sets["id"], *sets["ood"]]
    out["image_sets"] = {n: image_set(n, root=".").path.as_posix() for n in names}
    out["benchmark_sets"] = {**raw["benchmark_sets"], BENCHMARK: {**sets, "expected_counts": {n: counts[n] for n in names}}}
    out["encoder"] = {**raw["encoder"], "precision": "fp32", "batch_size": 64, "num_workers": 0}
    return out


def main(argv=None) -> None:
    import yaml

    from ood_core.features.encoders import write_random_weights

    parser = cli_parser(__doc__)
    parser.add_argument("--out", required=True, help="the data root to write the image sets under")
    parser.add_argument("--weights-dir", help="where to write the tiny-random weights (default: OUT/weights)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", default="params.yaml", help="the params file --params-out starts from")
    parser.add_argument("--params-out", help="write a params file that runs the mini benchmark here")
    args = parser.parse_args(argv)
    root = Path(args.out).resolve()
    weights_dir = Path(args.weights_dir).resolve() if args.weights_dir else root / "weights"
    counts = write_mini_benchmark(root, args.seed)
    weights = write_random_weights(BACKBONE, weights_dir)
    print(f"mini benchmark under {root}: {counts}; {BACKBONE} weights (random init) in {weights}")
    if args.params_out:
        raw = yaml.safe_load(Path(args.params).read_text())
        Path(args.params_out).write_text(yaml.safe_dump(mini_params(raw, root, weights_dir, counts), sort_keys=False))
        print(f"params for it: {args.params_out}")


if __name__ == "__main__":
    main()
