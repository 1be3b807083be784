"""Paired Δ against a reference (ood_study.experiments.paired_delta_rows / paired_sweep): the report's
Δ-vs-NegLabel / Δ-vs-DNM columns and every ablation sweep's Δ-vs-default column."""

from pathlib import Path

import numpy as np
import pytest

from ood_core import bootstrap, metrics
from ood_core.features import TextFeatures
from ood_core.text.corpus import Corpus
from ood_study import experiments as ex
from ood_study import study as st
from ood_study.layout import Layout
from ood_study.params import EvaluationParams

EV = EvaluationParams(n_resamples=200, confidence=0.95, seed=4, n_seeds=1)


def _pairs(rng, shift, noise, base=None):
    """Two OOD sets; scores = a common base per image + shift (ID only) + per-method noise."""
    base = base or {s: (rng.normal(1.0, 1.0, 80), rng.normal(0.0, 1.0, n)) for s, n in (("a", 50), ("b", 40))}
    return base, {s: (i + shift + noise * rng.normal(size=i.size), o + noise * rng.normal(size=o.size))
                  for s, (i, o) in base.items()}


def test_deltas_are_metric_differences_with_the_paired_intervals():
    rng = np.random.default_rng(0)
    base, ref = _pairs(rng, 0.0, 0.0)
    _, better = _pairs(rng, 1.0, 0.1, base)
    _, same = _pairs(rng, 0.0, 0.05, base)
    rows = ex.paired_delta_rows({"ref": ref, "better": better, "same": same}, "ref", EV).set_index(["key", "ood_set"])
    for key, pairs in (("better", better), ("same", same)):
        want_iv = bootstrap.paired_difference_intervals(pairs, ref, n_resamples=200, seed=4)
        for s in ("a", "b"):
            mk, mr = metrics.ood_metrics(*pairs[s]), metrics.ood_metrics(*ref[s])
            for m in ("fpr95", "auroc"):
                row = rows.loc[(key, s)]
                assert row[f"delta_{m}"] == pytest.approx(100 * (mk[m] - mr[m]), abs=1e-9)
                assert (row[f"delta_{m}_low"], row[f"delta_{m}_high"]) == \
                    pytest.approx(tuple(100 * v for v in want_iv[s][m]), abs=1e-9)
        avg = rows.loc[(key, "average")]
        assert avg["delta_auroc_low"] == pytest.approx(100 * want_iv["average"]["auroc"][0], abs=1e-9)
    assert rows.loc[("better", "average"), "significant_auroc"]  # +1 SD on every ID score: clearly higher
    assert rows.loc[("better", "average"), "delta_auroc"] > 0
    assert not rows.loc[("same", "average"), "significant_auroc"]  # noise only
    ref_rows = rows.xs("ref", level="key")
    assert (ref_rows[["delta_fpr95", "delta_auroc", "delta_auroc_low", "delta_auroc_high"]] == 0).all().all()
    assert ref_rows["is_reference"].all() and not ref_rows["significant_auroc"].any()


def test_point_intervals_are_the_unpaired_ones():
    rng = np.random.default_rng(1)
    base, ref = _pairs(rng, 0.0, 0.0)
    _, other = _pairs(rng, 0.3, 0.2, base)
    rows = ex.paired_delta_rows({"ref": ref, "other": other}, "ref", EV).set_index(["key", "ood_set"])
    iv = bootstrap.metric_intervals(other, n_resamples=200, confidence=0.95, seed=4)
    for s in ("a", "b", "average"):
        assert (rows.loc[("other", s), "auroc_low"], rows.loc[("other", s), "auroc_high"]) == \
            pytest.approx(tuple(100 * v for v in iv[s]["auroc"]), abs=1e-9)


def test_unknown_reference_raises():
    rng = np.random.default_rng(2)
    _, ref = _pairs(rng, 0.0, 0.0)
    with pytest.raises(ValueError, match="reference='dnm' is not among the keys"):
        ex.paired_delta_rows({"neglabel": ref}, "dnm", EV)


def _synthetic_study(k_id=5, m=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    ids, cand = rng.normal(size=(k_id, d)), rng.normal(size=(m, d))
    id_img = np.repeat(ids, 8, axis=0) + 0.8 * rng.normal(size=(8 * k_id, d))
    ood_img = cand[rng.integers(0, m, 30)] + 0.8 * rng.normal(size=(30, d))
    corpus = Corpus(words=[f"w{i}" for i in range(m)], is_adj=np.zeros(m, dtype=bool),
                    lexnames=["noun.artifact"] * m, offsets=np.arange(m, dtype=np.int64))
    texts = TextFeatures(ids.astype(np.float32), cand.astype(np.float32), np.zeros((0, d), np.float32),
                         np.zeros(m, dtype=bool))
    return st.Study(Layout(Path(".")), "synthetic", "ViT-B-16", corpus, texts,
                    {"id": id_img.astype(np.float32), "ood": ood_img.astype(np.float32)}, "id", ["ood"], None)


def test_paired_sweep_adds_the_default_and_compares_each_point_with_it():
    from ood_core.methods import renyi

    study = _synthetic_study()
    negatives = np.arange(40)
    base = renyi.ScoringParams(r=1.05)
    out = ex.paired_sweep(study, "renyi", negatives, base, "r", [1.2, 2.0], EV)
    assert sorted(set(out["value"])) == [1.05, 1.2, 2.0]  # the params.yaml value joined the grid
    default = out[out["value"] == 1.05]
    assert default["is_reference"].all() and (default["delta_auroc"] == 0).all()
    point = out[(out["value"] == 2.0) & (out["ood_set"] == "ood")].iloc[0]
    p2 = ex.study_score_pairs(study, "renyi", negatives, renyi.ScoringParams(r=2.0))
    p0 = ex.study_score_pairs(study, "renyi", negatives, base)
    want = 100 * (metrics.ood_metrics(*p2["ood"])["auroc"] - metrics.ood_metrics(*p0["ood"])["auroc"])
    assert point["delta_auroc"] == pytest.approx(want, abs=1e-9)
    assert point["delta_auroc_low"] <= point["delta_auroc_high"]


def test_report_delta_table_and_score_files(tmp_path):
    from ood_study import report
    from ood_study.study import pair_arrays, write_npz

    rng = np.random.default_rng(3)
    base, ref = _pairs(rng, 0.0, 0.0)
    _, better = _pairs(rng, 1.0, 0.1, base)
    layout = Layout(tmp_path)
    for name, pairs, test_time in (("neglabel", ref, False), ("tanl", better, True)):
        path = layout.scores("s", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {k: (v[0], v[1]) for k, v in pairs.items()}
        if not test_time:  # a method scoring images one by one stores the ID scores once
            stored = {k: (ref["a"][0], v[1]) for k, v in pairs.items()}
        write_npz(path, pair_arrays(stored, "imagenet", test_time))
    loaded = report.load_pairs(layout, "s", "tanl", "imagenet", ["a", "b"])
    np.testing.assert_array_equal(loaded["b"][0], better["b"][0])  # per-set ID scores of a test-time method
    ref_loaded = report.load_pairs(layout, "s", "neglabel", "imagenet", ["a", "b"])
    np.testing.assert_array_equal(ref_loaded["b"][0], ref["a"][0])
    rows = ex.paired_delta_rows({"neglabel": ref_loaded, "tanl": loaded}, "neglabel", EV)
    table = report.delta_table(rows, "neglabel", ["a", "b"])
    assert list(table.index) == ["tanl"]
    cell = table.loc["tanl", ("average", "AUROC")]
    r = rows[(rows["key"] == "tanl") & (rows["ood_set"] == "average")].iloc[0]
    assert cell == f"{r['delta_auroc']:+.2f} [{r['delta_auroc_low']:+.2f}, {r['delta_auroc_high']:+.2f}]*"
    with pytest.raises(FileNotFoundError, match="dvc repro score@s-dnm"):
        report.load_pairs(layout, "s", "dnm", "imagenet", ["a"])
