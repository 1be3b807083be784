"""Result tables: layout, published numbers (docs/methods.md §6) and the per-cell difference."""

import math

import numpy as np
import pytest

from ood_study import report

SETS = ["inaturalist", "sun", "places", "textures"]


def _metrics(fpr, auroc):
    return {"FPR95": dict(zip([*SETS, "average"], fpr)), "AUROC": dict(zip([*SETS, "average"], auroc))}


def test_main_table_layout_keeps_the_given_method_order():
    metrics = {"dnm": _metrics([1, 2, 3, 4, 2.5], [99, 98, 97, 96, 97.5]),
               "mcm": _metrics([10, 20, 30, 40, 25], [90, 80, 70, 60, 75])}
    table = report.main_table(metrics, SETS)
    assert list(table.index) == ["dnm", "mcm"]  # the order given (load_metrics follows params.yaml)
    assert table.loc["dnm", ("places", "FPR95")] == 3
    assert table.loc["mcm", ("average", "AUROC")] == 75
    assert list(table.columns.get_level_values(0)[-2:]) == ["average", "average"]


def test_published_table_matches_spec_and_marks_unconfirmed_cells():
    pub = report.published_table()
    assert pub.loc["mcm", ("inaturalist", "FPR95")] == 30.91
    assert pub.loc["csp", ("average", "AUROC")] == 95.76
    assert pub.loc["neglabel", ("textures", "FPR95")] == 43.56
    assert pub.loc["dnm", ("inaturalist", "AUROC")] == 99.51
    assert math.isnan(pub.loc["dnm", ("sun", "FPR95")])
    assert math.isnan(pub.loc["dnm", ("average", "FPR95")])
    # the published averages are the means of the four sets (to rounding)
    for method in ("mcm", "neglabel", "csp", "adaneg"):
        for metric in ("FPR95", "AUROC"):
            mean = np.mean([pub.loc[method, (s, metric)] for s in SETS])
            assert abs(mean - pub.loc[method, ("average", metric)]) < 0.02


def test_comparison_is_ours_minus_published_cell_by_cell():
    ours = report.main_table({"mcm": _metrics([31.91, 37.59, 44.69, 57.77, 42.74],
                                              [94.61, 92.57, 89.77, 86.11, 91.77])}, SETS)
    diff = report.comparison_table(ours)
    assert diff.loc["mcm", ("inaturalist", "FPR95")] == pytest.approx(1.0)
    assert diff.loc["mcm", ("sun", "FPR95")] == pytest.approx(0.0)
    assert diff.loc["mcm", ("average", "AUROC")] == pytest.approx(1.0)


def test_simulated_caption_and_markdown_say_simulated():
    assert "SIMULATED" in report.caption("simulated", "ViT-B-16")
    assert "not a reproduction" in report.caption("simulated", "ViT-B-16").lower()
    table = report.main_table({"mcm": _metrics([1] * 5, [2] * 5)}, SETS)
    md = report.to_markdown(table, report.caption("simulated", "ViT-B-16"))
    assert "SIMULATED" in md and "1.00" in md
    assert "SIMULATED" in report.to_latex(table, report.caption("simulated", "ViT-B-16"))


def test_load_metrics_missing_study_says_what_to_run(tmp_path):
    from ood_study.layout import Layout

    with pytest.raises(FileNotFoundError, match=r"dvc repro score@simulated-ViT-B-16-mcm"):
        report.load_metrics(Layout(tmp_path), "simulated-ViT-B-16", ["mcm"])


def test_backbone_table_puts_each_backbones_average_side_by_side():
    b16 = {"mcm": _metrics([1, 2, 3, 4, 2.5], [90, 91, 92, 93, 91.5]), "dnm": _metrics([0] * 5, [99] * 5)}
    b32 = {"mcm": _metrics([5, 5, 5, 5, 5.0], [80, 80, 80, 80, 80.0])}
    table = report.backbone_table({"ViT-B-16": b16, "ViT-B-32": b32})
    assert list(table.index) == ["mcm", "dnm"]
    assert table.loc["mcm", ("ViT-B-16", "FPR95")] == 2.5 and table.loc["mcm", ("ViT-B-32", "AUROC")] == 80.0
    assert math.isnan(table.loc["dnm", ("ViT-B-32", "AUROC")])  # a missing method is a gap, not a number
    with pytest.raises(ValueError, match="dvc repro"):
        report.backbone_table({})


def _with_intervals(fpr, auroc, half_fpr, half_auroc, seed_std=None):
    """A metrics file as the score stage writes it: values, 95 % intervals (value -/+ half) and,
    for a seeded method, the std over seeds."""
    sets = [*SETS, "average"]
    out = _metrics(fpr, auroc)
    out["FPR95_ci95"] = {s: {"low": v - h, "high": v + h} for s, v, h in zip(sets, fpr, half_fpr)}
    out["AUROC_ci95"] = {s: {"low": v - h, "high": v + h} for s, v, h in zip(sets, auroc, half_auroc)}
    if seed_std is not None:
        out["FPR95_seed_std"] = dict(zip(sets, seed_std))
        out["AUROC_seed_std"] = dict(zip(sets, seed_std))
    return out


def test_markdown_shows_value_and_interval_bounds():
    metrics = {"dnm": _with_intervals([5.27, 10.4, 62.7, 14.17, 23.13], [98.84, 98.02, 87.9, 97.09, 95.46],
                                      [0.98, 2.2, 5.05, 2.84, 2.07], [0.21, 0.38, 0.97, 0.53, 0.35]),
               "mcm": _metrics([50.64, 47.5, 76.8, 41.25, 54.05], [89.43, 90.67, 79.41, 93.15, 88.16])}
    table = report.main_table(metrics, SETS)
    iv = report.interval_table(metrics, SETS)
    assert iv.loc["dnm", ("sun", "FPR95")] == pytest.approx((10.4 - 2.2, 10.4 + 2.2))
    assert not isinstance(iv.loc["mcm", ("sun", "FPR95")], tuple)  # an old metrics file without intervals
    md = report.to_markdown(table, "t", iv)
    dnm_row = next(line for line in md.splitlines() if line.startswith("| dnm"))
    # 5.27 - 0.98 = 4.29, 5.27 + 0.98 = 6.25; 95.46 -/+ 0.35; 62.7 -/+ 5.05
    assert "| 5.27 [4.29, 6.25] " in dnm_row and "| 95.46 [95.11, 95.81] " in dnm_row
    assert "| 62.70 [57.65, 67.75] " in dnm_row
    mcm_row = next(line for line in md.splitlines() if line.startswith("| mcm"))
    assert "| 50.64 " in mcm_row and "[" not in mcm_row  # no interval: the bare value
    assert "5.27 [4.29, 6.25]" in report.to_latex(table, "t", iv)
    assert "±" not in md and "[" not in report.to_markdown(table, "t")  # without intervals: plain numbers


def test_an_asymmetric_interval_is_printed_with_both_bounds():
    """The issue's cases: FPR95 100.00 with the interval [80, 100] and 1.39 with [0.69, 2.64] (never
    "100.00 ± 10.00" or "1.39 ± 0.98")."""
    assert report.with_interval(100.0, (80.0, 100.0)) == "100.00 [80.00, 100.00]"
    assert report.with_interval(1.39, (0.69, 2.64)) == "1.39 [0.69, 2.64]"
    assert report.with_interval(float("nan"), (1.0, 2.0)) == "–" and report.with_interval(3.0) == "3.00"
    metrics = {"dnm": _metrics([10] * 5, [90] * 5)}
    metrics["dnm"]["FPR95_ci95"] = {s: {"low": 9.0, "high": 12.5} for s in [*SETS, "average"]}
    metrics["dnm"]["AUROC_ci95"] = {s: {"low": 89.99, "high": 90.0} for s in [*SETS, "average"]}
    md = report.to_markdown(report.main_table(metrics, SETS), "t", report.interval_table(metrics, SETS))
    assert "10.00 [9.00, 12.50]" in md and "90.00 [89.99, 90.00]" in md


def test_seed_spread_table_lists_only_seeded_methods():
    metrics = {"mcm": _with_intervals([1] * 5, [99] * 5, [0.1] * 5, [0.1] * 5),
               "neglabel": _with_intervals([2] * 5, [98] * 5, [0.1] * 5, [0.1] * 5, seed_std=[0.3, 0.1, 0.2, 0.0, 0.05])}
    seeds = report.seed_spread_table(metrics, SETS)
    assert list(seeds.index) == ["neglabel"]
    assert seeds.loc["neglabel", ("inaturalist", "FPR95")] == 0.3
    assert seeds.loc["neglabel", ("average", "AUROC")] == 0.05
    assert "| neglabel | 0.30 " in report.to_markdown(seeds, "seeds")
    assert report.seed_spread_table({"mcm": _metrics([1] * 5, [2] * 5)}, SETS).empty


def test_long_table_carries_the_interval_bounds():
    metrics = {"dnm": _with_intervals([5] * 5, [95] * 5, [1] * 5, [0.5] * 5), "mcm": _metrics([1] * 5, [2] * 5)}
    long = report.long_table(metrics, SETS)
    row = long[(long.method == "dnm") & (long.ood_set == "sun") & (long.metric == "AUROC")].iloc[0]
    assert (row.value, row.low, row.high) == (95, 94.5, 95.5)
    assert long[long.method == "mcm"][["low", "high"]].isna().all().all()


def test_dvc_metrics_view_of_intervals_and_seed_spread():
    """ood_study.study.summarize: percent, two decimals; ``<KEY>_ci95`` and ``<KEY>_seed_std``."""
    from ood_study.study import seed_spread, summarize

    run = {"a": {"fpr95": 0.1234, "auroc": 0.9, "aupr_in": 0.95, "aupr_out": 0.5},
           "average": {"fpr95": 0.1234, "auroc": 0.9, "aupr_in": 0.95, "aupr_out": 0.5}}
    other = {s: {**m, "auroc": 0.92} for s, m in run.items()}
    spread = seed_spread({0: run, 1: other, 2: run})
    # AUROC over seeds 0.90, 0.92, 0.90: mean 0.9067, sample std sqrt((2 * 0.0067^2 + 0.0133^2) / 2) = 0.011547
    assert spread["a"]["auroc"]["std"] == pytest.approx(0.02 / math.sqrt(3), rel=1e-12)
    assert (spread["a"]["auroc"]["min"], spread["a"]["auroc"]["max"]) == (0.9, 0.92)
    assert spread["a"]["fpr95"]["std"] == 0.0
    intervals = {s: {"fpr95": (0.1, 0.15), "auroc": (0.88, 0.91), "aupr_in": (0.9, 0.97), "aupr_out": (0.4, 0.6)}
                 for s in run}
    view = summarize(run, intervals, spread, confidence=0.95)
    assert view["FPR95"]["a"] == 12.34 and view["AUPR_OUT"]["average"] == 50.0
    assert view["FPR95_ci95"]["a"] == {"low": 10.0, "high": 15.0}
    assert view["AUROC_seed_std"]["a"] == 1.15
    assert set(summarize(run)) == {"FPR95", "AUROC", "AUPR_IN", "AUPR_OUT"}
    assert "AUROC_ci90" in summarize(run, intervals, confidence=0.9)


def test_main_table_with_seed_columns_keeps_one_row_per_method():
    metrics = {"mcm": _with_intervals([1] * 5, [99] * 5, [0.1] * 5, [0.2] * 5),
               "dnm": _with_intervals([2] * 5, [98] * 5, [0.3] * 5, [0.4] * 5, seed_std=[0.5, 0.5, 0.5, 0.5, 0.25])}
    shown = report.with_seed_columns(report.main_table(metrics, SETS), metrics, SETS)
    assert list(shown.index) == ["mcm", "dnm"]
    assert shown.loc["dnm", (report.SEED_COLUMN, "AUROC")] == 0.25
    assert math.isnan(shown.loc["mcm", (report.SEED_COLUMN, "FPR95")])
    md = report.to_markdown(shown, "t", report.interval_table(metrics, SETS))
    dnm_row = next(line for line in md.splitlines() if line.startswith("| dnm"))
    assert dnm_row.rstrip(" |").endswith("| 0.25") and "| 98.00 [97.60, 98.40] " in dnm_row  # seed std: bare
    assert next(line for line in md.splitlines() if line.startswith("| mcm")).rstrip(" |").endswith("–")


def test_estimated_table_lists_estimated_parameters_in_percent():
    from ood_study.report import estimated_table

    metrics = {"dnm": {"AUROC": {"average": 95.0}},
               "dnm_auto": {"AUROC": {"average": 95.6}, "tau": {"estimate": 0.0296, "low": 0.0225, "high": 0.0472}}}
    table = estimated_table(metrics)
    assert table.to_dict("records") == [{"method": "dnm_auto", "parameter": "tau", "estimate": 2.96,
                                         "low": 2.25, "high": 4.72}]
    assert estimated_table({"mcm": {"AUROC": {"average": 88.0}}}).empty


def test_summary_metrics_are_a_handful_of_numbers_per_method():
    from ood_study.study import summary_metrics

    view = {"AUROC": {"a": 99.0, "near": 80.0, "far": 95.0, "average": 90.0},
            "FPR95": {"a": 1.0, "near": 60.0, "far": 20.0, "average": 30.0},
            "AUROC_ci95": {"average": {"low": 89.0, "high": 90.5}, "near": {"low": 78.0, "high": 82.0},
                           "a": {"low": 98.0, "high": 99.5}},
            "FPR95_ci95": {"average": {"low": 28.0, "high": 33.0}},
            "AUPR_IN": {"average": 97.0}, "tau": {"estimate": 0.03, "low": 0.02, "high": 0.05}}
    assert summary_metrics(view, "dnm") == {"dnm": {
        "AUROC": 90.0, "AUROC_lo": 89.0, "AUROC_hi": 90.5, "FPR95": 30.0, "FPR95_lo": 28.0, "FPR95_hi": 33.0,
        "AUROC_near": 80.0, "AUROC_near_lo": 78.0, "AUROC_near_hi": 82.0, "FPR95_near": 60.0,
        "AUROC_far": 95.0, "FPR95_far": 20.0, "tau": 0.03}}
    # no groups, no intervals: the averages alone
    assert summary_metrics({"AUROC": {"average": 1.0}, "FPR95": {"average": 2.0}}, "mcm") == {
        "mcm": {"AUROC": 1.0, "FPR95": 2.0}}


def test_metric_label_is_the_one_mapping_between_names_and_file_keys():
    from ood_study.metric_keys import METRIC_NAMES, metric_label, metric_name

    assert [metric_label(m) for m in METRIC_NAMES] == ["FPR95", "AUROC", "AUPR_IN", "AUPR_OUT"]
    assert [metric_name(metric_label(m)) for m in METRIC_NAMES] == list(METRIC_NAMES)
    with pytest.raises(ValueError, match="valid metrics"):
        metric_label("FPR95")
    with pytest.raises(ValueError, match="valid labels"):
        metric_name("fpr95")
