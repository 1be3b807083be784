"""Score the simulated study in either world (``"fitted"`` or ``"a_priori"``) in process.

Notebook 10 compares the worlds side by side; the text features, the corpus and therefore every
method's negatives are the same in both (only the OOD images differ), so they are built once.
All numbers are SIMULATED.
"""

from __future__ import annotations

import numpy as np

__all__ = ["simulated_study", "with_world", "mine_negatives", "world_metrics"]


def simulated_study(params, world: str, layout=None, backbone: str = "ViT-B-16"):
    """The simulated study of ``params`` in ``world`` (``"fitted"`` or ``"a_priori"``), built in memory.

    Same corpus, prompts and sizes as the pipeline's ``simulated`` study; only ``simulation.world``
    is set. Returns an :class:`ood_study.study.Study` (``layout`` may be None: nothing is read).
    """
    from ood_core import simulate
    from ood_core.features import text_features
    from ood_core.text.corpus import load_wordnet_corpus
    from ood_study.params import SIMULATED
    from ood_study.study import Study

    sets = params.sets(SIMULATED)
    sim = {**(sets.simulation or {}), "world": world}
    wordnet_dir = params.get("corpus.wordnet_dir")
    source = simulate.build_world(simulate.SimulationConfig.from_dict(sim), wordnet_dir=wordnet_dir)
    corpus = load_wordnet_corpus(wordnet_dir, params.get("corpus.noun_lexnames"), params.get("corpus.adj_lexnames"))
    pr = params.get("prompts")
    texts = text_features(source, corpus, pr.id, pr.noun, pr.adj, csp_seed=pr.csp_seed)
    images = {s: source.image_features(s) for s in (sets.id, *sets.ood)}
    return Study(layout, SIMULATED, backbone, corpus, texts, images, sets.id, list(sets.ood),
                 source.candidate_is_id_like(corpus))


def with_world(study, params, world: str):
    """``study`` with the OOD images of ``world`` (the texts, corpus and ID images are shared: the
    worlds differ only in their OOD images). Returns a new Study; ``study`` is not changed."""
    from dataclasses import replace

    from ood_core import simulate
    from ood_study.params import SIMULATED

    sets = params.sets(SIMULATED)
    sim = {**(sets.simulation or {}), "world": world}
    source = simulate.build_world(simulate.SimulationConfig.from_dict(sim),
                                  wordnet_dir=params.get("corpus.wordnet_dir"))
    images = {**study.images, **{s: source.image_features(s) for s in sets.ood}}
    return replace(study, images=images)


def mine_negatives(study, params, methods, backbone: str = "ViT-B-16") -> dict[str, np.ndarray]:
    """method -> its negatives (sorted int64; empty for a method that mines none), as the ``mine`` stage."""
    from ood_core import methods as _methods
    from ood_study.method_params import mining_params

    out = {}
    for m in methods:
        method = _methods.get(m)
        out[m] = (method.select_negatives(study.texts, mining_params(params, m, backbone)) if method.mines
                  else np.zeros(0, dtype=np.int64))
    return out


def world_metrics(study, negatives: dict, params, methods, backbone: str = "ViT-B-16") -> dict[str, dict]:
    """method -> :func:`ood_study.experiments.method_metrics` (fractions, bootstrap intervals from
    params.yaml's ``evaluation``) on ``study`` with ``negatives`` (:func:`mine_negatives`)."""
    from ood_study.experiments import method_metrics
    from ood_study.method_params import scoring_params

    return {m: method_metrics(study, m, negatives[m], scoring_params(params, m, backbone),
                               params.get("evaluation")) for m in methods}
