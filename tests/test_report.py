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
