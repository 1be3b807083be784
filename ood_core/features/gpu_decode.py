"""JPEG decoding and the paper's preprocessing on the encoder's device (``encoder.decode: gpu``).

PIL in DataLoader workers decodes a few hundred ImageNet JPEGs per second per core, far below what
a half-precision ViT-B/16 encodes on one GPU. This path moves the work to the device:

1. DataLoader workers only read each file's bytes and parse its JPEG header
   (:func:`jpeg_header`, pure Python, no decode); a batch is one uint8 tensor of concatenated
   files plus offsets.
2. ``torchvision.io.decode_jpeg(list, mode=RGB, device=device)`` decodes the batch at once
   (nvJPEG on CUDA, libjpeg-turbo on the CPU).
3. :func:`paper_preprocess` applies the released code's transform with torch ops on the same
   device: ``Resize(S)`` bilinear on the shorter side as PIL computes it (antialiased, a horizontal
   then a vertical pass, each rounded to uint8 as PIL's 8-bit resampling does), ``CenterCrop(S)``,
   ``/255`` and CLIP mean/std. Images of the same size are resized together.

PIL stays the CPU path (``decode: pil``, the default) and is the fallback, per file, for what
``decode_jpeg`` cannot decode the way PIL does: non-JPEG files (PNG), CMYK / YCCK and Adobe-marked
JPEGs, 12-bit or lossless / arithmetic-coded JPEGs, files with an EXIF orientation other than 1
(the PIL path decides whether to rotate, so those go through it), files that do not end with the
JPEG end marker (possibly truncated), and any file ``decode_jpeg`` rejects. The fallback calls the dataset's own ``__getitem__`` (its PIL transform and its
``skip_unreadable`` handling), so those items are exactly the PIL path's.

Equality with the PIL path (``tests/test_gpu_decode.py``, on the CPU): decoded pixels are
identical (both libjpeg-turbo), and after resizing a few output values differ by one or two uint8
levels (rounding of float versus PIL's fixed-point coefficients): max abs difference
:data:`CPU_MAX_ABS_DIFF` on normalised pixels (2 levels / 255 / the smallest CLIP std), mean abs
difference per image at most :data:`CPU_MEAN_ABS_DIFF`. Measured on the mini benchmark's 1,062
images (``ood_study.mini_benchmark``, 24-96 px, so upsampled): max 0.0300 (two levels), mean
0.00017 at 224 px, worst image 0.0020; on 500x375-class JPEGs about 0.1 % of values differ by one level. nvJPEG's IDCT and chroma upsampling differ from
libjpeg-turbo's by a few levels, so on CUDA the bound is looser and is checked by
``benchmarks/gpu_check.sh`` (embedding cosine similarity and pixel differences printed).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from typing import NamedTuple

import numpy as np
import torch

from ood_core.features.images import CLIP_MEAN, CLIP_STD, DECODES, ImageBatch

__all__ = [
    "CPU_MAX_ABS_DIFF",
    "CPU_MEAN_ABS_DIFF",
    "CUDA_MEAN_ABS_DIFF",
    "DECODES",
    "EncodedBatch",
    "JpegBytes",
    "JpegHeader",
    "decode_batch",
    "image_batches",
    "jpeg_header",
    "paper_preprocess",
    "resized_size",
]

#: Stated tolerance of the torch path against the PIL path on the CPU (normalised pixels): any
#: value within two uint8 levels over the smallest CLIP std; the mean over one image's values.
CPU_MAX_ABS_DIFF = 2.0 / 255.0 / min(CLIP_STD)
CPU_MEAN_ABS_DIFF = 5e-3
#: On CUDA nvJPEG's IDCT and chroma upsampling differ from libjpeg-turbo's by a few levels, so
#: only the mean per image is bounded (about 1.4 levels); benchmarks/gpu_check.sh prints the figures.
CUDA_MEAN_ABS_DIFF = 0.02

# SOF markers decode_jpeg handles like libjpeg-turbo: baseline, extended sequential, progressive
# (Huffman coded). Lossless (C3) and arithmetic-coded (C9-CB) frames go to PIL.
_SOF_HUFFMAN = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length field


class JpegHeader(NamedTuple):
    """What the header of a JPEG says: ``frame`` ("baseline", "extended", "progressive" or
    "other"), ``precision`` (bits per sample), ``components`` (1 gray, 3 YCbCr, 4 CMYK/YCCK),
    ``orientation`` (EXIF tag 0x0112, 1 when absent), ``adobe`` (an Adobe APP14 marker is present)."""

    frame: str
    precision: int
    components: int
    orientation: int
    adobe: bool

    @property
    def device_decodable(self) -> bool:
        """True when ``decode_jpeg`` gives the pixels PIL's ``convert("RGB")`` gives, unrotated."""
        return (self.frame != "other" and self.precision == 8 and self.components in (1, 3)
                and self.orientation == 1 and not self.adobe)


def _exif_orientation(payload: bytes) -> int:
    """EXIF orientation from an APP1 payload (after ``Exif\\0\\0``); 1 when absent or malformed."""
    if len(payload) < 8 or payload[:2] not in (b"II", b"MM"):
        return 1
    endian = "<" if payload[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(endian + "I", payload, 4)
        (count,) = struct.unpack_from(endian + "H", payload, ifd)
        for entry in range(count):
            tag, kind, _, value = struct.unpack_from(endian + "HHI4s", payload, ifd + 2 + 12 * entry)
            if tag == 0x0112 and kind == 3:  # SHORT, stored left-justified in the value field
                return struct.unpack_from(endian + "H", value)[0]
    except struct.error:
        return 1
    return 1


def jpeg_header(data: bytes) -> JpegHeader | None:
    """Parse the markers of a JPEG up to its first scan; ``None`` if ``data`` is not a JPEG
    (or its header is truncated). Reads no entropy-coded data, so it costs microseconds."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    frame, precision, components, orientation, adobe = None, 0, 0, 1, False
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _NO_LENGTH:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segment = data[pos + 4:pos + 2 + length]
        if marker in _SOF_HUFFMAN or marker in _SOF_OTHER:
            if len(segment) < 6:
                return None
            frame = _SOF_HUFFMAN.get(marker, "other")
            precision, components = segment[0], segment[5]
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(segment[6:])
        elif marker == 0xEE and segment[:5] == b"Adobe":
            adobe = True
        pos += 2 + length
    if frame is None:
        return None
    return JpegHeader(frame, precision, components, orientation, adobe)


class EncodedBatch(NamedTuple):
    """A collated batch of :class:`JpegBytes`.

    ``data``: uint8 ``[total_bytes]``, the device-decodable files concatenated; ``offsets``: int64
    ``[k + 1]`` (file ``j`` is ``data[offsets[j]:offsets[j + 1]]``); ``jpeg_indices``: int64 ``[k]``
    their dataset positions; ``images``: float32 ``[m, 3, S, S]`` the PIL-path items (fallbacks);
    ``image_indices``: int64 ``[m]``; ``n_items``: dataset items covered, skipped ones included.
    """

    data: torch.Tensor
    offsets: torch.Tensor
    jpeg_indices: torch.Tensor
    images: torch.Tensor
    image_indices: torch.Tensor
    n_items: int


class JpegBytes:
    """A map-style ``Dataset`` over an :class:`~ood_core.features.images.ImageFiles`: item ``i``
    is ``("jpeg", bytes, i)`` for a device-decodable JPEG, else the PIL path's item
    ``("pil", tensor | None, i)`` (``None``: skipped as unreadable by ``skip_unreadable``)."""

    def __init__(self, image_files):
        self.image_files = image_files

    def __len__(self) -> int:
        return len(self.image_files)

    def __getitem__(self, index: int):
        try:
            data = self.image_files.files[index].read_bytes()
        except OSError:
            data = b""  # the PIL path raises (or skips) with its own message
        header = jpeg_header(data)
        # A file that does not end with the EOI marker may be truncated: nvJPEG can decode such a
        # file into a partly grey image without an error, so PIL's policy decides (raise or skip).
        if header is not None and header.device_decodable and data.rstrip(b"\x00")[-2:] == b"\xff\xd9":
            return "jpeg", data, index
        image, index = self.image_files[index]
        return "pil", image, index

    @staticmethod
    def collate_fn(items) -> EncodedBatch:
        jpegs = [(d, i) for kind, d, i in items if kind == "jpeg"]
        pils = [(x, i) for kind, x, i in items if kind == "pil" and x is not None]
        sizes = np.fromiter((len(d) for d, _ in jpegs), dtype=np.int64, count=len(jpegs))
        offsets = np.zeros(len(jpegs) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        data = torch.from_numpy(np.frombuffer(b"".join(d for d, _ in jpegs), dtype=np.uint8).copy())
        images = torch.stack([x for x, _ in pils]) if pils else torch.empty((0,))
        return EncodedBatch(data, torch.from_numpy(offsets), torch.tensor([i for _, i in jpegs], dtype=torch.int64),
                            images, torch.tensor([i for _, i in pils], dtype=torch.int64), len(items))


def resized_size(height: int, width: int, size: int) -> tuple[int, int]:
    """``(h, w)`` after torchvision's ``Resize(size)`` of an ``height x width`` image: the shorter
    side becomes ``size``, the longer ``int(size * long / short)``."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def _resize_pass(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0.0, 255.0)


def paper_preprocess(images: list[torch.Tensor], image_size: int) -> torch.Tensor:
    """The paper transform on decoded images: uint8 ``[3, H_i, W_i]`` each (on one device) ->
    float32 ``[b, 3, S, S]`` (``S = image_size``), normalised with CLIP mean/std, in input order.

    PIL's bilinear ``resize`` is separable, antialiased on downscaling, and rounds to uint8 after
    the horizontal pass and after the vertical one; doing the same with float ``interpolate``
    matches it to a uint8 level on a small fraction of values (module docstring).
    """
    if not images:
        return torch.empty((0, 3, image_size, image_size), dtype=torch.float32)
    device = images[0].device
    out = torch.empty((len(images), 3, image_size, image_size), dtype=torch.float32, device=device)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j, image in enumerate(images):
        if image.dim() != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
            raise ValueError(f"image {j}: expected uint8 [3, H, W], got {image.dtype} {tuple(image.shape)}")
        by_size[tuple(image.shape[1:])].append(j)
    for (height, width), members in by_size.items():
        new_h, new_w = resized_size(height, width, image_size)
        x = torch.stack([images[j] for j in members]).float()
        if new_w != width:  # PIL: horizontal pass first, then vertical
            x = _resize_pass(x, (height, new_w))
        if new_h != height:
            x = _resize_pass(x, (new_h, new_w))
        top, left = int(round((new_h - image_size) / 2.0)), int(round((new_w - image_size) / 2.0))
        out[members] = x[:, :, top:top + image_size, left:left + image_size]
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1) * 255.0
    return out.sub_(mean).div_(std)


def decode_batch(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | None]:
    """``decode_jpeg`` of a list of encoded files (uint8 ``[n_bytes]`` CPU tensors) on ``device``
    -> uint8 ``[3, H, W]`` RGB each, or ``None`` for a file it rejects. One batched call; if that
    fails, file by file, so one bad file costs only itself."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not data:
        return []
    try:
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        decoded: list[torch.Tensor | None] = []
        for one in data:
            try:
                decoded.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                decoded.append(None)
        return decoded


def _device_batch(batch: EncodedBatch, image_files, image_size: int, device: torch.device) -> ImageBatch:
    """An :class:`EncodedBatch` -> preprocessed :class:`ImageBatch` on ``device``, in dataset order."""
    offsets = batch.offsets.tolist()
    decoded = decode_batch([batch.data[a:b] for a, b in zip(offsets[:-1], offsets[1:])], device)
    ok = [j for j, image in enumerate(decoded) if image is not None]
    parts = [paper_preprocess([decoded[j] for j in ok], image_size).to(device)]
    indices = [batch.jpeg_indices[ok]]
    rejected = [int(batch.jpeg_indices[j]) for j, image in enumerate(decoded) if image is None]
    fallback = [image_files[i] for i in rejected]  # the PIL path, its error handling included
    fallback = [(x, i) for x, i in fallback if x is not None]
    if len(batch.images):
        parts.append(batch.images.to(device))
        indices.append(batch.image_indices)
    if fallback:
        parts.append(torch.stack([x for x, _ in fallback]).to(device))
        indices.append(torch.tensor([i for _, i in fallback], dtype=torch.int64))
    images, rows = torch.cat(parts), torch.cat(indices)
    order = torch.argsort(rows)
    return ImageBatch(images[order.to(device)], rows[order], batch.n_items)


def image_batches(image_files, batch_sampler, *, decode: str, device, image_size: int, num_workers: int = 0,
                  prefetch: int = 2):
    """Preprocessed batches of an :class:`~ood_core.features.images.ImageFiles`, one
    :class:`~ood_core.features.images.ImageBatch` per index list of ``batch_sampler``, rows in
    dataset order (skipped unreadable images left out).

    ``decode="pil"``: the PIL transform in DataLoader workers (images on the CPU).
    ``decode="gpu"``: workers read bytes; decoding and the paper transform run on ``device``
    (``image_files.transform`` must be the paper transform at ``image_size``: it serves the fallbacks),
    ``prefetch`` batches ahead in a background thread (on CUDA on its own stream), so the decoding
    of the next batches overlaps the caller's encoding of this one.
    """
    from torch.utils.data import DataLoader

    if decode not in DECODES:
        raise ValueError(f"decode={decode!r} is unknown; valid: {DECODES}")
    device = torch.device(device)
    pin = device.type == "cuda"
    if decode == "pil":
        yield from DataLoader(image_files, batch_sampler=batch_sampler, num_workers=num_workers,
                              collate_fn=type(image_files).collate_fn, pin_memory=pin)
        return
    loader = DataLoader(JpegBytes(image_files), batch_sampler=batch_sampler, num_workers=num_workers,
                        collate_fn=JpegBytes.collate_fn, pin_memory=False)
    yield from _in_background((_device_batch(batch, image_files, image_size, device) for batch in loader),
                              device, prefetch)


_DONE = object()


def _in_background(batches, device: torch.device, depth: int):
    """Iterate ``batches`` (a generator of :class:`ImageBatch`) in a daemon thread, ``depth`` items
    ahead. On CUDA the thread works on a side stream and each batch carries an event that the
    consumer's stream waits on (and ``record_stream`` keeps the allocator from reusing the memory
    early). An exception in the thread is raised in the consumer; closing the consumer stops the thread.
    """
    import queue
    import threading
    from contextlib import nullcontext

    if depth < 1:
        raise ValueError(f"prefetch={depth} must be at least 1")
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with torch.inference_mode(), (torch.cuda.stream(stream) if stream is not None else nullcontext()):
                for batch in batches:
                    event = None
                    if stream is not None:
                        event = torch.cuda.Event()
                        event.record(stream)
                    if not put((batch, event)):
                        return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
            put((err, None))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="ood_core-gpu-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, event = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            if event is not None:
                current = torch.cuda.current_stream(device)
                current.wait_event(event)
                item.images.record_stream(current)
            yield item
    finally:
        stop.set()
