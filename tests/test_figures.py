"""Figure conventions: one colour and order per method; rejected settings marked, not dropped."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from ood_core import methods  # noqa: E402
from ood_study import figures  # noqa: E402


def test_every_method_has_its_own_colour_and_the_order_is_the_given_one():
    colours = [m.color for m in methods.all_methods()]
    assert len(set(colours)) == len(colours) and all(c.startswith("#") and len(c) == 7 for c in colours)
    assert figures.method_order(["dnm", "mcm", "dnm"]) == ["DNM", "MCM"]
    assert figures.method_palette(["csp"]) == {"CSP": methods.get("csp").color}
    assert list(figures.titled(pd.DataFrame({"method": ["neglabel"]})).method) == ["NegLabel"]


def test_rejected_settings_are_marked_at_the_bottom_in_the_method_colour():
    sweep = pd.DataFrame({"method": ["dnm", "dnm", "dnm", "csp"], "value": [1, 10, 1, 1],
                          "ood_set": ["average", "average", "sun", "average"],
                          "valid": [False, True, False, True], "auroc": [float("nan"), 90.0, float("nan"), 91.0]})
    fig, ax = plt.subplots()
    ax.plot([1, 10], [80, 95])
    assert figures.mark_rejected(ax, sweep, "auroc") == 1  # one average row rejected
    (marks,) = ax.collections
    ax.set_ylim(70, 100)  # the marks stay on the bottom edge when the axis is rescaled later
    assert _display_points(marks) == [tuple(ax.transData.transform((1.0, 70.0)).round(6))]
    assert marks.get_facecolor()[0].tolist() == list(to_rgba(methods.get("dnm").color))
    assert ax.get_legend_handles_labels()[1] == ["rejected setting (see the table)"]
    assert figures.mark_rejected(ax, sweep[sweep.valid], "auroc") == 0
    plt.close(fig)


def test_plot_columns_give_one_line_per_ood_set_or_per_method_and_a_labelled_panel():
    one = pd.DataFrame({"method": ["dnm"] * 2, "parameter": ["tau"] * 2, "value": [0.0, 0.5],
                        "ood_set": ["sim-sun", "average"]})
    got = figures.plot_columns(one, "SIMULATED benchmark", "ViT-B-16")
    assert list(got.series) == ["sim-sun", "average"]
    assert set(got.panel) == {"tau (SIMULATED benchmark, ViT-B-16)"}
    many = pd.DataFrame({"method": ["mcm", "mcm", "dnm"], "parameter": ["temperature"] * 3, "value": [1.0] * 3,
                         "ood_set": ["sim-sun", "average", "average"]})
    assert list(figures.plot_columns(many, "x", None).series) == ["", "MCM", "DNM"]
    assert "series" not in many  # the caller's table is not changed


NAN = float("nan")


def _display_points(collection):
    """The offsets of a scatter collection in display (pixel) coordinates, rounded."""
    pts = collection.get_offset_transform().transform(collection.get_offsets())
    return [tuple(p) for p in np.round(pts, 6)]


def _sweep_with_intervals():
    """Two methods over three x values; DNM rejected x = 10 (NaN metrics and interval)."""
    return pd.DataFrame({
        "method": ["dnm", "dnm", "dnm", "neglabel", "neglabel", "neglabel"],
        "value": [5.0, 1.0, 10.0, 1.0, 5.0, 10.0],  # unsorted: lines are drawn in x order
        "ood_set": ["average"] * 6,
        "valid": [True, True, False, True, True, True],
        "auroc": [91.0, 90.0, NAN, 85.0, 86.0, 88.0],
        "auroc_low": [90.5, 89.0, NAN, 84.0, 85.5, 87.0],
        "auroc_high": [91.2, 90.4, NAN, 85.5, 86.9, 88.5],
        "fpr95": [30.0, 33.0, NAN, 50.0, 48.0, 45.0],
        "fpr95_low": [28.0, 31.0, NAN, 47.0, 46.0, 44.0],
        "fpr95_high": [33.0, 35.0, NAN, 52.0, 51.0, 47.5],
    })


def _band_vertices(band):
    return {tuple(v) for v in np.round(band.get_paths()[0].vertices, 9)}


def test_band_vertices_are_the_interval_columns_and_rejected_rows_are_not_drawn():
    fig, ax = plt.subplots()
    lines = figures.line_with_band(ax, _sweep_with_intervals(), "value", "auroc", hue="method",
                                   order=["neglabel", "dnm"])
    # One line per method, in the given order, display names and registry colours.
    assert [ln.get_label() for ln in lines] == ["NegLabel", "DNM"]
    assert [ln.get_color() for ln in lines] == [methods.get("neglabel").color, methods.get("dnm").color]
    assert lines[0].get_xdata().tolist() == [1.0, 5.0, 10.0]
    assert lines[0].get_ydata().tolist() == [85.0, 86.0, 88.0]
    assert lines[1].get_xdata().tolist() == [1.0, 5.0]  # the rejected x = 10 is not on DNM's line
    assert lines[1].get_ydata().tolist() == [90.0, 91.0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    # The polygon's corners are exactly (x, low) and (x, high) of the valid rows: nothing at x = 10 for DNM.
    assert _band_vertices(bands[0]) == {(1.0, 84.0), (5.0, 85.5), (10.0, 87.0), (1.0, 85.5), (5.0, 86.9),
                                        (10.0, 88.5)}
    assert _band_vertices(bands[1]) == {(1.0, 89.0), (5.0, 90.5), (1.0, 90.4), (5.0, 91.2)}
    assert to_rgba(bands[1].get_facecolor()[0], 1.0) == to_rgba(methods.get("dnm").color)
    # The rejected setting: one x at the bottom edge, in DNM's colour, one legend entry.
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert _display_points(marks) == [tuple(np.round(ax.transData.transform((10.0, ax.get_ylim()[0])), 6))]
    assert ax.get_legend_handles_labels()[1] == ["NegLabel", "DNM", "rejected setting (see the table)"]
    fig2, ax2 = plt.subplots()  # a method the order omits is drawn last, not dropped
    omitted = figures.line_with_band(ax2, _sweep_with_intervals(), "value", "auroc", hue="method", order=["dnm"])
    assert [ln.get_label() for ln in omitted] == ["DNM", "NegLabel"]
    plt.close(fig2)
    plt.close(fig)


def test_error_bars_span_the_interval():
    fig, ax = plt.subplots()
    rows = _sweep_with_intervals().query("method == 'neglabel'")
    (line,) = figures.line_with_band(ax, rows, "value", "fpr95", interval="bars", color="k", label="NegLabel")
    assert line.get_label() == "NegLabel" and line.get_ydata().tolist() == [50.0, 48.0, 45.0]
    (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = sorted(tuple(map(tuple, seg)) for seg in bars.get_segments())
    assert segments == [((1.0, 47.0), (1.0, 52.0)), ((5.0, 46.0), (5.0, 51.0)), ((10.0, 44.0), (10.0, 47.5))]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band
    plt.close(fig)


def test_hue_other_than_method_uses_the_colour_cycle_and_an_exact_quantity_needs_no_interval():
    frame = pd.DataFrame({"ood_set": ["a", "a", "b", "b"], "value": [0.0, 1.0, 0.0, 1.0],
                          "share": [1.0, 2.0, 3.0, 4.0]})
    fig, ax = plt.subplots()
    lines = figures.line_with_band(ax, frame, "value", "share", hue="ood_set", interval=None)
    assert [(ln.get_label(), ln.get_color()) for ln in lines] == [("a", "C0"), ("b", "C1")]
    assert not ax.collections  # no band, nothing rejected
    with pytest.raises(ValueError, match=r"\['share_low', 'share_high'\]"):
        figures.line_with_band(ax, frame, "value", "share", hue="ood_set")
    plt.close(fig)


def test_missing_interval_columns_duplicates_and_unexplained_gaps_are_errors():
    sweep = _sweep_with_intervals()
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"no column\(s\) \['auroc_low', 'auroc_high'\]"):
        figures.line_with_band(ax, sweep.drop(columns=["auroc_low", "auroc_high"]), "value", "auroc", hue="method")
    with pytest.raises(ValueError, match=r"\['fpr95_high'\]"):
        figures.twin_lines_with_bands(ax, sweep.query("method == 'dnm'").drop(columns="fpr95_high"), "value")
    with pytest.raises(ValueError, match="several rows per"):  # two methods, no hue: not one line
        figures.line_with_band(ax, sweep, "value", "auroc")
    gap = sweep.assign(auroc_low=sweep.auroc_low.where(sweep.value != 5.0))  # a valid row without an interval
    with pytest.raises(ValueError, match="scored row"):
        figures.line_with_band(ax, gap, "value", "auroc", hue="method")
    with pytest.raises(ValueError, match="interval="):
        figures.line_with_band(ax, sweep, "value", "auroc", hue="method", interval="shaded")
    assert not ax.lines and not ax.collections  # nothing drawn before an error
    plt.close(fig)


def test_twin_axes_draw_both_metrics_with_their_bands():
    fig, ax = plt.subplots()
    twin = figures.twin_lines_with_bands(ax, _sweep_with_intervals().query("method == 'dnm'"), "value")
    (left_band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    (right_band,) = [c for c in twin.collections if isinstance(c, PolyCollection)]
    assert _band_vertices(left_band) == {(1.0, 89.0), (5.0, 90.5), (1.0, 90.4), (5.0, 91.2)}
    assert _band_vertices(right_band) == {(1.0, 31.0), (5.0, 28.0), (1.0, 35.0), (5.0, 33.0)}
    assert ax.get_ylabel() == "AUROC (%)" and twin.get_ylabel() == "FPR95 (%)"
    assert ax.lines[0].get_color() == "C0" and twin.lines[0].get_color() == "C3"
    assert twin.lines[0].get_linestyle() == "--"
    # The rejected x = 10 is marked once, on the left axis.
    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 1
    assert not [c for c in twin.collections if isinstance(c, PathCollection)]
    plt.close(fig)


def test_bars_stand_in_their_groups_with_the_interval_as_error_bars():
    frame = pd.DataFrame({"backbone": ["B", "B", "A", "A"], "method": ["dnm", "mcm", "dnm", "mcm"],
                          "auroc": [90.0, 80.0, 70.0, NAN], "auroc_low": [89.0, 78.0, 69.5, NAN],
                          "auroc_high": [90.5, 81.0, 71.0, NAN], "valid": [True, True, True, False]})
    fig, ax = plt.subplots()
    dnm, mcm = figures.bars_with_intervals(ax, frame, "backbone", "auroc", order=["A", "B"],
                                           hue_order=["dnm", "mcm"])
    # Group A at 0, B at 1; of width 0.8, DNM takes the left half, MCM the right half.
    assert [(round(p.get_x(), 9), round(p.get_width(), 9), p.get_height()) for p in dnm.patches] == [(-0.4, 0.4, 70.0),
                                                                                            (0.6, 0.4, 90.0)]
    assert [(round(p.get_x(), 9), p.get_height()) for p in mcm.patches] == [(1.0, 80.0)]  # MCM on A: not scored
    assert to_rgba(mcm.patches[0].get_facecolor()) == to_rgba(methods.get("mcm").color)
    segments = [np.round(s, 9).tolist() for s in dnm.errorbar.lines[2][0].get_segments()]
    assert segments == [[[-0.2, 69.5], [-0.2, 71.0]], [[0.8, 89.0], [0.8, 90.5]]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    fig2, ax2 = plt.subplots()
    points = figures.bars_with_intervals(ax2, frame, "backbone", "auroc", kind="point", order=["A", "B"],
                                         hue_order=["dnm", "mcm"])
    assert [c.lines[0].get_xydata().round(9).tolist() for c in points] == [[[-0.2, 70.0], [0.8, 90.0]],
                                                                            [[1.2, 80.0]]]
    assert [np.round(s, 9).tolist() for s in points[1].lines[2][0].get_segments()] == [[[1.2, 78.0], [1.2, 81.0]]]
    assert [c.get_label() for c in points] == ["DNM", "MCM"]
    plt.close(fig2)
    with pytest.raises(ValueError, match=r"1 scored row\(s\) have no auroc interval"):  # e.g. an old metrics file
        figures.bars_with_intervals(ax, frame.assign(auroc_high=[90.5, NAN, 71.0, NAN]), "backbone", "auroc")
    with pytest.raises(ValueError, match=r"\['auroc_low'\]"):
        figures.bars_with_intervals(ax, frame.drop(columns="auroc_low"), "backbone", "auroc")
    plt.close(fig)


def _auroc_rows():
    """AUROCs of 88-99 % with their intervals (the squashed case of figure 01)."""
    return pd.DataFrame({"ood_set": ["a", "b", "average"], "method": ["dnm"] * 3, "value": [98.5, 88.4, 93.0],
                         "value_low": [98.1, 87.2, 92.4], "value_high": [99.0, 89.9, 93.6]})


def test_zoom_fits_the_axis_to_the_intervals_not_to_0_100():
    fig, ax = plt.subplots()
    rows = _auroc_rows()
    figures.bars_with_intervals(ax, rows, x="ood_set", metric="value", kind="point")
    low, high = figures.zoom_to_intervals(ax, rows, "value")
    # span 87.2..99.0 = 11.8, padded by 8 % of it (0.944) on each side, capped at 100
    assert (low, high) == pytest.approx((87.2 - 0.944, 99.0 + 0.944))
    assert ax.get_ylim() == pytest.approx((low, high))
    assert 87.2 - low < 1 and (high - low) < 15  # the differences fill the axis
    capped = rows.assign(value_high=[100.0, 89.9, 93.6])
    assert figures.zoom_to_intervals(ax, capped, "value")[1] == 100.0  # never beyond 100 %
    with pytest.raises(ValueError, match="no column"):
        figures.zoom_to_intervals(ax, rows.drop(columns="value_low"), "value")
    plt.close(fig)


def test_line_styles_are_pairwise_distinct():
    """Each series of a figure with coinciding curves (notebook 09's four variants) takes its own
    (line style, marker): no two series look alike even in one colour."""
    fig, ax = plt.subplots()
    x = np.array([0.0, 1.0, 2.0])
    for style, marker in figures.LINE_STYLES:
        ax.plot(x, x, linestyle=style, marker=marker, color="k")  # identical curves, one colour
    drawn = {(str(line.get_linestyle()), str(line.get_dashes() if hasattr(line, "get_dashes") else ""),
              line.get_marker()) for line in ax.get_lines()}
    assert len(drawn) == len(figures.LINE_STYLES) >= 4
    assert len({m for _, m in figures.LINE_STYLES}) == len(figures.LINE_STYLES)
    plt.close(fig)


def test_legend_outside_does_not_cover_the_data():
    fig, ax = plt.subplots(figsize=(5, 3))
    figures.line_with_band(ax, _auroc_rows().assign(x=[0, 1, 2]), "x", "value", color="C0", label="DNM")
    legend = figures.legend_outside(ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # right of the axes
    plt.close(fig)


def test_notebooks_draw_no_twin_axes_and_zoom_auroc():
    """Figures 01 and 05 use one axis per metric, zoomed to the intervals; 09 a distinct style per line."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "notebooks"
    text = {n: (folder / f"{n}.py").read_text() for n in ("01_main_results", "05_ablation_selection",
                                                           "09_false_negative_dose")}
    assert "twin_lines" not in text["05_ablation_selection"] and "zoom_to_intervals" in text["05_ablation_selection"]
    assert 'kind="point"' in text["01_main_results"] and "zoom_to_intervals" in text["01_main_results"]
    assert "figures.false_negative_dose_figure" in text["09_false_negative_dose"]
    import inspect

    dose = inspect.getsource(figures.false_negative_dose_figure)  # notebook 09's figure
    assert "LINE_STYLES" in dose
    assert "ax.legend(fontsize=\"small\")" not in dose  # default placement: on the data


def _dose_average():
    """Two doses (rho 0.0, 0.2) x four variants; auto also has its tau estimate (fractions)."""
    rows = []
    for variant, base in (("neglabel", 80.0), ("oracle", 85.0), ("params", 82.0), ("auto", 84.0)):
        for rho, shift in ((0.2, -5.0), (0.0, 0.0)):  # unsorted on purpose: the lines sort by rho
            rows.append({"variant": variant, "value": rho, "auroc": base + shift, "auroc_low": base + shift - 1,
                         "auroc_high": base + shift + 2, "fpr95": 30.0 - shift, "fpr95_low": 28.0 - shift,
                         "fpr95_high": 33.0 - shift, "false_negative_rate": 100 * rho,
                         "tau": rho + 0.01 if variant == "auto" else np.nan,
                         "tau_low": rho - 0.02 if variant == "auto" else np.nan,
                         "tau_high": rho + 0.05 if variant == "auto" else np.nan})
    return pd.DataFrame(rows)


def test_dose_figure_draws_each_variant_its_band_and_the_estimates_against_the_truth():
    fig = figures.false_negative_dose_figure(_dose_average(), params_tau=0.5, estimator="bbe", title="t")
    auroc_ax, fpr_ax, tau_ax = fig.axes[:3]
    lines = {line.get_label(): line for line in auroc_ax.get_lines()}
    assert list(lines) == ["NegLabel", "DNM, tau = rho (oracle)", "DNM, tau = 0.5 (params)", "DNM, tau estimated"]
    np.testing.assert_allclose(lines["NegLabel"].get_xdata(), [0.0, 20.0])        # 100 * rho, sorted
    np.testing.assert_allclose(lines["NegLabel"].get_ydata(), [80.0, 75.0])
    np.testing.assert_allclose(lines["DNM, tau = rho (oracle)"].get_ydata(), [85.0, 80.0])
    assert lines["DNM, tau = 0.5 (params)"].get_linestyle() == ":"
    assert to_rgba(lines["DNM, tau estimated"].get_color()) == to_rgba(methods.get("dnm_auto").color)
    fpr_lines = {line.get_label(): line for line in fpr_ax.get_lines()}
    np.testing.assert_allclose(fpr_lines["DNM, tau estimated"].get_ydata(), [30.0, 35.0])
    bands = [c for c in auroc_ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4
    ys = bands[0].get_paths()[0].vertices[:, 1]  # NegLabel's band spans its interval: 74..77 at rho 0.2
    assert ys.min() == pytest.approx(74.0) and ys.max() == pytest.approx(82.0)
    truth, = [line for line in tau_ax.get_lines() if line.get_label() == "y = rho (truth)"]
    np.testing.assert_allclose(truth.get_xdata(), [0.0, 20.0])
    np.testing.assert_allclose(truth.get_ydata(), [0.0, 20.0])
    (errorbar,) = tau_ax.containers
    np.testing.assert_allclose(errorbar.lines[0].get_ydata(), [1.0, 21.0])          # 100 * tau
    segments = errorbar.lines[2][0].get_segments()                                   # -2 / +5 points
    np.testing.assert_allclose([(s[0][1], s[1][1]) for s in segments], [(-2.0, 5.0), (18.0, 25.0)])
    assert "bbe" in errorbar.get_label()
    plt.close(fig)


def test_dose_figure_names_a_missing_column():
    with pytest.raises(ValueError, match="tau_low"):
        figures.false_negative_dose_figure(_dose_average().drop(columns="tau_low"), 0.5, "bbe", "t")
