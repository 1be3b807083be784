"""One study = one benchmark (ID set + OOD sets) embedded by one backbone, loaded from its files.

Adds no math and imports no method code (so the notebooks that only read metrics do not depend
on it): scoring a study is :func:`ood_study.experiments.study_score_pairs`; metrics come from
:mod:`ood_core.metrics`, paths from :mod:`ood_study.layout`.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ood_core import metrics as _metrics
from ood_core.features import TextFeatures
from ood_core.features.files import read_features
from ood_core.metrics import group_averages
from ood_core.text.corpus import Corpus
from ood_study.layout import ID_LIKE_FILE, TEXT_FILES, Layout, study_name, write_text_atomic
from ood_study.metric_keys import METRIC_NAMES, metric_label
from ood_study.params import SIMULATED

__all__ = ["Study", "load_study", "metrics_per_set", "pair_arrays", "summarize", "write_json", "write_npz", "round_sig",
           "SIG_DIGITS", "METRIC_NAMES", "ci_suffix", "seed_spread"]

SIG_DIGITS = 6
"""Significant digits of every computed float the pipeline writes (see :func:`round_sig`)."""


@dataclass
class Study:
    """A study's corpus and raw float32 features in memory.

    texts : the :class:`~ood_core.features.TextFeatures` (ID labels, corpus, CSP adjectives).
    images : split name -> ``[n, d]`` image features; ``id_split`` is the ID set.
    id_like : ``[M]`` bool ground truth (ID-like candidate), simulated benchmark only, else None.
    """

    layout: Layout
    benchmark: str
    backbone: str
    corpus: Corpus
    texts: TextFeatures
    images: dict[str, np.ndarray]
    id_split: str
    ood_splits: list[str]
    id_like: np.ndarray | None = None

    @property
    def name(self) -> str:
        return study_name(self.benchmark, self.backbone)

    @property
    def is_simulated(self) -> bool:
        return self.benchmark == SIMULATED

    def negatives(self, method: str) -> np.ndarray:
        """The negatives the ``mine`` stage kept for ``method`` (sorted int64; empty if it mines none)."""
        path = self.layout.negatives(self.name, method)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `dvc repro mine@{self.name}-{method}`")
        return np.load(path)


def load_study(layout: Layout, benchmark: str, backbone: str, id_split: str | None = None, ood_splits=(),
               with_images: bool = True) -> Study:
    """Load a study's corpus and embeddings written by the ``corpus`` and ``embed_*`` stages.

    ``id_split``/``ood_splits``: the benchmark's set names (``params.sets(benchmark)``).
    ``with_images=False`` skips the image features (mining needs only the texts).
    Raises FileNotFoundError naming the missing file and the ``dvc repro`` stage that makes it.
    """
    name = study_name(benchmark, backbone)

    def need(path: Path, stage: str) -> Path:
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; it is made by the DVC stage {stage!r}: run "
                                    f"`dvc repro {stage}` (or `dvc repro` for everything).")
        return path

    corpus = Corpus.load(need(layout.corpus, "corpus"))
    text_stage, image_stage = f"embed_text@{name}", f"embed_images@{name}"
    id_text, cand, csp = (read_features(need(layout.text_file(name, f), text_stage))[0]
                          for f in TEXT_FILES)
    if len(cand) != len(corpus):
        raise ValueError(f"candidate features have {len(cand)} rows but the corpus has {len(corpus)} words: "
                         f"the embeddings are stale; run `dvc repro {text_stage}`.")
    texts = TextFeatures(id_labels=id_text, candidates=cand, csp_adjectives=csp, is_adj=corpus.is_adj)
    if with_images and id_split is None:
        raise ValueError("with_images=True needs id_split (and ood_splits)")
    splits = [id_split, *ood_splits]
    images = {s: read_features(need(layout.image_file(name, s), image_stage))[0]
              for s in (splits if with_images else [])}
    id_like_path = layout.text_file(name, ID_LIKE_FILE)
    id_like = np.load(id_like_path) if id_like_path.exists() else None
    return Study(layout, benchmark, backbone, corpus, texts, images, id_split, list(ood_splits), id_like)


def metrics_per_set(pairs: dict[str, tuple[np.ndarray, np.ndarray]], groups=None) -> dict[str, dict]:
    """Metrics (fractions) per OOD set, per group of sets and their ``"average"``, ID as positives.

    ``pairs``: OOD set -> ``(id_scores, ood_scores)`` (:func:`ood_study.experiments.study_score_pairs`;
    a test-time method's ID scores differ per OOD set). ``groups``: optional group -> its sets
    (``params.sets(benchmark).groups``, e.g. OpenOOD's near / far), each the mean over its sets.
    """
    if not pairs:
        raise ValueError("no OOD sets to evaluate")
    _metrics.check_ood_set_names(pairs, "pairs")
    per_set = {s: _metrics.ood_metrics(id_scores, ood_scores) for s, (id_scores, ood_scores) in pairs.items()}
    per_set.update(group_averages({s: per_set[s] for s in pairs}, groups))
    per_set["average"] = {m: float(np.mean([per_set[s][m] for s in pairs])) for m in METRIC_NAMES}
    return per_set


def pair_arrays(pairs: dict[str, tuple[np.ndarray, np.ndarray]], id_split: str, test_time: bool) -> dict:
    """The arrays of ``pairs`` to store: each OOD set's scores under its name, and the ID scores under
    ``id_split`` (once), or for a test-time method under ``"<id_split>@<ood set>"`` per OOD set."""
    out = {}
    for ood, (id_scores, ood_scores) in pairs.items():
        out[f"{id_split}@{ood}" if test_time else id_split] = id_scores
        out[ood] = ood_scores
    return out


def summarize(per_set: dict[str, dict], intervals: dict | None = None, seed_spread: dict | None = None,
              confidence: float = 0.95) -> dict:
    """The DVC metrics view, in percent with two decimals, per set and averaged.

    ``FPR95``, ``AUROC``, ``AUPR_IN``, ``AUPR_OUT``: ``{set: value}``. With ``intervals``
    (:func:`ood_core.bootstrap.metric_intervals`): ``<KEY>_ci<confidence %>`` (e.g. ``FPR95_ci95``)
    ``{set: {"low", "high"}}``. With ``seed_spread`` (:func:`seed_spread`): ``<KEY>_seed_std``
    ``{set: std}`` (the full spread is in the details JSON). ``dvc metrics show`` flattens the
    nesting into columns (``FPR95_ci95.<set>.low``).
    """
    out = {metric_label(m): {s: round(100.0 * v[m], 2) for s, v in per_set.items()} for m in METRIC_NAMES}
    if intervals is not None:
        suffix = ci_suffix(confidence)
        for m in METRIC_NAMES:
            out[f"{metric_label(m)}_{suffix}"] = {s: {"low": round(100.0 * iv[m][0], 2), "high": round(100.0 * iv[m][1], 2)}
                                      for s, iv in intervals.items()}
    if seed_spread is not None:
        for m in METRIC_NAMES:
            out[f"{metric_label(m)}_seed_std"] = {s: round(100.0 * sp[m]["std"], 2) for s, sp in seed_spread.items()}
    return out


#: the sets of the summary metrics: the average over the OOD sets, and OpenOOD's groups where defined
SUMMARY_SETS = ("average", "near", "far")


def summary_metrics(view: dict, method: str) -> dict:
    """The handful of DVC metrics of one method: ``{method: {"AUROC", "AUROC_lo", "AUROC_hi", "FPR95",
    "FPR95_lo", "FPR95_hi"}}`` of the average over the OOD sets (%, interval bounds at the view's
    confidence), the same with ``_near`` / ``_far`` (``AUROC_near_lo``) where the benchmark defines
    those groups, and each estimated parameter's estimate (``tau``, a fraction).

    ``view``: :func:`summarize`'s output (plus the estimated parameters). Keyed by the method, so each
    column name is unique across the metrics files and ``dvc exp show`` prints it without the file
    path (``dnm.AUROC``); the per-set numbers stay in the detail file (``Layout.metrics``).
    """
    out: dict = {}
    for group in SUMMARY_SETS:
        tag = "" if group == "average" else f"_{group}"
        for key in (metric_label("auroc"), metric_label("fpr95")):
            if group not in view.get(key, {}):
                continue
            out[f"{key}{tag}"] = view[key][group]
            ci = next((view[k] for k in sorted(view) if k.startswith(f"{key}_ci")), None)
            if ci is not None and group in ci:
                out[f"{key}{tag}_lo"], out[f"{key}{tag}_hi"] = ci[group]["low"], ci[group]["high"]
    for name, value in view.items():
        if isinstance(value, dict) and "estimate" in value:
            out[name] = value["estimate"]
    return {method: out}


def ci_suffix(confidence: float) -> str:
    """``"ci95"`` for 0.95: the suffix of the interval keys in :func:`summarize`'s view."""
    return f"ci{100.0 * float(confidence):g}".replace(".", "_")


def seed_spread(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """Spread of each metric over reruns with different seeds (fractions).

    ``per_seed``: seed -> :func:`metrics_per_set`'s result. Returns set (plus ``"average"``) -> metric ->
    ``{"mean", "std", "min", "max"}``; ``std`` is the sample standard deviation (``ddof=1``; 0 for
    a single seed).
    """
    if not per_seed:
        raise ValueError("per_seed is empty: give the metrics of at least one seed")
    runs = list(per_seed.values())
    out: dict[str, dict[str, dict]] = {}
    for s in runs[0]:
        out[s] = {}
        for m in METRIC_NAMES:
            v = np.array([run[s][m] for run in runs], dtype=np.float64)
            out[s][m] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                         "min": float(v.min()), "max": float(v.max())}
    return out


def write_json(path: Path, obj) -> None:
    """Deterministic JSON (sorted keys, fixed indentation) so reruns are byte-identical."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")  # a failure keeps the old file


def round_sig(obj, digits: int = SIG_DIGITS):
    """``obj`` with every float rounded to ``digits`` significant digits (default 6), for bit-stable outputs.

    **Why.** The same commit run on another machine, BLAS or thread count sums float32 features in
    another order, so computed numbers may differ in their last bits; written at full precision
    they change the file hashes in ``dvc.lock`` and no one can verify a reproduction by hash.
    Everything derived that the pipeline writes as text goes through this one helper first:
    the metrics (fractions) in ``results/<study>/scores/<method>.json`` and the sweep tables
    (percentages) of :meth:`ood_study.notebook.Notebook.save_sweep` / ``save_table``. The DVC
    summaries ``metrics/<study>/<method>.json`` (and the report built from them) are coarser
    still: percentages with two decimals (:func:`summarize`).

    **Precision.** 6 significant digits: a metric fraction such as AUROC 0.946123 keeps 1e-6
    (1e-4 percentage points), far below any difference the study reports (two decimals of a
    percent) and far above the float64 noise of the arithmetic that turns ranks and counts into
    metrics (~1e-16 relative).

    **How.** ``float(f"{x:.{digits}g}")``: Python's correctly rounded decimal conversion, so the
    result is the same double on every platform, and ``repr`` (what ``json`` and ``pandas.to_csv``
    write) prints it in at most ``digits`` digits. NaN and +-inf pass unchanged.

    **Limitation.** Rounding only absorbs noise that stays inside one rounding interval: a value
    lying within last-bit noise of a boundary (…5 in the 7th digit) can still round to different
    neighbours on two machines. And the metrics are functions of the score *ranking* (FPR95,
    AUROC from ranks, AUPR): they are exactly reproducible unless a last-bit change flips the
    order of two (near-)tied scores, which moves them by a whole rank step (1 / (n_id * n_ood)
    for AUROC) that no rounding hides. ``tests/test_bitstable.py`` checks that thread counts 1 and
    2 give identical files on the tiny project; that is evidence, not a proof for every machine.

    Accepts a real number (numpy scalars included), a dict / list / tuple of them (recursively),
    or a pandas DataFrame (a rounded copy of its float and object columns). Ints and bools are
    returned unchanged (a Python ``int``); strings, None and anything else too.
    """
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, Integral):
        return int(obj)
    if isinstance(obj, Real):
        x = float(obj)
        return x if not math.isfinite(x) else float(f"{x:.{digits}g}")
    if isinstance(obj, dict):
        return {k: round_sig(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(round_sig(v, digits) for v in obj)
    if hasattr(obj, "select_dtypes") and hasattr(obj, "columns"):  # a pandas DataFrame (no pandas import here)
        out = obj.copy()
        for i in range(out.shape[1]):  # by position: MultiIndex or repeated column names work too
            col = out.iloc[:, i]
            if col.dtype.kind == "f" or col.dtype == object:  # floats, and floats mixed in object columns
                out.iloc[:, i] = col.map(lambda v: round_sig(v, digits)).astype(col.dtype)
        return out
    return obj


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` whose bytes depend only on the arrays: no timestamps, members in sorted order.

    ``np.savez`` promises no stable bytes: its members' dates and attributes come from
    :mod:`zipfile` internals (a member named by a string in ``writestr`` gets the clock's time;
    the creating system differs on Windows; the zip64 layout follows the Python version). (With
    numpy 2.4 on Python 3.11 its members happen to carry zipfile's default 1980 date.) Here every member ``<name>.npy`` (written by :func:`numpy.lib.format.write_array`) has
    the fixed date 1980-01-01 00:00:00, fixed attributes and no compression; the archive is
    written to a temporary file and renamed into place. ``np.load(path)`` reads it like any
    ``.npz``.

    Bit-stable only on one machine: the arrays are the raw float scores, computed from float32
    features, and may still differ in their last bits on another machine or thread count. The
    rounded outputs (metrics JSON, sweep CSVs, the report: :func:`round_sig`) are the ones to
    compare by hash across machines.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # the default differs on Windows
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)
