"""Figure conventions: one colour and order per method; rejected settings marked, not dropped."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

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
    assert marks.get_offsets().tolist() == [[1.0, ax.get_ylim()[0]]]
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
