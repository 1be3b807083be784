"""DNM (Peng et al., KDD 2026): density-mined negatives and the debiased score.

Mining (the paper's Step 1, ID labels unused): :func:`ood_core.mining.density_select` on the
raw wild-corpus features, with the released code's rule by default (``metric="reference"``: kNN
over the whole pool, mean log of the ``k + 1`` smallest distances). Score:
:func:`ood_core.scoring.dnm`; ``tau`` is the ID-like fraction of the wild corpus (the released
code's ``tau_ood = 1 - tau``). Released per-backbone values are ``per_backbone`` overrides in
``params.yaml``.

``tau: auto`` estimates tau from the data (docs/methods.md §3, "Estimating tau"): the ID-label
embeddings are a sample of the ID-like component, the mined negatives the mixture, and a
mixture-proportion estimator (:mod:`ood_core.mpe`, Best Bin Estimation by default) gives the
ID-like fraction with a bootstrap interval. :func:`resolve` does it once per study (the
``resolve`` hook of :class:`~ood_core.methods.base.Method`); :func:`score` needs a number.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ood_core import mining, mpe, scoring
from ood_core._params import param
from ood_core.methods.base import Method


@dataclass(frozen=True)
class MiningParams:
    metric: str = param("reference", choices=mining.METRICS, doc="reference (released code) or paper")
    neighbours: str = param("pool", choices=mining.NEIGHBOURS,
                            doc="pool (released: nouns and adjectives together) or per_pos")
    k: int = param(100, low=1, doc="released k: the mean runs over k + 1 distances")
    ratio_noun: float = param(0.23, low=0.0, high=1.0, low_open=True, doc="kept fraction of nouns")
    ratio_adj: float = param(0.13, low=0.0, high=1.0, low_open=True, doc="kept fraction of adjectives")


AUTO = "auto"
TAU_CONFIDENCE = 0.95  # level of tau: auto's bootstrap interval (the project's intervals are 95 %)


@dataclass(frozen=True)
class ScoringParams:
    temperature: float = param(0.01, low=0.0, low_open=True, doc="temperature T")
    n_groups: int = param(100, low=1, doc="number of random groups G of negatives")
    seed: int = param(0, low=0, doc="seed of the group permutation and of the positive samples")
    tau: float | str = param(0.5, low=0.0, high=1.0, high_open=True, choices=(AUTO,),
                             doc="ID-like fraction of the mined negatives, or auto (estimated, see resolve)")
    sigma: float = param(0.0, low=0.0, doc="noise of the positive-label samples (released code: 0)")
    n_pos_samples: int = param(1, low=1, doc="positive-label samples per ID label")
    tau_estimator: str = param("bbe", choices=mpe.ESTIMATORS, doc="tau: auto's mixture-proportion estimator")
    tau_n_folds: int = param(5, low=2, high=100, doc="tau: auto's cross-fitting folds of the classifier")
    tau_n_bootstrap: int = param(1000, low=0, high=mpe.MAX_BOOTSTRAP,
                                 doc="tau: auto's bootstrap resamples (95 % interval); ceiling 100,000")


def mine(texts, params: MiningParams):
    return mining.density_select(texts.candidates, texts.is_adj, k=params.k, ratio_noun=params.ratio_noun,
                                 ratio_adj=params.ratio_adj, metric=params.metric, neighbours=params.neighbours)


def resolve(texts, negatives, params: ScoringParams):
    """``(params, record)``: with ``tau: auto``, tau estimated on ``negatives``; else unchanged, ``{}``.

    Positives: the ID-label embeddings ``texts.id_labels`` ``[K, d]``; unlabeled: the negatives'
    features ``[n_neg, d]``; :func:`ood_core.mpe.estimate_proportion` with ``tau_estimator``,
    ``tau_n_folds``, ``tau_n_bootstrap`` and the score's ``seed``. ``record["tau"]`` holds the
    estimate, its 95 % bootstrap interval and the estimator's settings.
    """
    if params.tau != AUTO:
        return params, {}
    if len(negatives) == 0:
        raise ValueError("tau: auto needs mined negatives to estimate their ID-like fraction; there are none")
    est = mpe.estimate_proportion(texts.id_labels, METHOD.negative_features(texts, negatives),
                                  estimator=params.tau_estimator, n_folds=params.tau_n_folds,
                                  n_bootstrap=params.tau_n_bootstrap, confidence=TAU_CONFIDENCE, seed=params.seed)
    if est.estimate >= 1.0:
        raise ValueError("tau: auto estimated tau = 1: the classifier cannot tell the mined negatives from the "
                         "ID labels, so no true negatives are left; set tau to a number below 1")
    return replace(params, tau=est.estimate), {"tau": {"requested": AUTO, **est.as_dict()}}


def score(images, texts, negatives, params: ScoringParams):
    if isinstance(params.tau, str):
        raise ValueError(f"tau={params.tau!r} is not resolved: call Method.resolve_params(texts, negatives, "
                         "params) once per study first (ood_core.evaluation.score_pairs does)")
    # params were range-checked once, by the typed ScoringParams: the kernel does not check them again
    return scoring._dnm_kernel(images, texts.id_labels, METHOD.negative_features(texts, negatives),
                               temperature=params.temperature, tau=params.tau, n_groups=params.n_groups,
                               seed=params.seed, sigma=params.sigma, n_pos_samples=params.n_pos_samples)


METHOD = Method(name="dnm", title="DNM", scoring_params=ScoringParams, score=score,
                mining_params=MiningParams, mine=mine, color="#D55E00", resolve=resolve)
