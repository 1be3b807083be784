"""ood_core.evaluation.evaluate: embeddings in, the metrics table out, equal to the pieces by hand."""

import numpy as np
import pytest

from ood_core import metrics, mining, scoring
from ood_core.evaluation import evaluate


def _data(seed=0, d=12):
    rng = np.random.default_rng(seed)
    ids = rng.normal(size=(6, d))
    cand = rng.normal(size=(40, d)) * 3
    is_adj = np.arange(40) >= 30
    id_img = np.repeat(ids, 4, axis=0) + 0.7 * rng.normal(size=(24, d))
    ood = {"a": cand[:10] / 3 + 0.7 * rng.normal(size=(10, d)), "b": rng.normal(size=(9, d))}
    return ids, cand, is_adj, id_img, ood


def test_dnm_table_equals_the_library_pieces():
    ids, cand, is_adj, id_img, ood = _data()
    table = evaluate("dnm", id_img, ood, ids, cand, is_adj, mining={"k": 5}, scoring={"n_groups": 2, "tau": 0.2})
    neg = mining.density_select(cand, is_adj, k=5)
    score = lambda x: scoring.dnm(x, ids, cand[neg], tau=0.2, n_groups=2)  # noqa: E731
    for name, x in ood.items():
        want = metrics.ood_metrics(score(id_img), score(x))
        assert table.loc[name, "auroc"] == pytest.approx(100 * want["auroc"])
        assert table.loc[name, "fpr95"] == pytest.approx(100 * want["fpr95"])
    assert table.loc["average", "auroc"] == pytest.approx(table.loc[["a", "b"], "auroc"].mean())
    assert list(table.columns) == ["fpr95", "auroc", "aupr_in", "aupr_out"]


def test_zero_shot_methods_need_no_corpus_and_bad_input_is_named():
    ids, cand, is_adj, id_img, ood = _data(1)
    table = evaluate("mcm", id_img, ood, ids)
    want = metrics.ood_metrics(scoring.mcm(id_img, ids), scoring.mcm(ood["b"], ids))
    assert table.loc["b", "auroc"] == pytest.approx(100 * want["auroc"])
    with pytest.raises(ValueError, match="needs candidates"):
        evaluate("neglabel", id_img, ood, ids)
    with pytest.raises(ValueError, match=r"tau = 1\.5 is out of range"):
        evaluate("dnm", id_img, ood, ids, cand, is_adj, scoring={"tau": 1.5})
    with pytest.raises(ValueError, match="valid methods"):
        evaluate("knn", id_img, ood, ids)


def test_intervals_on_request_bracket_the_value_and_match_the_bootstrap():
    from ood_core.bootstrap import metric_intervals

    ids, cand, is_adj, id_img, ood = _data(2)
    plain = evaluate("mcm", id_img, ood, ids)
    table = evaluate("mcm", id_img, ood, ids, intervals=True, n_resamples=200, seed=3)
    assert list(table.columns[:4]) == list(plain.columns) and (table[plain.columns] == plain).all().all()
    want = metric_intervals({n: (scoring.mcm(id_img, ids), scoring.mcm(x, ids)) for n, x in ood.items()},
                            n_resamples=200, seed=3)
    for name in ("a", "b", "average"):
        assert table.loc[name, "auroc_low"] == pytest.approx(100 * want[name]["auroc"][0])
        assert table.loc[name, "auroc_high"] == pytest.approx(100 * want[name]["auroc"][1])
        assert table.loc[name, "fpr95_low"] <= table.loc[name, "fpr95_high"]


def test_a_bare_array_or_a_wrong_is_adj_length_is_named():
    ids, cand, is_adj, id_img, ood = _data(3)
    with pytest.raises(TypeError, match=r"must map each OOD set's name to its \[N, d\] image embeddings"):
        evaluate("mcm", id_img, ood["a"], ids)
    # the library's one check (_array.as_bool_vector): names the argument, the length it needs and the shape given
    with pytest.raises(ValueError, match=r"is_adj must be 1-D of length 40 .*got shape \(39,\)"):
        evaluate("dnm", id_img, ood, ids, cand, is_adj[:-1], mining={"k": 5})
