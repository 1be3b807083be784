"""open_clip image/text encoders for the real-weights path (docs/methods.md §5).

``load_encoder`` builds a :class:`ClipEncoder` around ``open_clip.create_model`` and
``open_clip.get_tokenizer``. Conventions:

- Features are returned as **raw** (un-normalised) ``float32`` numpy arrays of shape ``[n, d]``;
  density mining needs the norms of the text features (docs/methods.md §2), so normalise downstream.
- ``pretrained`` names the weights for the architecture ``model``: an open_clip tag (``"openai"``),
  a local weights file, ``"hf-hub:org/repo"`` (a Hub repo holding open_clip weights for that
  architecture) or ``"local-dir:/path"`` (a folder holding one checkpoint). ``pretrained=None``
  means **random initialisation** (seeded by ``random_init_seed``): only for tests and speed
  benchmarks, never for results.
- Weights are found *before* open_clip builds the model, with public functions only:

  1. a tag is looked up with ``open_clip.get_pretrained_cfg(model, tag)`` (unknown tags: the
     ``ValueError`` lists ``open_clip.list_pretrained_tags_by_model(model)``); its ``hf_hub``
     entry (``"org/repo/file"``, or ``"org/repo/"`` for open_clip's default file
     ``open_clip.constants.HF_WEIGHTS_NAME``, preferring its ``.safetensors`` twin) names the
     Hub file. ``"hf-hub:org/repo"`` names that repo's default file the same way;
  2. that file is looked up in the Hugging Face cache with ``huggingface_hub.try_to_load_from_cache``
     (folder: ``cache_dir``, else ``huggingface_hub.constants.HF_HUB_CACHE``, i.e. ``$HF_HUB_CACHE``
     or ``$HF_HOME/hub``): no network;
  3. if it is not there and a download may be tried, ``open_clip.download_pretrained(cfg,
     cache_dir=cache_dir)`` fetches it (what ``open_clip.create_model`` itself does for a tag: the
     Hub when huggingface_hub is installed, else the config's URL, e.g. OpenAI's original file);
  4. otherwise :class:`WeightsNotAvailableError` is raised at once, naming the model, the tag, the
     repo and file and the cache folder searched, the commands that fetch them on a connected
     machine, and where to point ``cache_dir`` / ``HF_HUB_CACHE``. No download is tried when
     ``allow_download=False``, when huggingface_hub is offline (``HF_HUB_OFFLINE=1``:
     ``huggingface_hub.constants.HF_HUB_OFFLINE`` or the environment variable; then nothing
     touches the network), or when the server the download would ask first (the Hub file's URL,
     ``huggingface_hub.hf_hub_url``, through the environment's proxy if any) does not answer an
     HTTP ``HEAD`` request within 3 s, DNS, connect and TLS included: a network that drops packets,
     or a proxy / endpoint that accepts connections but never replies, fails in about 3 s instead
     of huggingface_hub's minute of retries. (Once the server has answered, a download that stalls
     midway is bounded by huggingface_hub's own timeouts, ``HF_HUB_ETAG_TIMEOUT`` /
     ``HF_HUB_DOWNLOAD_TIMEOUT``.)

  The resolved local file is then passed to ``open_clip.create_model(model, pretrained=<file>)``.
  A local file (or ``local-dir:``) is identified in the embedding-cache key by its sha256, a tag
  by ``open_clip:<model>:<tag>``.
- Precision: ``"fp16"`` (default) is a half-precision model on CUDA (open_clip's ``fp16``: weights
  in fp16, LayerNorm computed in fp32, as the OpenAI CLIP package the papers used). On CPU it
  falls back to ``"fp32"`` because fp16 matmuls on CPU are slow or unsupported; the effective
  precision is what :meth:`ClipEncoder.cache_fields` reports. ``"amp"`` keeps fp32 weights and
  runs under ``torch.autocast(float16)`` on CUDA (also plain fp32 on CPU); ``"fp32"`` is plain fp32.
- Preprocessing: ``"paper"`` (default) is the released code's ``Resize(S, bilinear)`` +
  ``CenterCrop(S)`` + CLIP mean/std with ``S`` the model's input size (224, or 336 for
  ViT-L/14@336); ``"openclip"`` is open_clip's own inference transform for the weights (bicubic).
  The choice (and the transform's exact description) is part of the cache key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shlex
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

import numpy as np
import torch

# The backbone names live in ood_core.backbones (no imports), so name checks need not import this module.
from ood_core.backbones import BACKBONES, RANDOM_WEIGHT_BACKBONES, is_random_weights

__all__ = [
    "BACKBONES",
    "DECODES",
    "PRECISIONS",
    "RANDOM_WEIGHT_BACKBONES",
    "PREPROCESSINGS",
    "ClipEncoder",
    "ImageBatch",
    "WeightsNotAvailableError",
    "is_random_weights",
    "load_backbone",
    "load_encoder",
    "paper_transform",
    "register_model_config",
    "sha256_file",
    "write_random_weights",
]

PRECISIONS = ("fp16", "amp", "fp32")
PREPROCESSINGS = ("paper", "openclip")
#: where JPEGs are decoded and preprocessed: "pil" (CPU, DataLoader workers) or "gpu" (the encoder's
#: device, ood_core.features.gpu_decode; PIL remains the fallback for what it cannot decode alike).
DECODES = ("pil", "gpu")

# The CLIP training-set statistics (the values open_clip calls OPENAI_DATASET_MEAN/STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_PROBE_TIMEOUT_S = 3.0  # longest wait for the network probe (DNS included)
_TRUE_ENV = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's truthy environment values


class WeightsNotAvailableError(FileNotFoundError):
    """Pretrained weights are neither on this machine nor downloadable right now.

    The message names the model, the pretrained tag, the Hub repo/file and the cache folder
    searched, the commands that fetch the weights on a connected machine, and where to point
    ``cache_dir`` / ``HF_HUB_CACHE`` afterwards."""


class ImageBatch(NamedTuple):
    """A collated batch from :class:`ood_core.features.datasets.ImageFiles`.

    ``images``: float ``[b, 3, H, W]`` (``b`` may be 0 when every image was skipped);
    ``indices``: int64 ``[b]``, the positions of these images in the dataset;
    ``n_items``: how many dataset items the batch covered, skipped ones included.
    """

    images: torch.Tensor
    indices: torch.Tensor
    n_items: int


def _open_clip():
    try:
        import open_clip
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the real CLIP path needs open_clip; install it with `pip install open_clip_torch` "
            "(or `pip install ood_core[clip]`)."
        ) from err
    return open_clip


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in 4 MiB chunks (about 1 s per GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def register_model_config(name: str, config: dict, directory: str | os.PathLike | None = None) -> str:
    """Make an architecture ``config`` (open_clip's JSON schema) loadable as model ``name``.

    ``config`` needs ``embed_dim``, ``vision_cfg`` and ``text_cfg``. The JSON is written to
    ``directory`` (a fresh temporary folder by default) and registered with
    ``open_clip.add_model_config``. Returns ``name``. Used for tiny random-weight test models.
    """
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in config]
    if missing:
        raise ValueError(f"model config {name!r} lacks {missing}; open_clip needs embed_dim, vision_cfg, text_cfg")
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="ood_core_models_"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(config))
    _open_clip().add_model_config(folder)
    return name


def paper_transform(image_size: int):
    """The released code's preprocessing: RGB, ``Resize(image_size)`` bilinear on the shorter side,
    ``CenterCrop(image_size)``, ``ToTensor``, CLIP mean/std. PIL image -> float32 ``[3, S, S]``."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Lambda(_to_rgb),
            transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )


def _to_rgb(image):
    # Module-level (not a lambda) so the transform pickles into DataLoader workers.
    return image.convert("RGB") if image.mode != "RGB" else image


# --------------------------------------------------------------------------------------------
# Weight lookup: open_clip's public registry + huggingface_hub's cache (no network unless allowed)
# --------------------------------------------------------------------------------------------


def _hub_offline() -> bool:
    """huggingface_hub's offline switch: its ``constants.HF_HUB_OFFLINE`` (read when it was
    imported), or ``HF_HUB_OFFLINE`` set in the environment since (same truthy values)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE_ENV


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx already proves the server answers: do not follow it (that would be a second host to wait on)."""

    def redirect_request(self, *args, **kwargs):
        return None


def _hub_reachable(timeout: float | None = None, url: str | None = None, why: list | None = None) -> bool:
    """True if ``url`` (default: the Hub endpoint ``huggingface_hub.constants.ENDPOINT``) answers an
    HTTP ``HEAD`` request, through the environment's proxy if one is set, within ``timeout`` seconds
    (default ``_PROBE_TIMEOUT_S``). Any HTTP status counts as an answer (redirects are not followed).

    An HTTP-level probe, not a TCP connect: a proxy or endpoint that accepts connections but never
    replies would otherwise let the download that follows hang (huggingface_hub retries for about a
    minute). The whole probe (proxy lookup, name resolution, connect, TLS, request) runs in a daemon
    thread that is waited on for ``timeout`` seconds at most, so nothing can stall the caller longer.
    The certificate is not checked here (no credentials are sent and the reply is discarded; the
    download itself verifies it). When ``why`` is a list, the failure is appended to it.
    """
    from huggingface_hub import constants

    timeout = _PROBE_TIMEOUT_S if timeout is None else float(timeout)
    url = url or constants.ENDPOINT + "/"
    answered, finished, failure = threading.Event(), threading.Event(), []

    def probe() -> None:
        try:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
            request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "ood_core-probe"})
            with opener.open(request, timeout=timeout):
                answered.set()
        except urllib.error.HTTPError:  # a status line came back: the server answers
            answered.set()
        except Exception as err:  # noqa: BLE001 - any other failure means "no answer"
            failure.append(f"{type(err).__name__}: {err}")
        finally:
            finished.set()

    threading.Thread(target=probe, name="ood_core-hub-probe", daemon=True).start()
    finished.wait(timeout)
    if why is not None and not answered.is_set():
        why.append(failure[0] if failure else "no reply")
    return answered.is_set()


def _probe_url(source: dict) -> str:
    """The first URL a download of ``source`` requests: the Hub file (``huggingface_hub.hf_hub_url``,
    which honours ``HF_ENDPOINT``) or, for a config without a Hub entry, its ``url``."""
    from huggingface_hub import constants, hf_hub_url

    repo_id, files = _hub_files(source)
    if repo_id:
        return hf_hub_url(repo_id, files[0])
    return str(source.get("url") or constants.ENDPOINT + "/")


def _why_no_download(allow_download: bool, url: str | None = None) -> str | None:
    """``None`` if a download may be tried now, else the reason it may not (``url``: see ``_hub_reachable``)."""
    if not allow_download:
        return "downloads are disabled (allow_download=False)"
    if _hub_offline():
        return "HF_HUB_OFFLINE is set"
    why: list[str] = []
    if not _hub_reachable(url=url, why=why):
        from huggingface_hub import constants

        parsed = urlparse(url or constants.ENDPOINT)
        server = f"{parsed.scheme}://{parsed.netloc}"
        proxy = urllib.request.getproxies().get(parsed.scheme or "https")
        via = f" through the proxy {proxy}" if proxy and not urllib.request.proxy_bypass(parsed.hostname or "") else ""
        detail = f": {why[0]}" if why else ""
        return (f"{server} did not answer within {_PROBE_TIMEOUT_S:g} s{via} (HTTP HEAD {url or server}{detail}; "
                "no network, or a proxy or endpoint that accepts connections but never replies)")
    return None


def _hub_files(source: dict) -> tuple[str, list[str]]:
    """``(repo_id, candidate file names)`` of a pretrained config's ``hf_hub`` entry.

    The entry is ``"org/repo/file"`` or ``"org/repo/"`` (then open_clip's default file), as
    documented in ``open_clip.download_pretrained``; like it, a ``.safetensors`` twin of a
    ``.bin``/``.pth`` file is preferred. ``("", [])`` when the config names no Hub repo.
    """
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    entry = str(source.get("hf_hub") or "")
    repo_id, filename = os.path.split(entry)
    if not repo_id:
        return "", []
    filename = filename or HF_WEIGHTS_NAME
    stem, ext = os.path.splitext(filename)
    if filename == HF_WEIGHTS_NAME:
        return repo_id, [HF_SAFE_WEIGHTS_NAME, filename]
    return repo_id, ([stem + ".safetensors"] if ext in (".bin", ".pth") else []) + [filename]


def _tag_config(model: str, tag: str) -> dict:
    """``open_clip.get_pretrained_cfg(model, tag)``, or ValueError listing the model's tags."""
    oc = _open_clip()
    cfg = oc.get_pretrained_cfg(model, tag)
    if not cfg:
        tags = oc.list_pretrained_tags_by_model(model)
        close = difflib.get_close_matches(tag, tags, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"pretrained={tag!r} is neither an open_clip tag for model={model!r} nor an existing file.{hint} "
            f"Valid tags for {model!r}: {tags or 'none (use pretrained=<weights file>)'}; "
            "or pass a weights file path, 'hf-hub:org/repo', 'local-dir:/path', or None (random init, tests only)."
        )
    return dict(cfg)


def _missing_weights_message(
    model: str, pretrained: str, source: dict, reason: str, hub_cache: str, cache_dir: str | None
) -> str:
    repo_id, files = _hub_files(source)
    folder = cache_dir or hub_cache
    lines = [
        (
            f"weights for model={model!r} pretrained={pretrained!r} are not on this machine and cannot be "
            f"downloaded now: {reason}."
        )
    ]
    if repo_id:
        others = f" (or {', '.join(repr(f) for f in files[1:])})" if len(files) > 1 else ""
        lines.append(
            f"Looked for Hub repo {repo_id!r}, file {files[0]!r}{others}, in the Hugging Face cache folder "
            f"{hub_cache} (huggingface_hub.try_to_load_from_cache)."
        )
    if pretrained.startswith("hf-hub:"):
        source_expr = json.dumps(source)
    else:
        source_expr = f"open_clip.get_pretrained_cfg({json.dumps(model)}, {json.dumps(pretrained)})"
    code = f"import open_clip; print(open_clip.download_pretrained({source_expr}, cache_dir={json.dumps(folder)}))"
    lines += [
        "To fetch them, run one of these on a machine with internet access:",
        f"  python -c {shlex.quote(code)}",
    ]
    if repo_id:
        lines.append(f"  hf download {repo_id} {files[0]} --cache-dir {shlex.quote(folder)}")
        lines.append(
            "  (`hf` comes with huggingface_hub >= 1.0; before that it is `huggingface-cli download`, same "
            "arguments" + (f"; if the repo has no {files[0]}, name {files[1]} instead" if len(files) > 1 else "")
            + ")"
        )
    lines.append(
        f"then copy {folder} to this machine and pass cache_dir={folder!r} to load_encoder/load_backbone "
        "(params.yaml: paths.weights_dir), or, when no cache_dir is given, set the environment variable "
        f"HF_HUB_CACHE={shlex.quote(folder)} (or HF_HOME=<dir> with the files in <dir>/hub) before "
        "starting Python."
    )
    url = str(source.get("url") or "")
    if url:
        name = os.path.basename(urlparse(url).path) or "weights.pt"
        lines += [
            "Or download the original weights file of this tag and load it by path:",
            f"  wget -O {shlex.quote(name)} {shlex.quote(url)}",
            f"  then pass pretrained='/path/to/{name}'.",
        ]
    else:
        lines.append("A weights file copied here can also be passed by path: pretrained='/path/to/file'.")
    return "\n".join(lines)


def _cached_or_download(
    model: str, pretrained: str, source: dict, cache_dir: str | None, allow_download: bool
) -> str:
    """A local weights file for ``source`` (a pretrained config, or ``{"hf_hub": "org/repo/"}``).

    Looks in the Hugging Face cache first (no network); otherwise, if downloads are possible,
    delegates to ``open_clip.download_pretrained`` (what ``open_clip.create_model`` does for a
    tag); otherwise raises :class:`WeightsNotAvailableError` with the fetch instructions.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    hub_cache = str(cache_dir or constants.HF_HUB_CACHE)
    repo_id, files = _hub_files(source)
    for filename in files:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    reason = _why_no_download(allow_download, _probe_url(source))
    if reason is None:
        try:
            path = _open_clip().download_pretrained(source, cache_dir=cache_dir)
        except Exception as err:  # noqa: BLE001 - any failure is reported with the instructions
            reason = f"the download failed ({type(err).__name__}: {err})"
        else:
            if path and os.path.isfile(path):
                return str(path)
            reason = f"open_clip.download_pretrained returned {path!r}, not a file"
    raise WeightsNotAvailableError(_missing_weights_message(model, pretrained, source, reason, hub_cache, cache_dir))


def _single_weights_file(folder: str) -> str:
    """The one weights file in ``folder`` (``pretrained="local-dir:<folder>"``)."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"pretrained='local-dir:{folder}': folder not found")
    found = sorted(p for ext in ("*.safetensors", "*.bin", "*.pth", "*.pt") for p in path.glob(ext))
    if len(found) != 1:
        raise FileNotFoundError(
            f"pretrained='local-dir:{folder}' must hold exactly one weights file (*.safetensors, *.bin, *.pth, *.pt); "
            f"found {[p.name for p in found]}. Pass pretrained=<that file> instead to choose one."
        )
    return str(found[0])


def _resolve_weights(model: str, pretrained: str | None, cache_dir, allow_download) -> tuple[str | None, str, dict]:
    """-> (local file or None for random init, weights id for the cache key, tag config)."""
    if pretrained is None:
        return None, "", {}
    pretrained = str(pretrained)
    if pretrained.startswith("local-dir:"):
        path = _single_weights_file(pretrained[len("local-dir:"):])
    elif pretrained.startswith("hf-hub:"):
        repo_id = pretrained[len("hf-hub:"):].strip("/")
        if not repo_id:
            raise ValueError(f"pretrained={pretrained!r} names no repo; use 'hf-hub:org/repo'")
        source = {"hf_hub": f"{repo_id}/"}  # "org/repo/": the repo's default open_clip weights file
        path = _cached_or_download(model, pretrained, source, cache_dir, allow_download)
    elif os.path.isfile(pretrained):
        path = pretrained
    else:
        cfg = _tag_config(model, pretrained)
        # An open_clip tag names fixed published weights, so the tag identifies them (hashing a
        # 1 GB file on every load would cost seconds for nothing).
        path = _cached_or_download(model, pretrained, cfg, cache_dir, allow_download)
        return path, f"open_clip:{model}:{pretrained}", cfg
    return path, f"sha256:{sha256_file(path)}", {}


# --------------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------------


class ClipEncoder:
    """A loaded open_clip model with its tokenizer and image transform (see :func:`load_encoder`).

    Attributes: ``model`` (eval mode, on ``device``), ``tokenizer``, ``transform`` (PIL image ->
    float32 ``[3, S, S]``), ``device`` (torch.device), ``precision`` (effective: "fp16", "amp",
    "fp32"), ``embed_dim`` (``d``), ``decode`` ("pil" or "gpu", see :data:`DECODES`), ``image_size`` (``S``).
    """

    def __init__(self, model, tokenizer, transform, *, device, precision, fields: dict, decode: str = "pil"):
        self.model = model
        self.decode = decode
        size = getattr(getattr(model, "visual", None), "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.tokenizer = tokenizer
        self.transform = transform
        self.device = torch.device(device)
        self.precision = precision
        self._fields = dict(fields)
        self.embed_dim = int(fields["embed_dim"])

    def cache_fields(self) -> dict:
        """What determines this encoder's outputs, for the embedding-cache key (JSON-able):
        ``model``, ``weights`` (tag id, ``sha256:<hex>`` of a file, or ``random-init:seed=<s>``),
        ``quick_gelu``, ``preprocess`` (name), ``transform`` (its exact description),
        ``precision`` (effective), ``embed_dim``."""
        return dict(self._fields)

    def _autocast(self):
        # Only "amp" needs autocast; the "fp16" model already holds half weights (and keeps its
        # LayerNorms in fp32 itself), so autocast would only add per-op dispatch overhead.
        if self.device.type == "cuda" and self.precision == "amp":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast(self.device.type, enabled=False)

    @property
    def _input_dtype(self) -> torch.dtype:
        return torch.float16 if self.precision == "fp16" else torch.float32

    def encode_image_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessed images ``[b, 3, S, S]`` -> raw features float32 ``[b, d]`` on ``device``."""
        images = images.to(self.device, dtype=self._input_dtype, non_blocking=True)
        with torch.inference_mode(), self._autocast():
            return self.model.encode_image(images, normalize=False).float()

    def encode_text(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Texts (already prompted, e.g. ``"the nice tench"``) -> raw features float32 ``[n, d]``.

        Rows follow the order of ``texts``. Features are *not* L2-normalised.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string; wrap it in a list")
        texts = list(texts)
        _check_batch_size(batch_size)
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(texts[start : start + batch_size]).to(self.device)
                feats = self.model.encode_text(tokens, normalize=False)
                out[start : start + len(tokens)] = feats.float().cpu().numpy()
        return out

    def encode_images(
        self,
        dataset_or_loader,
        batch_size: int = 256,
        num_workers: int = 4,
        *,
        return_indices: bool = False,
        progress: bool = True,
    ):
        """Images -> raw features float32 ``[n, d]`` (not normalised), in dataset order.

        ``dataset_or_loader``: a torch ``Dataset`` whose items are preprocessed tensors (or tuples
        whose first element is one), e.g. ``BenchmarkDataset.torch_dataset(encoder.transform)``,
        or a ``DataLoader`` over such a dataset (then ``batch_size``/``num_workers`` are ignored).
        With an :class:`ood_core.features.datasets.ImageFiles` dataset, images it skipped (its
        ``skip_unreadable=True``) are left out; ``return_indices=True`` then also returns the
        int64 positions ``[n]`` of the rows in the dataset, so the caller can tell which.
        With ``decode="gpu"`` an ``ImageFiles`` dataset is decoded and preprocessed on ``device``
        (:func:`ood_core.features.gpu_decode.image_batches`).
        """
        from torch.utils.data import DataLoader
        from tqdm.auto import tqdm

        from ood_core.features.datasets import ImageFiles

        if isinstance(dataset_or_loader, DataLoader):
            loader = dataset_or_loader
        elif self.decode == "gpu" and isinstance(dataset_or_loader, ImageFiles):
            from ood_core.features.gpu_decode import image_batches

            _check_batch_size(batch_size)
            n = len(dataset_or_loader)
            loader = image_batches(dataset_or_loader, [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)],
                                   decode="gpu", device=self.device, image_size=self.image_size,
                                   num_workers=num_workers)
        else:
            _check_batch_size(batch_size)
            loader = DataLoader(
                dataset_or_loader,
                batch_size=batch_size,
                shuffle=False,
                num_workers=num_workers,
                pin_memory=self.device.type == "cuda",
                collate_fn=getattr(dataset_or_loader, "collate_fn", None),
                persistent_workers=False,
            )
        chunks, index_chunks, seen = [], [], 0
        data = loader.dataset if isinstance(loader, DataLoader) else dataset_or_loader
        total = len(data) if hasattr(data, "__len__") else None
        with tqdm(total=total, unit="img", desc="encode images", disable=not progress) as bar:
            for batch in loader:
                if isinstance(batch, ImageBatch):
                    images, indices, n_items = batch.images, batch.indices.to(torch.int64), batch.n_items
                else:
                    images = batch[0] if isinstance(batch, (tuple, list)) else batch
                    indices = torch.arange(seen, seen + len(images), dtype=torch.int64)
                    n_items = len(images)
                seen += n_items
                bar.update(n_items)
                if len(images) == 0:
                    continue
                chunks.append(self.encode_image_tensor(images).cpu().numpy())
                index_chunks.append(indices.numpy())
        feats = np.concatenate(chunks, axis=0) if chunks else np.empty((0, self.embed_dim), np.float32)
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if return_indices:
            idx = np.concatenate(index_chunks) if index_chunks else np.empty((0,), np.int64)
            return feats, idx
        return feats


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")


def _valid_model_names() -> list[str]:
    return _open_clip().list_models()


def _check_model_name(model: str) -> None:
    if str(model).startswith(("hf-hub:", "local-dir:")):
        raise ValueError(
            f"model={model!r}: give the architecture name as model (e.g. 'ViT-B-16-quickgelu') and the "
            "weights source as pretrained='hf-hub:org/repo' or 'local-dir:/path'"
        )
    valid = _valid_model_names()
    if model not in valid:
        close = difflib.get_close_matches(model, valid, n=5)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"model={model!r} is not an open_clip architecture.{hint} Paper backbones (params.yaml names): "
            f"{ {k: v[0] for k, v in BACKBONES.items()} }. All valid names: {valid}"
        )


def load_encoder(
    model: str = "ViT-B-16-quickgelu",
    pretrained: str | None = "openai",
    device: str | torch.device | None = None,
    precision: str = "fp16",
    cache_dir: str | os.PathLike | None = None,
    *,
    preprocess: str = "paper",
    allow_download: bool = True,
    random_init_seed: int = 0,
    decode: str = "pil",
) -> ClipEncoder:
    """Load an open_clip model for zero-shot OOD scoring.

    model: open_clip architecture name (``open_clip.list_models()``), e.g. ``"ViT-B-16-quickgelu"``.
    pretrained: weights (see module docstring); ``None`` = random init seeded by ``random_init_seed``.
    device: ``None`` picks ``"cuda"`` when available, else ``"cpu"``.
    precision: ``"fp16"`` (half-precision model on CUDA, fp32 on CPU), ``"amp"`` or ``"fp32"``.
    cache_dir: the Hugging Face cache folder searched (and downloaded into) for tag and ``hf-hub:``
        weights (default: ``huggingface_hub.constants.HF_HUB_CACHE``).
    preprocess: ``"paper"`` or ``"openclip"``.
    allow_download: ``False`` never touches the network (missing weights raise at once).
    decode: ``"pil"`` (JPEG decoding and preprocessing on the CPU) or ``"gpu"`` (on ``device``;
        ``preprocess="paper"`` only; part of the cache key as ``decode``).

    Raises ValueError (unknown model, tag, precision or preprocessing; the message lists valid
    values) and WeightsNotAvailableError (weights missing and not downloadable).
    """
    oc = _open_clip()
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is unknown; valid: {PRECISIONS}")
    if preprocess not in PREPROCESSINGS:
        raise ValueError(f"preprocess={preprocess!r} is unknown; valid: {PREPROCESSINGS}")
    if decode not in DECODES:
        raise ValueError(f"decode={decode!r} is unknown; valid: {DECODES}")
    if decode == "gpu" and preprocess != "paper":
        raise ValueError(f"decode='gpu' implements the paper transform only; use preprocess='paper' or decode='pil' "
                         f"(got preprocess={preprocess!r})")
    _check_model_name(model)
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    # fp16 weights on CPU hit slow or missing kernels, and autocast is only applied on CUDA, so
    # off CUDA both "fp16" and "amp" run (and are keyed) as fp32.
    effective = precision if device.type == "cuda" else "fp32"

    cache_dir = str(cache_dir) if cache_dir is not None else None
    weights_file, weights_id, tag_cfg = _resolve_weights(model, pretrained, cache_dir, allow_download)
    model_cfg = oc.get_model_config(model) or {}
    quick_gelu = bool(model_cfg.get("quick_gelu", False) or tag_cfg.get("quick_gelu", False))

    if weights_file is None:
        weights_id = f"random-init:seed={random_init_seed}"
        torch.manual_seed(random_init_seed)
    net = oc.create_model(
        model,
        pretrained=weights_file,
        precision="fp16" if effective == "fp16" else "fp32",
        device=device,
        force_quick_gelu=quick_gelu,  # the OpenAI weights were trained with QuickGELU
        cache_dir=cache_dir,
    )
    net.eval()
    tokenizer = oc.get_tokenizer(model)

    image_size = net.visual.image_size
    image_size = int(image_size[0] if isinstance(image_size, (tuple, list)) else image_size)
    if preprocess == "paper":
        transform = paper_transform(image_size)
    else:
        from open_clip.transform import (
            PreprocessCfg,
            image_transform_v2,
            merge_preprocess_dict,
        )

        pp = merge_preprocess_dict(dict(net.visual.preprocess_cfg), tag_cfg)
        pp = {k: v for k, v in pp.items() if k in PreprocessCfg.__dataclass_fields__}
        transform = image_transform_v2(PreprocessCfg(**pp), is_train=False)

    fields = {
        "model": model,
        "weights": weights_id,
        "quick_gelu": quick_gelu,
        "preprocess": preprocess,
        "transform": " ".join(repr(transform).split()),
        "precision": effective,
        "embed_dim": int(model_cfg["embed_dim"]),
    }
    if decode != "pil":  # only then, so the keys of existing PIL-path entries stay as they were
        fields["decode"] = f"{decode}:{device.type}"
    return ClipEncoder(net, tokenizer, transform, device=device, precision=effective, fields=fields, decode=decode)


def load_backbone(name: str, **kwargs: Any) -> ClipEncoder:
    """``load_encoder`` for a params.yaml backbone name: ``BACKBONES`` keys (OpenAI weights) or
    ``RANDOM_WEIGHT_BACKBONES`` keys (the weights file in ``cache_dir``, see :func:`write_random_weights`)."""
    if name in RANDOM_WEIGHT_BACKBONES:
        return load_encoder(_register_random_backbone(name),
                            str(_random_weights_file(name, kwargs.get("cache_dir"), must_exist=True)), **kwargs)
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r} is unknown; valid: {sorted(BACKBONES) + sorted(RANDOM_WEIGHT_BACKBONES)}")
    model, tag = BACKBONES[name]
    return load_encoder(model, tag, **kwargs)


def _register_random_backbone(name: str) -> str:
    spec = RANDOM_WEIGHT_BACKBONES[name]
    if spec["model"] not in _valid_model_names():
        register_model_config(spec["model"], spec["config"])
    return spec["model"]


def _random_weights_file(name: str, folder, must_exist: bool = False) -> Path:
    if not folder:
        raise ValueError(f"backbone {name!r} loads its weights file from the weights folder (params.yaml: "
                         "paths.weights_dir), which is not set; write the file with `python -m "
                         "ood_study.mini_benchmark --weights-dir DIR` and set paths.weights_dir: DIR")
    path = Path(folder) / f"{RANDOM_WEIGHT_BACKBONES[name]['model']}.pt"
    if must_exist and not path.is_file():
        raise FileNotFoundError(f"the weights file {path} of backbone {name!r} does not exist; write it with "
                                f"`python -m ood_study.mini_benchmark --weights-dir {folder}` (a seeded random init)")
    return path


def write_random_weights(name: str, folder: str | os.PathLike) -> Path:
    """Write the seeded random-init weights of test backbone ``name`` to ``<folder>/<model>.pt``.

    The file is a plain ``state_dict`` (what open_clip loads from a local weights file), the same
    bytes on every machine for the same torch version; returns its path. Never for results.
    """
    if name not in RANDOM_WEIGHT_BACKBONES:
        raise ValueError(f"backbone={name!r} is not a random-weight test backbone; valid: "
                         f"{sorted(RANDOM_WEIGHT_BACKBONES)}")
    model = _register_random_backbone(name)
    encoder = load_encoder(model, None, device="cpu", precision="fp32",
                           random_init_seed=RANDOM_WEIGHT_BACKBONES[name]["seed"])
    path = _random_weights_file(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(encoder.model.state_dict(), tmp)
    os.replace(tmp, path)
    return path

