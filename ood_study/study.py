"""One study = one benchmark (ID set + OOD sets) embedded by one backbone, loaded from its files.

Adds no math and imports no method code (so the notebooks that only read metrics do not depend
on it): scoring a study is :func:`ood_study.experiments.score_study`; metrics come from
:mod:`ood_core.metrics`, paths from :mod:`ood_study.layout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ood_core import metrics as _metrics
from ood_core.features import TextFeatures
from ood_core.features.files import read_features
from ood_core.text.corpus import Corpus
from ood_study.layout import ID_LIKE_FILE, Layout, study_name
from ood_study.params import SIMULATED

__all__ = ["Study", "load_study", "evaluate", "summarize", "write_json", "METRIC_NAMES"]

METRIC_NAMES = ("fpr95", "auroc", "aupr_in", "aupr_out")


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
                          for f in ("id.npy", "candidates.npy", "csp_adjectives.npy"))
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


def evaluate(scores: dict[str, np.ndarray], id_split: str, ood_splits) -> dict[str, dict]:
    """Metrics (fractions) per OOD split plus their ``"average"``, ID split as positives."""
    per_set = {s: _metrics.ood_metrics(scores[id_split], scores[s]) for s in ood_splits}
    per_set["average"] = {m: float(np.mean([per_set[s][m] for s in ood_splits])) for m in METRIC_NAMES}
    return per_set


def summarize(per_set: dict[str, dict]) -> dict:
    """The DVC metrics view: FPR95 and AUROC in percent, two decimals, per set and averaged."""
    return {
        "FPR95": {s: round(100.0 * v["fpr95"], 2) for s, v in per_set.items()},
        "AUROC": {s: round(100.0 * v["auroc"], 2) for s, v in per_set.items()},
    }


def write_json(path: Path, obj) -> None:
    """Deterministic JSON (sorted keys, fixed indentation) so reruns are byte-identical."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
