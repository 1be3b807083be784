"""The DVC stages' commands: ``python -m ood_core.pipeline <stage> [--benchmark B --backbone N]``.

Each stage reads ``params.yaml`` (the keys dvc.yaml lists for it), reads its deps and writes
its outs under the project root (layout in ``ood_core.study``). Run ``dvc repro`` rather than
these commands by hand, so DVC records what ran.

Stages: ``corpus``, ``embed-text``, ``embed-images``, ``mine``, ``score``, ``notebook``, ``report``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from ood_core import study as _study

__all__ = ["load_params", "NOTEBOOKS", "KERNEL_NAME", "main"]

KERNEL_NAME = "ood-core"

# notebook name -> what it needs beyond embeddings: used by dvc.yaml and the smoke tests.
NOTEBOOKS = (
    "01_main_results",
    "02_ablation_tau",
    "03_ablation_temperature",
    "04_ablation_groups",
    "05_ablation_selection",
    "06_ablation_corpus_size",
    "07_backbones",
    "08_false_negatives",
)


def load_params(path="params.yaml") -> dict:
    """params.yaml as a dict; a missing file raises FileNotFoundError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run from the project root, or pass --params")
    with open(path) as f:
        return yaml.safe_load(f)


def _log(msg: str) -> None:
    print(f"[ood_core.pipeline {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- corpus ---------------------------------------------------------------------------------------

def run_corpus(params: dict, root: Path) -> None:
    from ood_core.corpus import load_wordnet_corpus

    cfg = params["corpus"]
    corpus = load_wordnet_corpus(cfg.get("wordnet_dir"), cfg["noun_lexnames"], cfg["adj_lexnames"])
    out = root / "data" / "corpus.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus.save(out)
    n_adj = int(np.sum(corpus.is_adj))
    _log(f"corpus: {len(corpus) - n_adj} nouns + {n_adj} adjectives -> {out}")


# --- embeddings -----------------------------------------------------------------------------------

_WORLDS: dict = {}


def _simulated_world(params: dict):
    """The simulated world of ``params`` (memoised: stages called in one process share it)."""
    from ood_core import simulate

    config = simulate.SimulationConfig.from_dict(params.get("simulation") or {})
    key = (repr(config), params["corpus"].get("wordnet_dir"))
    if key not in _WORLDS:
        _WORLDS[key] = simulate.build_world(config, wordnet_dir=params["corpus"].get("wordnet_dir"))
    return _WORLDS[key]


def _real_encoder(params: dict, backbone: str):
    from ood_core import encoders

    enc = params["encoder"]
    return encoders.load_backbone(
        backbone, precision=enc["precision"], preprocess=enc["preprocess"],
        cache_dir=params["paths"].get("weights_dir"),
    )


def _write(path: Path, features: np.ndarray, meta: dict) -> None:
    from ood_core.cache import write_features

    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp: the same features must give the same bytes, or DVC would re-run every
    # downstream stage after a forced re-embedding.
    write_features(path, np.ascontiguousarray(features, dtype=np.float32), meta, record_time=False)
    _log(f"wrote {path} {features.shape}")


def run_embed_text(params: dict, root: Path, benchmark: str, backbone: str) -> None:
    from ood_core.corpus import Corpus, csp_adjective_phrases, prompts

    paths = _study.StudyPaths(root, benchmark, backbone)
    corpus = Corpus.load(paths.corpus)
    pr = params["prompts"]
    meta = {"benchmark": benchmark, "backbone": backbone, "prompts": pr}
    adj_words = [w for w, a in zip(corpus.words, corpus.is_adj) if a]
    if benchmark == "simulated":
        world = _simulated_world(params)
        meta["simulated"] = True
        id_text = world.id_text_features(pr["id"])
        cand_text = world.candidate_text_features(corpus, pr["noun"], pr["adj"])
        csp_text = world.csp_adjective_features(corpus, seed=pr["csp_seed"])
        paths.text_dir.mkdir(parents=True, exist_ok=True)
        np.save(paths.text_dir / "id_like.npy", world.candidate_is_id_like(corpus))
    else:
        from ood_core import datasets
        from ood_core.cache import EmbeddingCache, cached_text_features
        from ood_core.corpus import CSP_TEMPLATES

        sets = _study.benchmark_sets(params, benchmark)
        encoder = _real_encoder(params, backbone)
        cache = EmbeddingCache(root / params["paths"]["cache_dir"])
        bs = params["encoder"]["batch_size"]
        meta.update(encoder.cache_fields())
        classnames = datasets.get_dataset(sets["id"], root=_data_root(params, root)).classnames
        id_text = cached_text_features(encoder, prompts(classnames, pr["id"]), cache, batch_size=bs)
        texts = [pr["adj"].format(w) if a else pr["noun"].format(w)
                 for w, a in zip(corpus.words, corpus.is_adj)]
        cand_text = cached_text_features(encoder, texts, cache, batch_size=bs)
        # CSP: each adjective phrase averaged over CSP's templates (unit-normalised first,
        # the usual prompt-ensemble convention; scores normalise again).
        phrases = csp_adjective_phrases(adj_words, seed=pr["csp_seed"])
        per_template = [cached_text_features(encoder, prompts(phrases, t), cache, batch_size=bs)
                        for t in CSP_TEMPLATES]
        csp_text = np.mean([f / np.linalg.norm(f, axis=1, keepdims=True) for f in per_template], axis=0)
    _write(paths.text_dir / "id.npy", id_text, meta)
    _write(paths.text_dir / "candidates.npy", cand_text, meta)
    _write(paths.text_dir / "csp_adjectives.npy", csp_text, meta)


def _data_root(params: dict, root: Path) -> Path:
    from ood_core.datasets import data_root

    configured = os.environ.get("OOD_DATA_ROOT") or params["paths"]["data_root"]
    return data_root(root / configured)


def run_embed_images(params: dict, root: Path, benchmark: str, backbone: str) -> None:
    paths = _study.StudyPaths(root, benchmark, backbone)
    sets = _study.benchmark_sets(params, benchmark)
    splits = [sets["id"], *sets["ood"]]
    meta = {"benchmark": benchmark, "backbone": backbone}
    if benchmark == "simulated":
        world = _simulated_world(params)
        meta["simulated"] = True
        for split in splits:
            _write(paths.images_dir / f"{split}.npy",
                   world.image_features("id" if split == sets["id"] else split), {**meta, "split": split})
        return
    from ood_core import datasets
    from ood_core.cache import EmbeddingCache, cached_image_features

    data_root = _data_root(params, root)
    # Check every set before encoding any, so a missing folder fails in seconds, not after hours.
    sets_objs = {s: datasets.require(s, root=data_root) for s in splits}
    encoder = _real_encoder(params, backbone)
    cache = EmbeddingCache(root / params["paths"]["cache_dir"])
    enc = params["encoder"]
    for split, ds in sets_objs.items():
        feats = cached_image_features(encoder, ds, cache, batch_size=enc["batch_size"],
                                      num_workers=enc["num_workers"], skip_unreadable=enc["skip_unreadable"])
        _write(paths.images_dir / f"{split}.npy", feats, {**meta, "split": split, **encoder.cache_fields()})


# --- mining and scoring ---------------------------------------------------------------------------

def run_mine(params: dict, root: Path, benchmark: str, backbone: str, method: str) -> None:
    study = _study.load_study(root, benchmark, backbone, params, with_images=False)
    mining_params = _study.method_params(params, method, backbone)["mining"]
    t0 = time.perf_counter()
    idx = _study.mine(study, method, mining_params)
    n_adj = int(study.corpus.is_adj[idx].sum())
    _log(f"mine {method}: {len(idx)} negatives ({len(idx) - n_adj} nouns, {n_adj} adjectives) "
         f"in {time.perf_counter() - t0:.1f} s")
    out = study.paths.negatives_dir / f"{method}.npy"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, idx.astype(np.int64))


def run_score(params: dict, root: Path, benchmark: str, backbone: str, method: str) -> None:
    study = _study.load_study(root, benchmark, backbone, params)
    mp = _study.method_params(params, method, backbone)
    negatives = None if method == "mcm" else np.load(study.paths.negatives_dir / f"{method}.npy")
    t0 = time.perf_counter()
    scores = _study.score(study, method, negatives, mp["scoring"])
    per_set = _study.evaluate(scores, study.id_split, study.ood_splits)
    _log(f"score {method}: average AUROC {100 * per_set['average']['auroc']:.2f} % "
         f"FPR95 {100 * per_set['average']['fpr95']:.2f} % in {time.perf_counter() - t0:.1f} s"
         + (" (SIMULATED benchmark)" if study.is_simulated else ""))
    scores_dir = study.paths.results_dir / "scores"
    scores_dir.mkdir(parents=True, exist_ok=True)
    np.savez(scores_dir / f"{method}.npz", **scores)
    detail = {"benchmark": benchmark, "backbone": backbone, "method": method,
              "simulated": study.is_simulated, "params": mp, "metrics": per_set}
    if study.is_simulated and negatives is not None and study.id_like is not None:
        detail["false_negative_rate"] = float(study.id_like[negatives].mean())
    _study.write_json(scores_dir / f"{method}.json", detail)
    _study.write_json(study.paths.metrics_dir / f"{method}.json", _study.summarize(per_set))


# --- notebooks and report -------------------------------------------------------------------------

def run_notebook(params_path: Path, root: Path, name: str, benchmark: str, backbone: str | None) -> None:
    """Execute ``notebooks/<name>.ipynb`` with papermill; parameters go in a YAML file (``-f``)."""
    if name not in NOTEBOOKS:
        raise ValueError(f"notebook={name!r} is unknown; valid: {list(NOTEBOOKS)}")
    study = benchmark if backbone is None else _study.study_name(benchmark, backbone)
    out_dir = root / "results" / study / name
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_params = {"benchmark": benchmark, "backbone": backbone, "root": str(root.resolve()),
                 "params_path": str(Path(params_path).resolve()), "output_dir": str(out_dir.resolve())}
    params_file = out_dir / "papermill_parameters.yaml"
    params_file.write_text(yaml.safe_dump(nb_params, sort_keys=True))
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / f"{name}.ipynb"
    cmd = [sys.executable, "-m", "papermill", "--kernel", KERNEL_NAME, "--cwd", str(root.resolve()),
           "-f", str(params_file), "--no-progress-bar", str(notebook), str(out_dir / f"{name}.ipynb")]
    _log(" ".join(cmd))
    subprocess.run(cmd, check=True)


def run_report(params: dict, root: Path) -> None:
    from ood_core import report

    text = report.build_report(params, root)
    out = root / "results" / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    _log(f"wrote {out}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ood_core.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["corpus", "embed-text", "embed-images", "mine", "score",
                                          "notebook", "report"])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--root", default=".", help="project root holding data/, results/, metrics/")
    parser.add_argument("--benchmark")
    parser.add_argument("--backbone")
    parser.add_argument("--method", choices=_study.METHODS)
    parser.add_argument("--notebook", choices=NOTEBOOKS)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    root = Path(args.root)

    def need(*names):
        missing = [n for n in names if getattr(args, n) is None]
        if missing:
            parser.error(f"stage {args.stage!r} needs " + ", ".join(f"--{m}" for m in missing))

    if args.stage == "corpus":
        run_corpus(params, root)
    elif args.stage == "embed-text":
        need("benchmark", "backbone")
        run_embed_text(params, root, args.benchmark, args.backbone)
    elif args.stage == "embed-images":
        need("benchmark", "backbone")
        run_embed_images(params, root, args.benchmark, args.backbone)
    elif args.stage == "mine":
        need("benchmark", "backbone", "method")
        run_mine(params, root, args.benchmark, args.backbone, args.method)
    elif args.stage == "score":
        need("benchmark", "backbone", "method")
        run_score(params, root, args.benchmark, args.backbone, args.method)
    elif args.stage == "notebook":
        need("notebook", "benchmark")
        run_notebook(Path(args.params), root, args.notebook, args.benchmark, args.backbone)
    elif args.stage == "report":
        run_report(params, root)


if __name__ == "__main__":
    main()
