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
