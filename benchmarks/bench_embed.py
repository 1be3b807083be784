"""Image-embedding throughput of ood_core.features.encoders (random weights: speed does not depend on them).

Prints images/s for
  1. baseline: a plain fp32 loop (``model.encode_image`` under ``torch.no_grad``),
  2. fp16 autocast (fp32 weights, ``precision="amp"``),
  3. the default: a half-precision model (``precision="fp16"``; fp32 on CPU),
all encode-only on preprocessed tensors already on the device, then
  4. JPEG decode + preprocessing alone (DataLoader, no model), and
  5. end-to-end ``encoder.encode_images`` from generated JPEGs, for each ``--num-workers`` value,
so the output shows what bounds end-to-end throughput.

Full size on a GPU:   python benchmarks/bench_embed.py --device cuda
CPU smoke test:       python benchmarks/bench_embed.py --device cpu --n-images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ood_core.features.datasets import ImageFiles
from ood_core.features.encoders import load_encoder


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run_batch, n_images: int, batch_size: int, device: torch.device) -> float:
    """images/s of ``run_batch(i)`` over ``n_images`` in batches, after one warm-up batch."""
    run_batch(0)
    _sync(device)
    n_batches = max(1, n_images // batch_size)
    start = time.perf_counter()
    for i in range(n_batches):
        run_batch(i)
    _sync(device)
    return n_batches * batch_size / (time.perf_counter() - start)


def _write_jpegs(folder: Path, n: int, size=(500, 375), n_unique: int = 64, seed: int = 0) -> list[Path]:
    """``n`` photo-like JPEGs (smooth colour fields + grain, ImageNet's typical 500x375, quality 90).

    Only ``n_unique`` are generated; the rest are byte copies (decoding costs the same)."""
    rng = np.random.default_rng(seed)
    blobs = []
    for _ in range(min(n, n_unique)):
        coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize(size, Image.BICUBIC)
        pixels = np.asarray(image).astype(np.int16) + rng.integers(-12, 13, size=(size[1], size[0], 3))
        path = folder / "tmp.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        blobs.append(path.read_bytes())
    paths = []
    for i in range(n):
        path = folder / f"img_{i:06d}.jpg"
        path.write_bytes(blobs[i % len(blobs)])
        paths.append(path)
    (folder / "tmp.jpg").unlink()
    return paths


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="ViT-B-16-quickgelu")
    parser.add_argument("--n-images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--num-workers", default="0,4,8,16", help="comma-separated DataLoader worker counts")
    parser.add_argument("--skip-e2e", action="store_true", help="encode-only figures only")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"device: {_device_name(device)}; torch {torch.__version__}; model {args.model} (random weights)")
    print(f"n_images={args.n_images} batch_size={args.batch_size}")

    rows: list[tuple[str, float]] = []
    encoder = None
    for label, precision in [("baseline: plain fp32 loop", "fp32"), ("fp16 autocast (precision='amp')", "amp"),
                             ("half-precision model (precision='fp16', default)", "fp16")]:
        encoder = load_encoder(args.model, pretrained=None, device=device, precision=precision)
        size = encoder.model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        images = torch.randn(args.batch_size, 3, size, size, device=device)
        if precision == "fp32":
            model = encoder.model

            def run(_i, model=model, images=images):
                with torch.no_grad():
                    model.encode_image(images)
        else:
            def run(_i, encoder=encoder, images=images):
                encoder.encode_image_tensor(images)
        rate = _rate(run, args.n_images, args.batch_size, device)
        if encoder.precision != precision:
            label += f" [effective {encoder.precision} on {device.type}]"
        rows.append((f"encode-only  {label}", rate))
        print(f"{rows[-1][0]:<75s} {rate:10.1f} images/s", flush=True)
        if precision != "fp16":  # free this model before loading the next (the fp16 one is kept for e2e)
            encoder = model = run = images = None
            if device.type == "cuda":
                torch.cuda.empty_cache()

    if not args.skip_e2e:
        workers = [int(w) for w in args.num_workers.split(",") if w.strip()]
        with tempfile.TemporaryDirectory(prefix="bench_embed_") as tmp:
            start = time.perf_counter()
            files = _write_jpegs(Path(tmp), args.n_images)
            print(f"(wrote {len(files)} JPEGs of 500x375 in {time.perf_counter() - start:.1f} s)")
            dataset = ImageFiles(files, encoder.transform)
            for w in workers:
                loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, num_workers=w,
                                                     collate_fn=ImageFiles.collate_fn,
                                                     pin_memory=device.type == "cuda")
                start = time.perf_counter()
                n = sum(len(b.images) for b in loader)
                rate = n / (time.perf_counter() - start)
                rows.append((f"decode+preprocess only, num_workers={w}", rate))
                print(f"{rows[-1][0]:<75s} {rate:10.1f} images/s", flush=True)

                start = time.perf_counter()
                feats = encoder.encode_images(dataset, batch_size=args.batch_size, num_workers=w, progress=False)
                _sync(device)
                rate = len(feats) / (time.perf_counter() - start)
                rows.append((f"end-to-end encode_images, num_workers={w}", rate))
                print(f"{rows[-1][0]:<75s} {rate:10.1f} images/s", flush=True)

    baseline = rows[0][1]
    print("\nsummary (speed-up vs the plain fp32 loop):")
    for label, rate in rows:
        print(f"  {label:<75s} {rate:10.1f} images/s  x{rate / baseline:5.2f}")
    if not args.skip_e2e:
        best_decode = max(r for lbl, r in rows if lbl.startswith("decode"))
        best_e2e = max(r for lbl, r in rows if lbl.startswith("end-to-end"))
        default = rows[2][1]
        bound = "JPEG decode/preprocessing (add workers/CPU cores)" if best_decode < default else "the model"
        print(f"end-to-end bound: {bound}; best decode {best_decode:.0f}/s, best end-to-end {best_e2e:.0f}/s, "
              f"encode-only default {default:.0f}/s")


if __name__ == "__main__":
    main()
