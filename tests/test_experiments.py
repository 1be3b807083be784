"""Study plumbing and ablation sweeps, on a small synthetic study (no simulator needed)."""

from pathlib import Path

import numpy as np
import pytest

from ood_core import methods
from ood_core.features import TextFeatures
from ood_core.methods import dnm, neglabel
from ood_core.text.corpus import Corpus
from ood_study import experiments as ex
from ood_study import study as st
from ood_study.layout import Layout
from ood_study.method_params import mining_params, scoring_params
from ood_study.params import load_params

PARAMS = load_params(Path(__file__).resolve().parent.parent / "params.yaml")


def _synthetic_study(n_nouns=60, n_adj=20, k_id=8, d=16, seed=0):
    """ID images sit near their class text; OOD images near random noun candidates."""
    rng = np.random.default_rng(seed)
    id_text = rng.normal(size=(k_id, d))
    cand = rng.normal(size=(n_nouns + n_adj, d)) * 3.0  # raw features with norm > 1
    csp_adj = rng.normal(size=(n_adj, d))
    id_img = np.repeat(id_text, 5, axis=0) + 0.8 * rng.normal(size=(5 * k_id, d))
    ood_img = cand[rng.integers(0, n_nouns, 30)] / 3.0 + 0.8 * rng.normal(size=(30, d))
    words = [f"noun{i}" for i in range(n_nouns)] + [f"adj{i}" for i in range(n_adj)]
    is_adj = np.array([False] * n_nouns + [True] * n_adj)
    corpus = Corpus(words=words, is_adj=is_adj, lexnames=["noun.artifact"] * n_nouns + ["adj.all"] * n_adj,
                    offsets=np.arange(n_nouns + n_adj, dtype=np.int64))
    id_like = np.zeros(n_nouns + n_adj, dtype=bool)
    id_like[:6] = True
    texts = TextFeatures(id_text.astype(np.float32), cand.astype(np.float32), csp_adj.astype(np.float32), is_adj)
    images = {"id": id_img.astype(np.float32), "ood": ood_img.astype(np.float32)}
    return st.Study(Layout(Path(".")), "synthetic", "ViT-B-16", corpus, texts, images, "id", ["ood"], id_like)


def test_method_params_resolve_per_backbone_overrides():
    assert scoring_params(PARAMS, "dnm", "ViT-B-32").tau == 0.88
    assert scoring_params(PARAMS, "dnm", "ViT-B-16").tau == 0.5
    mp = mining_params(PARAMS, "dnm", "ViT-B-32")
    assert (mp.k, mp.ratio_noun, mp.ratio_adj, mp.metric) == (10, 0.25, 0.13, "reference")
    l336 = mining_params(PARAMS, "dnm", "ViT-L-14-336")
    assert (l336.k, l336.ratio_noun, l336.ratio_adj) == (100, 0.25, 0.08)
    assert mining_params(PARAMS, "mcm", "ViT-B-16") is None
    assert scoring_params(PARAMS, "mcm", "ViT-B-16").temperature == 1.0
    assert mining_params(PARAMS, "csp", "RN50").max_id_sim == 0.95
    with pytest.raises(ValueError, match="valid methods"):
        scoring_params(PARAMS, "knn", "ViT-B-16")


def test_params_by_method_selects_methods_by_parameter():
    by_t = ex.params_by_method(PARAMS, "ViT-B-16", "temperature")
    assert list(by_t)[:3] == ["mcm", "energy", "neglabel"] and "maxlogit" not in by_t  # params.yaml order
    grouped = list(ex.params_by_method(PARAMS, "ViT-B-16", "n_groups"))
    assert {"neglabel", "csp", "dnm"} <= set(grouped) and not {"mcm", "energy", "maxlogit"} & set(grouped)


def test_csp_pool_swaps_only_adjective_rows():
    s = _synthetic_study()
    pool = methods.get("csp").candidate_pool(s.texts)
    np.testing.assert_array_equal(pool[:60], s.texts.candidates[:60])
    np.testing.assert_array_equal(pool[60:], s.texts.csp_adjectives)
    assert methods.get("neglabel").candidate_pool(s.texts) is s.texts.candidates


def test_subsample_keeps_fraction_per_part_of_speech_and_aligns_csp_rows():
    s = _synthetic_study()
    sub, kept = ex.subsample_corpus(s, 0.5, seed=3)
    assert sub.corpus.is_adj.sum() == 10 and (~sub.corpus.is_adj).sum() == 30
    assert [s.corpus.words[i] for i in kept] == sub.corpus.words
    np.testing.assert_array_equal(sub.texts.candidates, s.texts.candidates[kept])
    # adjective "adjN" is corpus row 60 + N and CSP row N
    adj_numbers = [int(w[3:]) for w in sub.corpus.words if w.startswith("adj")]
    np.testing.assert_array_equal(sub.texts.csp_adjectives, s.texts.csp_adjectives[adj_numbers])
    np.testing.assert_array_equal(sub.id_like, s.id_like[kept])
    assert np.array_equal(ex.subsample_corpus(s, 0.5, seed=3)[1], kept)  # seeded
    with pytest.raises(ValueError, match="fraction=0"):
        ex.subsample_corpus(s, 0.0)


def test_tau_zero_matches_neglabel_on_the_same_negatives():
    s = _synthetic_study()
    neg = np.arange(0, 80, 2)
    sweep = ex.tau_sweep(s, neg, dnm.ScoringParams(n_groups=4, tau=0.5), [0.0, 0.3])
    neglabel_metrics = ex.method_metrics(s, "neglabel", neg, neglabel.ScoringParams(n_groups=4))
    row = sweep[(sweep.value == 0.0) & (sweep.ood_set == "ood")].iloc[0]
    assert row.auroc == pytest.approx(100 * neglabel_metrics["ood"]["auroc"])
    assert row.fpr95 == pytest.approx(100 * neglabel_metrics["ood"]["fpr95"])
    assert set(sweep.ood_set) == {"ood", "average"} and sweep.valid.all()


def test_rejected_setting_is_a_row_not_a_crash():
    s = _synthetic_study()
    neg = np.arange(80)
    params = {"dnm": dnm.ScoringParams(tau=0.5)}
    # K = 8 ID labels: Q * 0.5 < 0.5 * 8 needs Q < 8, i.e. G > 10 of 80 negatives
    sweep = ex.groups_sweep(s, {"dnm": neg}, params, [1, 20])
    bad = sweep[sweep.value == 1]
    assert (~bad.valid).all() and bad.auroc.isna().all() and "n_groups" in bad.note.iloc[0]
    assert sweep[sweep.value == 20].valid.all()


def test_sweep_rows_carry_bootstrap_intervals_around_the_value():
    """Every row has fpr95/auroc _low/_high (percent) from ood_core.bootstrap.metric_intervals;
    rejected rows have NaN there."""
    from ood_core import bootstrap
    from ood_study.params import EvaluationParams

    s = _synthetic_study()
    neg = np.arange(80)
    sweep = ex.groups_sweep(s, {"dnm": neg}, {"dnm": dnm.ScoringParams(tau=0.5)}, [1, 20])
    ok, bad = sweep[sweep.valid], sweep[~sweep.valid]
    assert list(ex.INTERVAL_COLUMNS) == ["fpr95_low", "fpr95_high", "auroc_low", "auroc_high"]
    assert (ok.auroc_low <= ok.auroc_high).all() and (ok.fpr95_low <= ok.fpr95_high).all()
    assert ((ok.auroc_low >= 0) & (ok.auroc_high <= 100)).all()
    assert bad[list(ex.INTERVAL_COLUMNS)].isna().all().all()
    # the same numbers as metric_intervals on the method's pairs, in percent
    sp = dnm.ScoringParams(tau=0.5, n_groups=20)
    ev = EvaluationParams()
    iv = bootstrap.metric_intervals(ex.study_score_pairs(s, "dnm", neg, sp), n_resamples=ev.n_resamples,
                                    confidence=ev.confidence, seed=ev.seed)
    row = ok[ok.ood_set == "average"].iloc[0]
    assert (row.auroc_low, row.auroc_high) == pytest.approx((100 * iv["average"]["auroc"][0], 100 * iv["average"]["auroc"][1]))
    plain = ex.method_metrics(s, "dnm", neg, sp, intervals=False)
    assert "auroc_low" not in plain["ood"]
    assert ex.metrics_rows(plain)[0]["auroc_low"] != ex.metrics_rows(plain)[0]["auroc_low"]  # NaN


def test_false_negative_table_counts_ground_truth():
    s = _synthetic_study()
    table = ex.false_negative_table(s, {"a": np.array([0, 1, 50, 70]), "b": np.array([10, 11])})
    assert table.set_index("method").loc["a", "false_negative_rate"] == pytest.approx(50.0)
    assert table.set_index("method").loc["b", "false_negative_rate"] == pytest.approx(0.0)
    assert table.corpus_id_like_rate.iloc[0] == pytest.approx(100 * 6 / 80)


def test_best_value_picks_highest_auroc_and_lowest_fpr():
    import pandas as pd

    sweep = pd.DataFrame({"value": [1, 2, 3], "ood_set": "average", "valid": True,
                          "auroc": [80.0, 90.0, 85.0], "fpr95": [30.0, 40.0, 20.0]})
    assert ex.best_value(sweep, "auroc") == 2
    assert ex.best_value(sweep, "fpr95") == 3


def test_density_grid_sweep_equals_dnm_mining_at_each_cell():
    """Each (k, ratio_noun) cell scores exactly the negatives DNM's own mining selects with those
    two values (the sweep reuses one kNN pass; the reference mines from scratch per cell)."""
    from dataclasses import replace

    study = _synthetic_study()
    mp = replace(mining_params(PARAMS, "dnm", "ViT-B-16"), k=5)
    sp = replace(scoring_params(PARAMS, "dnm", "ViT-B-16"), n_groups=2, tau=0.2)
    ks, ratios = [3, 5], [0.1, 0.3]
    sweep = ex.density_grid_sweep(study, mp, sp, ks, ratios)
    average = sweep[sweep.ood_set == "average"]
    assert [(r.k, r.ratio_noun) for r in average.itertuples()] == [(3, 0.1), (3, 0.3), (5, 0.1), (5, 0.3)]
    for row in average.itertuples():
        idx = methods.get("dnm").select_negatives(study.texts, replace(mp, k=row.k, ratio_noun=row.ratio_noun))
        want = ex.method_metrics(study, "dnm", idx, sp)["average"]
        assert row.n_negatives == len(idx)
        assert row.auroc == pytest.approx(100 * want["auroc"]) and row.fpr95 == pytest.approx(100 * want["fpr95"])
        assert row.false_negative_rate == pytest.approx(100 * study.id_like[idx].mean())
    # a larger noun ratio selects more nouns at the same k (60 nouns: 6 vs 18; adjectives fixed)
    n = average.set_index(["k", "ratio_noun"])["n_negatives"]
    assert n[(3, 0.3)] - n[(3, 0.1)] == 18 - 6


def test_tau_estimate_table_reads_the_sweep_at_the_estimate_the_params_and_the_best_tau():
    import pandas as pd

    rows = [{"ood_set": "average", "value": v, "auroc": a, "valid": True} for v, a in
            [(0.0, 80.0), (0.25, 85.0), (0.5, 90.0), (0.7, 88.0)]]
    rows.append({"ood_set": "ood", "value": 0.5, "auroc": 99.0, "valid": True})  # not an average: ignored
    sweep = pd.DataFrame(rows)
    est = {"estimator": "bbe", "estimate": 0.25, "low": 0.2, "high": 0.3}
    (row,) = ex.tau_estimate_table(sweep, est, truth=0.28, params_tau=0.7).to_dict("records")
    assert row["tau_estimate"] == 25.0 and row["tau_low"] == 20.0 and row["tau_high"] == 30.0
    assert row["tau_true"] == pytest.approx(28.0) and row["covered"] is True
    assert row["abs_error_pp"] == pytest.approx(3.0)
    assert (row["auroc_at_estimate"], row["auroc_at_params_tau"]) == (85.0, 88.0)
    assert (row["best_tau_in_hindsight"], row["auroc_at_best_tau"]) == (0.5, 90.0)
    (no_truth,) = ex.tau_estimate_table(sweep, est, truth=float("nan"), params_tau=0.7).to_dict("records")
    assert no_truth["covered"] is None


def test_best_vs_true_tau_reads_the_sweep_the_ground_truth_and_neglabel_interval():
    import pandas as pd

    study = _synthetic_study()  # corpus labels 0..5 are ID-like
    sweep = pd.DataFrame({"ood_set": ["average", "ood", "average", "average"], "valid": [True, True, True, False],
                          "value": [0.0, 0.3, 0.3, 0.6], "auroc": [80.0, 99.0, 85.0, np.nan]})
    out = ex.best_vs_true_tau(study, sweep, [0, 1, 10, 11, 12, 13, 14, 15],
                              {"auroc": 0.9, "auroc_low": 0.875, "auroc_high": 0.925})
    assert out["best_tau"] == 0.3           # the average row, not the per-set 99
    assert out["true_tau"] == 2 / 8         # 2 of the 8 negatives are ID-like
    assert (out["neglabel_auroc"], out["neglabel_auroc_low"], out["neglabel_auroc_high"]) == (90.0, 87.5, 92.5)
    no_truth = ex.best_vs_true_tau(replace_id_like(study), sweep, [0, 1], {"auroc": 0.5, "auroc_low": 0.5,
                                                                           "auroc_high": 0.5})
    assert np.isnan(no_truth["true_tau"])


def replace_id_like(study):
    from dataclasses import replace

    return replace(study, id_like=None)
