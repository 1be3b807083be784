"""Pretrained weights on disk: open_clip's registry + the Hugging Face cache, downloads only when possible.

:func:`resolve_weights` turns ``pretrained`` (an open_clip tag such as ``"openai"``, a local
weights file, ``"hf-hub:org/repo"`` or ``"local-dir:/path"``) into a local file *before* open_clip
builds the model (:func:`ood_core.features.encoders.load_encoder`), with public functions only:

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
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from ood_core.features.files import sha256_file

__all__ = ["WeightsNotAvailableError", "open_clip_module", "resolve_weights"]

_PROBE_TIMEOUT_S = 3.0  # longest wait for the network probe (DNS included)
_TRUE_ENV = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's truthy environment values


class WeightsNotAvailableError(FileNotFoundError):
    """Pretrained weights are neither on this machine nor downloadable right now.

    The message names the model, the pretrained tag, the Hub repo/file and the cache folder
    searched, the commands that fetch the weights on a connected machine, and where to point
    ``cache_dir`` / ``HF_HUB_CACHE`` afterwards."""


def open_clip_module():
    """``import open_clip``, or ImportError saying how to install it."""
    try:
        import open_clip
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the real CLIP path needs open_clip; install it with `pip install open_clip_torch` "
            "(or `pip install ood_core[clip]`)."
        ) from err
    return open_clip


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
    oc = open_clip_module()
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
            path = open_clip_module().download_pretrained(source, cache_dir=cache_dir)
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


def resolve_weights(model: str, pretrained: str | None, cache_dir: str | None,
                    allow_download: bool) -> tuple[str | None, str, dict]:
    """``(local weights file or None for random init, weights id for the cache key, tag config)``.

    The weights id is ``open_clip:<model>:<tag>`` for a tag, ``sha256:<hex>`` of the file otherwise.
    Raises ValueError (unknown tag: the message lists the model's tags), FileNotFoundError (a
    ``local-dir:`` folder without exactly one weights file) and :class:`WeightsNotAvailableError`.
    """
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
