"""Stages ``embed_text`` and ``embed_images``: a study's raw features from its feature source.

``python -m ood_study.stages.embed {text,images} --benchmark B --backbone N``. The source is the
simulated world for the ``simulated`` benchmark, else open_clip (weights and image folders must
be on disk; see docs/real_benchmarks.md). Both go through the one feature interface
(:mod:`ood_core.features`), so prompting and CSP's ensembling are the same on both paths.
"""

from __future__ import annotations

import numpy as np

from ood_core.features import FeatureSource, text_features
from ood_core.features.files import write_features
from ood_core.text.corpus import Corpus
from ood_study.layout import ID_LIKE_FILE, TEXT_FILES, Layout, study_name
from ood_study.params import SIMULATED, StudyParams
from ood_study.stages import log, stage_main

# Text features do not depend on encoder.batch_size etc., but on the real path a change there
# only costs a cache lookup, and one feature source serves both stages.
PARAMS_TEXT = ("benchmark_sets.{benchmark}", "corpus.wordnet_dir", "prompts", "encoder", "paths")
PARAMS_IMAGES = ("benchmark_sets.{benchmark}", "corpus.wordnet_dir", "encoder", "paths")
PARAMS = {"text": PARAMS_TEXT, "images": PARAMS_IMAGES}

_WORLDS: dict = {}


def feature_source(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> FeatureSource:
    """The simulated world (memoised per process) or the open_clip source of the study."""
    sets = params.sets(benchmark)
    wordnet_dir = params.get("corpus.wordnet_dir")
    if benchmark == SIMULATED:
        from ood_core import simulate

        config = simulate.SimulationConfig.from_dict(sets.simulation)
        key = (repr(config), wordnet_dir)
        if key not in _WORLDS:
            _WORLDS[key] = simulate.build_world(config, wordnet_dir=wordnet_dir)
        return _WORLDS[key]
    from ood_core.features import datasets, encoders
    from ood_core.features.cache import EmbeddingCache
    from ood_core.features.clip import ClipFeatures

    data_root = datasets.data_root(default=layout.root / params.get("paths.data_root"))
    # Check every set before loading weights or encoding, so a missing folder fails in seconds.
    skip_unreadable = params.get("encoder.skip_unreadable")
    sets_by_split = {s: _checked(datasets, s, data_root, skip_unreadable) for s in (sets.id, *sets.ood)}
    encoder = encoders.load_backbone(backbone, precision=params.get("encoder.precision"),
                                     preprocess=params.get("encoder.preprocess"),
                                     cache_dir=params.get("paths.weights_dir"))
    return ClipFeatures(encoder, sets_by_split, sets.id, EmbeddingCache(layout.root / params.get("paths.cache_dir")),
                        batch_size=params.get("encoder.batch_size"), num_workers=params.get("encoder.num_workers"),
                        skip_unreadable=skip_unreadable)


def _checked(datasets, name: str, data_root, skip_unreadable: bool):
    """The dataset, complete by ``check()``; with ``skip_unreadable`` a report whose only problem
    is unreadable image files passes (the encoder then skips and records them)."""
    if not skip_unreadable:
        return datasets.require(name, root=data_root)
    dataset = datasets.get_dataset(name, root=data_root)
    report = dataset.check()
    if report.ok or (report.unreadable and len(report.problems) == 1):
        return dataset
    raise FileNotFoundError(str(report))


def _write(path, features: np.ndarray, meta: dict) -> None:
    # No timestamp: the same features must give the same bytes, or DVC would re-run every
    # downstream stage after a forced re-embedding.
    write_features(path, np.ascontiguousarray(features, dtype=np.float32), meta, record_time=False)
    log("embed", f"wrote {path} {features.shape}")


def run_text(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> None:
    name = study_name(benchmark, backbone)
    corpus = Corpus.load(layout.corpus)
    source = feature_source(params, layout, benchmark, backbone)
    pr = params.get("prompts")
    texts = text_features(source, corpus, pr.id, pr.noun, pr.adj, csp_seed=pr.csp_seed)
    meta = {"benchmark": benchmark, "backbone": backbone, "simulated": benchmark == SIMULATED,
            "prompts": {"id": pr.id, "noun": pr.noun, "adj": pr.adj, "csp_seed": pr.csp_seed}}
    for file, features in zip(TEXT_FILES,
                              (texts.id_labels, texts.candidates, texts.csp_adjectives)):
        _write(layout.text_file(name, file), features, meta)
    if benchmark == SIMULATED:
        np.save(layout.text_file(name, ID_LIKE_FILE), source.candidate_is_id_like(corpus))


def run_images(params: StudyParams, layout: Layout, benchmark: str, backbone: str) -> None:
    name = study_name(benchmark, backbone)
    sets = params.sets(benchmark)
    source = feature_source(params, layout, benchmark, backbone)
    for split in (sets.id, *sets.ood):
        _write(layout.image_file(name, split), source.image_features(split),
               {"benchmark": benchmark, "backbone": backbone, "split": split, "simulated": benchmark == SIMULATED})


def main(argv=None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in PARAMS:
        raise SystemExit(f"usage: python -m ood_study.stages.embed {{text,images}} --benchmark B --backbone N "
                         f"(got {argv[:1]})")
    kind, rest = argv[0], argv[1:]
    stage_main(__doc__, PARAMS[kind], run_text if kind == "text" else run_images, ("benchmark", "backbone"), rest)


if __name__ == "__main__":
    main()
