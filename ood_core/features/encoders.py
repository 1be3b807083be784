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
- Weights are found *before* open_clip builds the model by :func:`ood_core.features.hub.resolve_weights`
  (the Hugging Face cache first; a download only when it can succeed; otherwise
  :class:`~ood_core.features.hub.WeightsNotAvailableError` naming the files and how to fetch them).
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
- Images are encoded by :func:`ood_core.features.clip.encode_images` (the pipeline's one loop);
  :meth:`ClipEncoder.encode_image_tensor` is its per-batch forward pass.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ood_core._params import check_seed

# The backbone names live in ood_core.backbones (no imports), so name checks need not import this module.
from ood_core.backbones import BACKBONES, RANDOM_WEIGHT_BACKBONES, is_random_weights
from ood_core.features.hub import WeightsNotAvailableError, open_clip_module, resolve_weights
from ood_core.features.images import DECODES, paper_transform

__all__ = [
    "BACKBONES",
    "PRECISIONS",
    "RANDOM_WEIGHT_BACKBONES",
    "PREPROCESSINGS",
    "ClipEncoder",
    "WeightsNotAvailableError",
    "is_random_weights",
    "load_backbone",
    "load_encoder",
    "register_model_config",
    "write_random_weights",
]

PRECISIONS = ("fp16", "amp", "fp32")
PREPROCESSINGS = ("paper", "openclip")


def register_model_config(name: str, config: dict, directory: str | os.PathLike | None = None) -> str:
    """Make an architecture ``config`` (open_clip's JSON schema) loadable as model ``name``.

    ``config`` needs ``embed_dim``, ``vision_cfg`` and ``text_cfg``. The JSON is written to
    ``directory`` (by default a temporary folder, removed once registered) and registered with
    ``open_clip.add_model_config``. Returns ``name``. Used for tiny random-weight test models.
    """
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in config]
    if missing:
        raise ValueError(f"model config {name!r} lacks {missing}; open_clip needs embed_dim, vision_cfg, text_cfg")
    if directory is None:  # open_clip reads the JSON when registering: nothing stays in the temp folder
        with tempfile.TemporaryDirectory(prefix="ood_core_models_") as tmp:
            return register_model_config(name, config, tmp)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip_module().add_model_config(folder)
    return name


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


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")


def _valid_model_names() -> list[str]:
    return open_clip_module().list_models()


def _check_model_name(model: str) -> None:
    if not isinstance(model, str) or not model:
        raise ValueError(f"model={model!r} must be an open_clip architecture name, e.g. 'ViT-B-16-quickgelu' (or load "
                         f"a params.yaml backbone with load_backbone({next(iter(BACKBONES))!r}))")
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
    random_init_seed = check_seed(random_init_seed, "random_init_seed")
    oc = open_clip_module()
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
    weights_file, weights_id, tag_cfg = resolve_weights(model, pretrained, cache_dir, allow_download)
    model_cfg = oc.get_model_config(model) or {}
    quick_gelu = bool(model_cfg.get("quick_gelu", False) or tag_cfg.get("quick_gelu", False))

    if weights_file is None:
        weights_id = f"random-init:seed={random_init_seed}"
        torch.manual_seed(random_init_seed)
    try:
        net = oc.create_model(
            model,
            pretrained=weights_file,
            precision="fp16" if effective == "fp16" else "fp32",
            device=device,
            force_quick_gelu=quick_gelu,  # the OpenAI weights were trained with QuickGELU
            cache_dir=cache_dir,
        )
    except Exception as err:  # a damaged or foreign file fails deep in torch.load / load_state_dict
        if weights_file is None or not Path(weights_file).is_file():
            raise
        raise ValueError(f"weights file {weights_file} cannot be loaded as {model!r} weights ({type(err).__name__}: "
                         f"{str(err)[:300]}); it is damaged or not a checkpoint of this architecture: delete it and "
                         "download it again (or write it again for a tiny-random backbone)") from err
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
    bytes in every process, folder and machine for the same torch version; returns its path. Never
    for results.
    """
    if name not in RANDOM_WEIGHT_BACKBONES:
        raise ValueError(f"backbone={name!r} is not a random-weight test backbone; valid: "
                         f"{sorted(RANDOM_WEIGHT_BACKBONES)}")
    model = _register_random_backbone(name)
    encoder = load_encoder(model, None, device="cpu", precision="fp32",
                           random_init_seed=RANDOM_WEIGHT_BACKBONES[name]["seed"])
    path = _random_weights_file(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Serialised in memory: torch.save to a file names the zip's top folder after that file (here the
    # temporary name, with the pid), so the bytes and the embedding-cache key would change every time.
    buffer = io.BytesIO()
    torch.save(encoder.model.state_dict(), buffer)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
