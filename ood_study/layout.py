"""The one path authority: where every file of the study lives, relative to the project root.

Stages write here, notebooks and the report read here, and ``dvc.yaml`` is generated from it
(:mod:`ood_study.pipeline`; ``tests/test_dvc.py`` checks every ``deps``/``outs`` data path against
this module for every benchmark x backbone x method of ``params.yaml``).

The three folders set in ``params.yaml`` ``paths:`` (the real image sets, the embedding cache,
the open_clip weights) are resolved here too (:meth:`Layout.data_root`, :meth:`Layout.cache_dir`,
:meth:`Layout.weights_dir`): relative to the project root, and from params only, never from an
environment variable, so what a stage reads is what DVC hashes (``${paths.data_root}/<folder>``).

::

    data/corpus.tsv                                   the wild corpus (ood_core.text.corpus.Corpus)
    data/image_sets/<set>.tsv                         a real image set's files: path, bytes, sha256
    data/embeddings/<study>/text/id.npy               [K, d] raw ID-label text features
    data/embeddings/<study>/text/candidates.npy       [M, d] raw corpus features (corpus order)
    data/embeddings/<study>/text/csp_adjectives.npy   [M_adj, d] CSP adjective features
    data/embeddings/<study>/text/id_like.npy          [M] bool ground truth (simulated only)
    data/embeddings/<study>/images/<split>.npy        [n, d] image features; split = ID or OOD set
    data/negatives/<study>/<method>.npy               int64 indices into the method's candidate pool
    results/<study>/scores/<method>.npz|.json         scores per split; details and parameters
    metrics/<study>/<method>.json                     FPR95 / AUROC in % (DVC metrics)
    results/<study or benchmark>/<notebook>/          an executed notebook, its PDF figures and tables
    results/<study or benchmark>/figures/<notebook>/  its PNG figures (DVC image plots)
    results/<study>/sweeps/<notebook>.csv             an ablation's sweep (DVC plots)
    results/interactive/<owner>/<notebook>/<time>/    a notebook run by hand in JupyterLab (not DVC), run.yaml
    results/report.md                                 every study's table

``<study>`` is ``<benchmark>-<backbone>``, e.g. ``simulated-ViT-B-16``: every output of the
simulated benchmark carries "simulated" in its path.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout", "study_name", "check_name", "write_text_atomic", "NAME_PATTERN", "TEXT_FILES"]

#: The one rule for a name that becomes a file or folder name (a stage argument, a benchmark, backbone,
#: method, set or notebook name, a ``benchmark_sets`` key): letters, digits, ``.``, ``_``, ``+``, ``-``,
#: starting with a letter or digit, so it is one path component (no ``/``, no ``..``, not absolute).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}"
_NAME = re.compile(NAME_PATTERN)
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # dvc.yaml's templates ("{benchmark}-{backbone}", ood_study.pipeline)

# the text feature files of a study, in TextFeatures order (see the module docstring)
TEXT_FILES = ("id.npy", "candidates.npy", "csp_adjectives.npy")
ID_LIKE_FILE = "id_like.npy"


def check_name(where: str, value) -> str:
    """``value`` if it is a name by :data:`NAME_PATTERN`, else a ``ValueError`` naming ``where`` (the
    argument or dotted params key), the value and the rule. Called at every edge where a name enters
    (stage arguments, params.yaml keys and lists) and again by every :class:`Layout` path, so no
    written path leaves the project root."""
    if not isinstance(value, str) or not _NAME.fullmatch(_PLACEHOLDER.sub("x", value)) or ".." in value:
        raise ValueError(f"{where} = {value!r} is not a valid name: a name becomes a file or folder name, so it must "
                         f"match {NAME_PATTERN} (letters, digits, '.', '_', '+', '-'; no '/', no '..', at most 100 "
                         "characters), e.g. 'simulated' or 'ViT-B-16'; fix the argument or the params.yaml key")
    return value


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in its folder renamed over it, so a
    failure while writing (an encoding error, a full disk) leaves the previous file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def study_name(benchmark: str, backbone: str) -> str:
    """``("simulated", "ViT-B-16")`` -> ``"simulated-ViT-B-16"``."""
    return f"{check_name('benchmark', benchmark)}-{check_name('backbone', backbone)}"


@dataclass(frozen=True)
class Layout:
    """Paths under a project ``root`` (``Path(".")`` gives the relative paths dvc.yaml uses)."""

    root: Path = Path(".")

    def _p(self, *parts: str) -> Path:
        """``root/part/...``; every part is one name (:func:`check_name`), so the path stays under the root."""
        for part in parts:
            check_name("a path component", part)
        return Path(self.root).joinpath(*parts)

    # --- data -------------------------------------------------------------------------------------
    @property
    def corpus(self) -> Path:
        return self._p("data", "corpus.tsv")

    @property
    def image_sets_dir(self) -> Path:
        """The image-set manifests (a dependency of every ``embed_images`` stage)."""
        return self._p("data", "image_sets")

    def image_set_manifest(self, name: str) -> Path:
        return self._p("data", "image_sets", f"{check_name('image set', name)}.tsv")

    def embeddings_dir(self, study: str) -> Path:
        return self._p("data", "embeddings", study)

    def text_dir(self, study: str) -> Path:
        return self._p("data", "embeddings", study, "text")

    def text_file(self, study: str, name: str) -> Path:
        return self._p("data", "embeddings", study, "text", name)

    def images_dir(self, study: str) -> Path:
        return self._p("data", "embeddings", study, "images")

    def image_file(self, study: str, split: str) -> Path:
        return self._p("data", "embeddings", study, "images", f"{check_name('split', split)}.npy")

    def negatives_dir(self, study: str) -> Path:
        return self._p("data", "negatives", study)

    def negatives(self, study: str, method: str) -> Path:
        return self._p("data", "negatives", study, f"{check_name('method', method)}.npy")

    @property
    def mining_memo_dir(self) -> Path:
        """Negatives by the key of everything that made them (``ood_study.stages.mine``): not a DVC out."""
        return self._p("data", "mining_memo")

    # --- the folders of params.yaml `paths:` -----------------------------------------------------
    def _param_dir(self, params, key: str) -> Path | None:
        value = params.get(f"paths.{key}")
        if value in (None, ""):
            return None
        path = Path(value)
        # a configured folder: the user's choice, anywhere (relative: to the project root)
        return path if path.is_absolute() else Path(self.root) / path

    def data_root(self, params) -> Path:
        """``paths.data_root``: the folder holding every real image set (relative: to the root)."""
        return self._param_dir(params, "data_root")

    def cache_dir(self, params) -> Path:
        """``paths.cache_dir``: the content-addressed embedding cache."""
        return self._param_dir(params, "cache_dir")

    def weights_dir(self, params) -> Path | None:
        """``paths.weights_dir``: open_clip's weights folder, or ``None`` for open_clip's default."""
        return self._param_dir(params, "weights_dir")

    # --- results ----------------------------------------------------------------------------------
    def results_dir(self, study: str) -> Path:
        return self._p("results", study)

    def scores(self, study: str, method: str) -> Path:
        return self._p("results", study, "scores", f"{check_name('method', method)}.npz")

    def score_details(self, study: str, method: str) -> Path:
        return self._p("results", study, "scores", f"{check_name('method', method)}.json")

    @property
    def metrics_root(self) -> Path:
        return self._p("metrics")

    def metrics_dir(self, study: str) -> Path:
        return self._p("metrics", study)

    def metrics(self, study: str, method: str) -> Path:
        """A method's metrics per OOD set and group, with intervals and seed spread (the report's and
        notebooks' input; committed, not a DVC metric)."""
        return self._p("metrics", study, f"{check_name('method', method)}.json")

    def summary_metrics(self, study: str, method: str) -> Path:
        """A method's handful of summary numbers: the DVC metrics (``dvc exp show``)."""
        return self.metrics_dir(study) / "summary" / f"{method}.json"

    def notebook_dir(self, owner: str, notebook: str) -> Path:
        """``owner`` is a study (per-study notebooks) or a benchmark (notebooks across backbones)."""
        return self._p("results", owner, notebook)

    def figures_dir(self, owner: str, notebook: str) -> Path:
        """A notebook's PNG figures (the stage's DVC image plots; its PDFs stay in :meth:`notebook_dir`)."""
        return self._p("results", owner, "figures", notebook)

    def interactive_dir(self, owner: str, notebook: str) -> Path:
        """Where a notebook run by hand (JupyterLab) writes: never a DVC-tracked output."""
        return self._p("results", "interactive", owner, notebook)

    def sweep_csv(self, study: str, notebook: str) -> Path:
        return self._p("results", study, "sweeps", f"{check_name('notebook', notebook)}.csv")

    @property
    def report(self) -> Path:
        return self._p("results", "report.md")

    @property
    def notebooks_dir(self) -> Path:
        return self._p("notebooks")

    def notebook_source(self, notebook: str) -> Path:
        """The notebook's code: its jupytext-paired percent script (``notebooks/jupytext.toml``), what
        its stage runs and DVC tracks, so saving or running the ``.ipynb`` never makes the stage stale."""
        return self._p("notebooks", f"{check_name('notebook', notebook)}.py")

    def notebook_file(self, notebook: str) -> Path:
        """The ``.ipynb`` a person opens in JupyterLab (paired with :meth:`notebook_source`)."""
        return self._p("notebooks", f"{check_name('notebook', notebook)}.ipynb")


def find_root(start: str | Path | None = None) -> Path:
    """The project root: the nearest folder at or above ``start`` (default: cwd) holding ``dvc.yaml``.

    Lets a notebook opened in JupyterLab from ``notebooks/`` find the project's files.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "params.yaml").is_file():
            return folder
    raise FileNotFoundError(f"no project root (a folder with dvc.yaml and params.yaml) at or above {here}")
