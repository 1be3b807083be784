"""DNM with tau estimated from the data: the ``float | str`` parameter, the resolve hook, the
``dnm_auto`` registry entry, and the false-negative dose sweep, on synthetic mixtures."""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from ood_core import evaluation, methods, mpe, scoring
from ood_core._params import param, parse
from ood_core.features import TextFeatures
from ood_core.methods import dnm, dnm_auto
from ood_core.text.corpus import Corpus
from ood_study import experiments as ex
from ood_study import study as st
from ood_study.layout import Layout

D = 16


@dataclass(frozen=True)
class _Block:
    tau: float | str = param(0.5, low=0.0, high=1.0, high_open=True, choices=("auto",))


def test_a_number_or_a_named_setting_parses():
    assert parse(_Block, {"tau": "auto"}, "b").tau == "auto"
    assert parse(_Block, {"tau": 0.25}, "b").tau == 0.25
    assert parse(_Block, {"tau": 0}, "b").tau == 0.0 and isinstance(parse(_Block, {"tau": 0}, "b").tau, float)
    with pytest.raises(ValueError, match=r"b\.tau = 1\.0 is out of range: must be in \[0, 1\) \(or one of \['auto'\]\)"):
        parse(_Block, {"tau": 1.0}, "b")
    with pytest.raises(ValueError, match=r"b\.tau = 'autp' is not valid \(did you mean 'auto'\?\)"):
        parse(_Block, {"tau": "autp"}, "b")
    with pytest.raises(ValueError, match=r"b\.tau = True must be a finite number"):
        parse(_Block, {"tau": True}, "b")
    with pytest.raises(ValueError, match=r"b\.tau = \[0\.1\]"):
        parse(_Block, {"tau": [0.1]}, "b")


def test_dnm_takes_auto_and_dnm_auto_defaults_to_it():
    m = methods.get("dnm")
    assert m.scoring_params_for({"tau": "auto"}, "ViT-B-16").tau == "auto"
    assert dnm.ScoringParams().tau == 0.5
    auto = methods.get("dnm_auto")
    assert auto.scoring_params_for(None, "ViT-B-16").tau == "auto"
    assert auto.title == "DNM (tau auto)" and auto.mine is dnm.mine and auto.mining_params is dnm.MiningParams
    with pytest.raises(ValueError, match="tau_estimator"):
        auto.scoring_params_for({"tau_estimator": "em"}, "ViT-B-16")


def _texts(p=0.2, n_id=300, n_cand=1000, seed=0):
    """ID labels ~ N(4 e_0, I); candidates: the first round(p * n_cand) from the same law, the rest
    ~ N(4 e_1, I). Returns (texts, id_like [n_cand] bool)."""
    rng = np.random.default_rng(seed)
    mu_pos, mu_neg = np.zeros(D), np.zeros(D)
    mu_pos[0], mu_neg[1] = 4.0, 4.0
    k = int(round(p * n_cand))
    id_labels = rng.normal(size=(n_id, D)) + mu_pos
    cand = np.concatenate([rng.normal(size=(k, D)) + mu_pos, rng.normal(size=(n_cand - k, D)) + mu_neg])
    id_like = np.arange(n_cand) < k
    texts = TextFeatures(id_labels.astype(np.float32), cand.astype(np.float32), np.zeros((0, D), np.float32),
                         np.zeros(n_cand, dtype=bool))
    return texts, id_like


def test_resolve_estimates_the_known_share_once_and_records_it():
    texts, _ = _texts(p=0.2)
    negatives = np.arange(1000)
    sp = dnm_auto.ScoringParams(tau_n_bootstrap=100)
    resolved, record = methods.get("dnm_auto").resolve_params(texts, negatives, sp)
    assert abs(resolved.tau - 0.2) <= 0.03  # the synthetic truth
    rec = record["tau"]
    assert rec["requested"] == "auto" and rec["estimator"] == "bbe" and rec["confidence"] == 0.95
    assert rec["low"] <= rec["estimate"] == resolved.tau <= rec["high"]
    direct = mpe.estimate_proportion(texts.id_labels, texts.candidates, n_folds=5, n_bootstrap=100, seed=0)
    assert rec["estimate"] == direct.estimate and (rec["low"], rec["high"]) == (direct.low, direct.high)
    # a number is left alone; resolving twice changes nothing
    assert methods.get("dnm").resolve_params(texts, negatives, dnm.ScoringParams(tau=0.3)) == \
        (dnm.ScoringParams(tau=0.3), {})
    assert methods.get("dnm_auto").resolve_params(texts, negatives, resolved) == (resolved, {})
    assert methods.get("mcm").resolve_params(texts, negatives, None) == (None, {})


def test_unresolved_auto_is_refused_by_the_score_and_empty_negatives_by_resolve():
    texts, _ = _texts()
    img = np.random.default_rng(1).normal(size=(4, D))
    with pytest.raises(ValueError, match="not resolved"):
        methods.get("dnm_auto").score_images(img, texts, np.arange(10), dnm_auto.ScoringParams())
    with pytest.raises(ValueError, match="needs mined negatives"):
        methods.get("dnm_auto").resolve_params(texts, np.zeros(0, np.int64), dnm_auto.ScoringParams())


def test_score_pairs_resolves_once_per_study_and_scores_like_dnm_at_the_estimate(monkeypatch):
    texts, _ = _texts(p=0.1)
    negatives = np.arange(0, 1000, 2)
    rng = np.random.default_rng(2)
    id_img, oods = rng.normal(size=(20, D)), {f"ood{i}": rng.normal(size=(15, D)) for i in range(3)}
    sp = dnm_auto.ScoringParams(n_groups=10, tau_n_bootstrap=20)
    calls = []
    real = mpe.estimate_proportion
    monkeypatch.setattr(mpe, "estimate_proportion", lambda *a, **k: calls.append(1) or real(*a, **k))
    pairs = evaluation.score_pairs("dnm_auto", id_img, oods, texts, negatives, sp)
    assert len(calls) == 1  # not once per split
    tau = real(texts.id_labels, texts.candidates[negatives], n_folds=5, n_bootstrap=0, seed=0).estimate
    want = scoring.dnm(oods["ood1"], texts.id_labels, texts.candidates[negatives], temperature=0.01, tau=tau,
                       n_groups=10, seed=0)
    np.testing.assert_allclose(pairs["ood1"][1], want, rtol=1e-12)


def test_evaluate_reports_the_estimate_in_attrs():
    texts, _ = _texts(p=0.1)
    rng = np.random.default_rng(3)
    table = evaluation.evaluate("dnm_auto", rng.normal(size=(20, D)), {"o": rng.normal(size=(10, D))},
                                texts.id_labels, texts.candidates, texts.is_adj, negatives=np.arange(1000),
                                scoring={"n_groups": 10, "tau_n_bootstrap": 10})
    assert set(table.attrs["resolved"]["tau"]) >= {"estimate", "low", "high", "estimator"}
    assert evaluation.evaluate("mcm", rng.normal(size=(5, D)), {"o": rng.normal(size=(5, D))},
                               texts.id_labels).attrs["resolved"] == {}


def _dose_study(seed=0):
    """A synthetic study: 100 ID-like candidates (drawn like the ID labels) and 900 true negatives."""
    texts, id_like = _texts(p=0.1, n_id=200, n_cand=1000, seed=seed)
    rng = np.random.default_rng(seed + 1)
    images = {"id": (texts.id_labels[rng.integers(0, 200, 60)] + 0.5 * rng.normal(size=(60, D))).astype(np.float32),
              "ood": (texts.candidates[rng.integers(100, 1000, 40)] + 0.5 * rng.normal(size=(40, D))).astype(np.float32)}
    n = len(id_like)
    corpus = Corpus(words=[f"w{i}" for i in range(n)], is_adj=np.zeros(n, bool), lexnames=["noun.artifact"] * n,
                    offsets=np.arange(n, dtype=np.int64))
    return st.Study(Layout(Path(".")), "synthetic", "ViT-B-16", corpus, texts, images, "id", ["ood"], id_like)


def test_false_negative_dose_sweep_sets_the_dose_it_says():
    study = _dose_study()
    negatives = np.arange(50, 1000)  # 50 ID-like + 900 true negatives
    sp = dnm.ScoringParams(n_groups=5)
    auto = dnm_auto.ScoringParams(n_groups=5, tau_n_bootstrap=20)
    from ood_core.methods import neglabel
    from ood_study.params import EvaluationParams

    few = EvaluationParams(n_resamples=50)  # the metrics' bootstrap is not under test here: keep it cheap
    sweep = ex.false_negative_dose_sweep(study, negatives, neglabel.ScoringParams(n_groups=5), sp, auto,
                                         [0.0, 0.1, 0.4], seed=0, evaluation=few)
    avg = sweep[sweep.ood_set == "average"]
    assert set(avg.variant) == {"neglabel", "oracle", "params", "auto"} and avg.valid.all()
    n = int(100 / 0.4)  # 100 ID-like labels fill the largest dose: a fixed set of 250
    assert (avg.n_negatives == n).all()
    for rho in (0.0, 0.1, 0.4):
        rows = avg[avg.value == rho]
        assert np.allclose(rows.false_negative_rate, 100.0 * round(rho * n) / n)
        assert rows.set_index("variant").loc["oracle", "tau"] == rho
        assert rows.set_index("variant").loc["params", "tau"] == 0.5
    est = avg[avg.variant == "auto"].set_index("value")
    # here the ID-like labels are drawn like the ID labels, so the estimate follows the dose
    assert abs(est.loc[0.4, "tau"] - 0.4) <= 0.1 and est.loc[0.0, "tau"] <= 0.05
    assert (est.tau_low <= est.tau).all() and (est.tau <= est.tau_high).all()
    # rho = 0 is NegLabel's and the oracle's tau = 0: same ranking, same metrics
    zero = avg[avg.value == 0.0].set_index("variant")
    assert zero.loc["oracle", "auroc"] == pytest.approx(zero.loc["neglabel", "auroc"])
    again = ex.false_negative_dose_sweep(study, negatives, neglabel.ScoringParams(n_groups=5), sp, auto,
                                         [0.0, 0.1, 0.4], seed=0, evaluation=few)
    assert again.equals(sweep)


def test_false_negative_dose_sweep_needs_ground_truth_and_a_valid_grid():
    study = _dose_study()
    sp, auto = dnm.ScoringParams(n_groups=5), dnm_auto.ScoringParams(n_groups=5)
    from ood_core.methods import neglabel

    with pytest.raises(ValueError, match="ground truth"):
        ex.false_negative_dose_sweep(replace(study, id_like=None), np.arange(1000), neglabel.ScoringParams(),
                                     sp, auto, [0.1])
    with pytest.raises(ValueError, match="rho_grid"):
        ex.false_negative_dose_sweep(study, np.arange(1000), neglabel.ScoringParams(), sp, auto, [1.0])
