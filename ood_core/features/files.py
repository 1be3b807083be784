"""Feature files: an atomic ``.npy`` + ``.json`` sidecar pair (the on-disk format of every feature).

A feature file is a pair ``<name>.npy`` (float32 array, usually ``[n, d]`` raw features) +
``<name>.json`` (sidecar: ``meta`` given by the caller, ``shape``, ``dtype``, ``sha256`` of the
array bytes, optionally the ``created`` UTC time, library ``versions``). :func:`write_features`
writes both to temporary files in the same folder and renames them into place (array first,
sidecar last), so an interrupted run leaves either the old pair, or a pair whose ``sha256`` does
not match, which :func:`read_features` rejects - never a half-written file that reads as valid.

Shared folders (an embedding cache used by a research group):

- Temp files are named ``.<name>.<pid>@<host>.<random>.tmp``. A writer killed hard (SIGKILL, a
  node going down) cannot delete its own, so every write first removes, in its folder, the temp
  files of writers that are gone: those of this host whose process no longer exists, and any
  (other hosts', or unnamed older ones) whose last change is older than a day - a live write
  touches its temp file continuously and renames it at once when done. The host name is what
  tells machines apart, so machines sharing a folder need distinct host names (containers
  usually have their own). A temp file removed under a live writer makes that writer fail at its
  rename (FileNotFoundError), never leaves a bad pair.
- Files get mode ``0o666 & ~umask`` (``mkstemp`` alone gives 0600, readable by the owner only):
  with umask 002 a group can read and replace the entries. In a folder with the setgid bit
  (``chmod g+s``) new files take the folder's group (done by the operating system).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["write_features", "read_features", "sha256_file"]

log = logging.getLogger(__name__)

_VERSIONED = ("ood_core", "numpy", "torch", "torchvision", "open_clip_torch", "pillow")


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    import platform

    versions["python"] = platform.python_version()
    return versions


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in 4 MiB chunks (about 1 s per GB).

    The one file hash of the package: image fingerprints (:mod:`ood_core.features.cache`) and
    the identity of a local weights file (:mod:`ood_core.features.hub`) both use it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _check_npy_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"feature path {str(path)!r} must end in .npy (its sidecar gets the same name with .json)")
    return path


#: A temp file not changed for this long belongs to a dead writer, whatever its host.
STALE_TEMP_AGE_S = 24 * 3600
# ".<name>.<pid>@<host>.<mkstemp's random letters>.tmp"; hosts are sanitised to [A-Za-z0-9_-].
_TEMP_RE = re.compile(r"^\..+\.(?P<pid>[0-9]+)@(?P<host>[A-Za-z0-9_-]+)\.[a-z0-9_]+\.tmp$")
# Temp files of earlier versions (".<name>.<random>.tmp", no writer named): removed by age only.
_OLD_TEMP_RE = re.compile(r"^\..+\.(npy|json)\.[a-z0-9_]{8}\.tmp$")
_UMASK_LOCK = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "unknown-host"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (True when that cannot be told)."""
    if os.name != "posix" or pid <= 0:  # os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by another user
        return True
    return True


def _remove_stale_temp_files(folder: Path) -> None:
    """Remove the temp files of dead writers in ``folder`` (see the module docstring)."""
    host, now = _host(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        match = _TEMP_RE.match(name)
        if match is None and _OLD_TEMP_RE.match(name) is None:
            continue  # not one of ours
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        dead = match is not None and match["host"] == host and not _pid_alive(int(match["pid"]))
        if dead or age > STALE_TEMP_AGE_S:
            try:
                os.unlink(entry.path)
            except OSError:  # gone already (another writer cleaned it) or not ours to delete
                continue
            log.info("removed the temp file %s of an interrupted write (%s)", entry.path,
                     "its process is gone" if dead else f"untouched for {age / 3600:.0f} h")


def _umask() -> int:
    """The process umask, read without changing it where possible (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # os.umask can only be read by setting it: set the strictest value for the instant, so a
    # file another thread creates meanwhile is too private rather than too open.
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


def _atomic_write(path: Path, write: Callable) -> None:
    """Call ``write(binary file)`` on a temp file next to ``path``, fsync, rename onto ``path``.

    First removes the temp files of dead writers in the folder; the file gets mode
    ``0o666 & ~umask`` before the rename, so it never appears with mkstemp's 0600.
    """
    _remove_stale_temp_files(path.parent)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{_host()}.", suffix=".tmp", dir=path.parent)
    try:
        mode = 0o666 & ~_umask()
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as err:  # includes KeyboardInterrupt: never leave the temp file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and not getattr(err, "filename", None):  # e.g. a full disk: name the file
            raise OSError(err.errno, f"{err.strerror or err} while writing {path} (free space or point the folder "
                                     "elsewhere; the previous file, if any, is unchanged)", str(path)) from err
        raise


def write_features(path: str | os.PathLike, features, meta: dict | None = None, *,
                   record_time: bool = True) -> Path:
    """Atomically write ``features`` as float32 ``path`` (.npy) plus its ``.json`` sidecar.

    features: a numeric array (cast to float32; usually ``[n, d]``). meta: JSON-able dict stored
    under the sidecar's ``"meta"``. record_time: store the creation time in the sidecar; pass
    ``False`` for pipeline outputs, whose bytes must depend on their content alone (DVC hashes
    them). Returns ``path``. Parent folders are created.
    """
    path = _check_npy_path(path)
    array = np.asarray(features)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"features must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    sidecar = {
        "meta": dict(meta or {}),
        "shape": list(array.shape),
        "dtype": "float32",
        "sha256": _array_sha256(array),
        "versions": _library_versions(),
    }
    if record_time:
        sidecar["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        sidecar_bytes = json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta must be JSON-serialisable (str/int/float/bool/list/dict): {err}") from err
    path.parent.mkdir(parents=True, exist_ok=True)
    # Array first, sidecar last: the sidecar's sha256 is what makes a pair valid.
    _atomic_write(path, lambda out: np.save(out, array, allow_pickle=False))
    _atomic_write(_sidecar_path(path), lambda out: out.write(sidecar_bytes))
    return path


def read_features(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a pair written by :func:`write_features` -> (float32 array, sidecar dict).

    Raises FileNotFoundError if either file is missing and ValueError if they disagree (an
    interrupted or foreign write) or the sidecar is not a JSON object: delete both files and
    recompute.
    """
    path = _check_npy_path(path)
    sidecar_path = _sidecar_path(path)
    for p in (path, sidecar_path):
        if not p.is_file():
            raise FileNotFoundError(f"feature file {p} not found (write it with ood_core.features.cache.write_features)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} or its sidecar is unreadable ({err}); delete both and recompute") from err
    if not isinstance(sidecar, dict):
        kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(sidecar), "null")
        raise ValueError(f"{sidecar_path} holds a JSON {kind}, not an object (a foreign or damaged file); "
                         "delete both and recompute")
    if not isinstance(array, np.ndarray):  # np.load reads a .npz (zip) as an NpzFile
        getattr(array, "close", lambda: None)()
        raise ValueError(f"{path} is not a .npy array file (a foreign file); delete both and recompute")
    problems = []
    if list(array.shape) != sidecar.get("shape") or array.dtype != np.float32:
        problems.append(f"array is {array.dtype} {list(array.shape)}, sidecar says float32 {sidecar.get('shape')}")
    elif _array_sha256(array) != sidecar.get("sha256"):
        problems.append("array sha256 differs from the sidecar's")
    if problems:
        raise ValueError(f"{path} does not match {sidecar_path.name}: {problems[0]} (interrupted write?); "
                         "delete both and recompute")
    return array, sidecar
