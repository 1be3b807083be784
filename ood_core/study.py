"""One study = one benchmark (ID set + OOD sets) embedded by one backbone.

This module ties the library together for the pipeline stages and notebooks: where a study's
files live, loading its embeddings, mining each method's negatives, scoring and evaluating.
It adds no math of its own: mining, scores and metrics come from ``ood_core.mining``,
``ood_core.scoring`` and ``ood_core.metrics``.

Methods (SPEC sections 2-3):

======== ===================================== ====================================
method   negatives (mining)                    score
======== ===================================== ====================================
mcm      none                                  ``scoring.mcm``
neglabel ``neglabel_select`` on noun/adj texts ``scoring.neglabel``
csp      ``neglabel_select(max_id_sim=...)``,  ``scoring.neglabel``
         adjectives as CSP phrases
dnm      ``density_select`` (ID labels unused) ``scoring.dnm``
======== ===================================== ====================================

File layout under a project root (all DVC outs, never committed)::

    data/corpus.tsv                                   the wild corpus (ood_core.corpus.Corpus)
    data/embeddings/<study>/text/id.npy               [K, d] raw ID-label text features
    data/embeddings/<study>/text/candidates.npy       [M, d] raw corpus features (corpus order)
    data/embeddings/<study>/text/csp_adjectives.npy   [M_adj, d] CSP adjective features
    data/embeddings/<study>/text/id_like.npy          [M] bool ground truth (simulated only)
    data/embeddings/<study>/images/<split>.npy        [n, d] image features; split = ID or OOD set
    data/negatives/<study>/<method>.npy               int64 indices into the corpus
    results/<study>/scores/<method>.npz               scores per split
    metrics/<study>/<method>.json                     FPR95 / AUROC in % (DVC metrics)

``<study>`` is ``<benchmark>-<backbone>``, e.g. ``simulated-ViT-B-16``: every output of the
simulated benchmark carries "simulated" in its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ood_core import metrics as _metrics
from ood_core import mining as _mining
from ood_core import scoring as _scoring
from ood_core.cache import read_features
from ood_core.corpus import Corpus

__all__ = [
    "METHODS",
    "MINED_METHODS",
    "StudyPaths",
    "Study",
    "load_study",
    "study_name",
    "method_params",
    "candidate_pool",
    "mine",
    "score",
    "evaluate",
    "summarize",
]

METHODS = ("mcm", "neglabel", "csp", "dnm")
MINED_METHODS = ("neglabel", "csp", "dnm")
METRIC_NAMES = ("fpr95", "auroc", "aupr_in", "aupr_out")


def study_name(benchmark: str, backbone: str) -> str:
    """``("simulated", "ViT-B-16")`` -> ``"simulated-ViT-B-16"``."""
    return f"{benchmark}-{backbone}"


@dataclass(frozen=True)
class StudyPaths:
    """Where one study's files live under a project root (see the module docstring)."""

    root: Path
    benchmark: str
    backbone: str

    @property
    def name(self) -> str:
        return study_name(self.benchmark, self.backbone)

    @property
    def corpus(self) -> Path:
        return Path(self.root) / "data" / "corpus.tsv"

    @property
    def text_dir(self) -> Path:
        return Path(self.root) / "data" / "embeddings" / self.name / "text"

    @property
    def images_dir(self) -> Path:
        return Path(self.root) / "data" / "embeddings" / self.name / "images"

    @property
    def negatives_dir(self) -> Path:
        return Path(self.root) / "data" / "negatives" / self.name

    @property
    def results_dir(self) -> Path:
        return Path(self.root) / "results" / self.name

    @property
    def metrics_dir(self) -> Path:
        return Path(self.root) / "metrics" / self.name

    def sweep_csv(self, notebook: str) -> Path:
        """An ablation notebook's sweep table (a DVC plot)."""
        return Path(self.root) / "results" / self.name / "sweeps" / f"{notebook}.csv"

    def negatives(self, method: str) -> np.ndarray:
        """The negatives the ``mine`` stage selected for ``method`` (sorted corpus indices)."""
        path = self.negatives_dir / f"{method}.npy"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run `dvc repro mine@{self.name}-{method}`")
        return np.load(path)


@dataclass
class Study:
    """A study's embeddings in memory. Features are raw float32 as cached.

    Attributes
    ----------
    id_text : [K, d] ID-label text features.
    cand_text : [M, d] wild-corpus text features (nouns and adjectives with their templates).
    csp_adj_text : [M_adj, d] CSP adjective features, in corpus order of the adjectives.
    images : split name -> [n, d] image features; ``id_split`` is the ID set.
    id_like : [M] bool ground truth (ID-like candidate), simulated benchmark only, else None.
    """

    paths: StudyPaths
    corpus: Corpus
    id_text: np.ndarray
    cand_text: np.ndarray
    csp_adj_text: np.ndarray
    images: dict[str, np.ndarray]
    id_split: str
    ood_splits: list[str]
    id_like: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def is_simulated(self) -> bool:
        return self.paths.benchmark == "simulated"


def load_study(root, benchmark: str, backbone: str, params: dict, with_images: bool = True) -> Study:
    """Load a study's corpus and embeddings written by the ``corpus`` and ``embed_*`` stages.

    ``with_images=False`` skips the image features (mining needs only the texts), leaving
    ``Study.images`` empty.

    Raises FileNotFoundError naming the missing file and the ``dvc repro`` stage that makes it.
    """
    paths = StudyPaths(Path(root), benchmark, backbone)
    sets = benchmark_sets(params, benchmark)

    def need(path: Path, stage: str) -> Path:
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; it is made by the DVC stage {stage!r}: run "
                f"`dvc repro {stage}` (or `dvc repro` for everything)."
            )
        return path

    if not paths.corpus.exists():
        raise FileNotFoundError(f"{paths.corpus} is missing; run `dvc repro corpus`.")
    corpus = Corpus.load(paths.corpus)
    text_stage = f"embed_text@{paths.name}"
    image_stage = f"embed_images@{paths.name}"
    id_text, meta = read_features(need(paths.text_dir / "id.npy", text_stage))
    cand_text, _ = read_features(need(paths.text_dir / "candidates.npy", text_stage))
    csp_adj_text, _ = read_features(need(paths.text_dir / "csp_adjectives.npy", text_stage))
    if len(cand_text) != len(corpus):
        raise ValueError(
            f"candidate features have {len(cand_text)} rows but the corpus has {len(corpus)} words: "
            f"the embeddings are stale; run `dvc repro {text_stage}`."
        )
    splits = [sets["id"], *sets["ood"]]
    images = {s: read_features(need(paths.images_dir / f"{s}.npy", image_stage))[0]
              for s in (splits if with_images else [])}
    id_like_path = paths.text_dir / "id_like.npy"
    id_like = np.load(id_like_path) if id_like_path.exists() else None
    return Study(paths, corpus, id_text, cand_text, csp_adj_text, images,
                 sets["id"], list(sets["ood"]), id_like, meta)


def benchmark_sets(params: dict, benchmark: str) -> dict:
    """``params["benchmark_sets"][benchmark]`` with a clear error for an unknown benchmark."""
    sets = params.get("benchmark_sets", {})
    if benchmark not in sets:
        raise ValueError(
            f"benchmark={benchmark!r} has no entry under benchmark_sets in params.yaml; "
            f"known: {sorted(sets)}"
        )
    return sets[benchmark]


def method_params(params: dict, method: str, backbone: str) -> dict:
    """The keyword arguments of ``method``'s miner and scorer for ``backbone``, from params.yaml.

    Returns ``{"mining": {...} or None, "scoring": {...}}`` with per-backbone entries resolved
    (DNM's ``k``/ratios and ``tau``).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; valid methods: {list(METHODS)}")
    scoring = dict(params["scoring"][method])
    mining = None
    if method == "dnm":
        per_backbone_tau = scoring.pop("tau_per_backbone")
        if backbone not in per_backbone_tau:
            raise ValueError(
                f"scoring.dnm.tau_per_backbone has no entry for backbone={backbone!r}; "
                f"add one (known: {sorted(per_backbone_tau)})"
            )
        scoring["tau"] = per_backbone_tau[backbone]
        dnm_mining = params["mining"]["dnm"]
        if backbone not in dnm_mining["per_backbone"]:
            raise ValueError(
                f"mining.dnm.per_backbone has no entry for backbone={backbone!r}; "
                f"add one (known: {sorted(dnm_mining['per_backbone'])})"
            )
        mining = {"metric": dnm_mining["metric"], **dnm_mining["per_backbone"][backbone]}
    elif method in ("neglabel", "csp"):
        mining = dict(params["mining"][method])
    return {"mining": mining, "scoring": scoring}


def candidate_pool(study: Study, method: str) -> np.ndarray:
    """[M, d] features of the corpus as ``method`` sees them: CSP swaps in its adjective phrases."""
    if method != "csp":
        return study.cand_text
    pool = study.cand_text.copy()
    pool[study.corpus.is_adj] = study.csp_adj_text
    return pool


def mine(study: Study, method: str, mining_params: dict) -> np.ndarray:
    """Sorted int64 indices into the corpus: the negatives ``method`` selects."""
    if method in ("neglabel", "csp"):
        return _mining.neglabel_select(
            candidate_pool(study, method), study.id_text, study.corpus.is_adj, **mining_params
        )
    if method == "dnm":
        return _mining.density_select(study.cand_text, study.corpus.is_adj, **mining_params)
    raise ValueError(f"method={method!r} mines no negatives; mined methods: {list(MINED_METHODS)}")


def score(study: Study, method: str, negatives: np.ndarray | None, scoring_params: dict,
          splits=None) -> dict[str, np.ndarray]:
    """Scores (1-D float64, higher = ID) of every split's images under ``method``.

    ``negatives`` are corpus indices from :func:`mine` (ignored by MCM). The negatives'
    similarity matrices are computed once per split, inside ``ood_core.scoring``.
    """
    splits = list(study.images) if splits is None else list(splits)
    if method == "mcm":
        return {s: _scoring.mcm(study.images[s], study.id_text, **scoring_params) for s in splits}
    if negatives is None:
        raise ValueError(f"method={method!r} needs negatives (corpus indices from mine())")
    neg_emb = candidate_pool(study, method)[np.asarray(negatives)]
    scorer = _scoring.dnm if method == "dnm" else _scoring.neglabel
    return {s: scorer(study.images[s], study.id_text, neg_emb, **scoring_params) for s in splits}


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
