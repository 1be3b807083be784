"""The held-out report (ood_study.validity) on hand-made inputs; published cells typed in from
docs/methods.md §6, not read from the code."""

import math

import numpy as np
import pandas as pd
import pytest

from ood_study import validity as V


def test_kendall_tau_hand_cases():
    assert V.kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert V.kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    # pairs (1,2) concordant, (1,3) concordant, (2,3) discordant: (2 - 1) / 3
    assert V.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(V.kendall_tau([1], [1]))
    with pytest.raises(ValueError, match="differ in length"):
        V.kendall_tau([1, 2], [1, 2, 3])


def _cells(fpr, auroc):
    return {"fpr95": fpr / 100, "auroc": auroc / 100, "fpr95_low": (fpr - 1) / 100, "fpr95_high": (fpr + 1) / 100,
            "auroc_low": (auroc - 0.5) / 100, "auroc_high": (auroc + 0.5) / 100}


def test_heldout_table_and_errors_against_the_published_cells():
    sim = {"csp": {f"sim-{s}": _cells(10.0, 95.0) for s in ("inaturalist", "sun", "places", "textures")},
           "dnm": {f"sim-{s}": _cells(2.0, 99.0) for s in ("inaturalist", "sun", "places", "textures")}}
    table = V.heldout_table(sim, methods=("csp", "dnm")).set_index(["method", "set"])
    # CSP published (FPR95 / AUROC): 1.54 / 99.60, 13.66 / 96.66, 29.32 / 92.90, 25.52 / 93.86
    assert table.loc[("csp", "inaturalist"), "auroc_err"] == pytest.approx(95.0 - 99.60)
    assert table.loc[("csp", "places"), "fpr95_err"] == pytest.approx(10.0 - 29.32)
    assert table.loc[("csp", "sun"), "auroc_low"] == pytest.approx(94.5)
    # DNM: only iNaturalist (1.78 / 99.51) is known; SUN FPR95 16.90 is shown as unconfirmed
    assert table.loc[("dnm", "inaturalist"), "auroc_err"] == pytest.approx(99.0 - 99.51)
    assert np.isnan(table.loc[("dnm", "sun"), "auroc_pub"]) and np.isnan(table.loc[("dnm", "sun"), "fpr95_err"])
    assert table.loc[("dnm", "sun"), "unconfirmed_fpr95"] == 16.90
    summary = V.error_summary(table.reset_index())
    csp_auroc = np.mean([abs(95 - 99.60), abs(95 - 96.66), abs(95 - 92.90), abs(95 - 93.86)])
    assert summary.loc["csp", "auroc_mae"] == pytest.approx(csp_auroc)
    assert summary.loc["csp", "fpr95_mae"] == pytest.approx(np.mean([8.46, 3.66, 19.32, 15.52]))
    assert summary.loc["dnm", "n_auroc"] == 1 and summary.loc["dnm", "auroc_mae"] == pytest.approx(0.51)


def test_rank_agreement_counts_only_pairs_with_a_held_out_method():
    rows = [  # one set, four methods; MCM < NegLabel < CSP < AdaNeg published
        ("mcm", 90.0, 89.0), ("neglabel", 91.0, 95.0), ("csp", 92.0, 94.0), ("adaneg", 93.0, 96.0),
        ("dnm", np.nan, 94.0),  # no published AUROC: not compared
    ]
    auroc = pd.DataFrame([{"method": m, "set": "sun", "auroc_pub": p, "auroc": s} for m, p, s in rows])
    comparisons = V.order_agreement(auroc)
    # 6 pairs among the 4 known methods, minus (mcm, neglabel): 5
    assert len(comparisons) == 5
    assert not ((comparisons["a"] == "mcm") & (comparisons["b"] == "neglabel")).any()
    # simulated order mcm 89 < csp 94 < neglabel 95 < adaneg 96: only (neglabel, csp) is flipped
    assert comparisons["agrees"].sum() == 4
    per_set, fraction = V.rank_agreement(auroc)
    assert fraction == pytest.approx(4 / 5)
    # tau over the 4 known methods: 6 pairs, 5 concordant, 1 discordant
    assert per_set.loc["sun", "kendall_tau"] == pytest.approx((5 - 1) / 6)
    assert per_set.loc["sun", "n_methods"] == 4 and per_set.loc["sun", "n_pairs"] == 5


def _metrics_file(auroc: float, fpr: float) -> dict:
    sets = ("sim-inaturalist", "sim-sun", "sim-places", "sim-textures", "average")
    return {"AUROC": dict.fromkeys(sets, auroc), "FPR95": dict.fromkeys(sets, fpr),
            "AUROC_ci95": {s: {"low": auroc - 1, "high": auroc + 1} for s in sets},
            "FPR95_ci95": {s: {"low": fpr - 2, "high": fpr + 2} for s in sets}}


def test_metrics_files_feed_the_report_section():
    metrics = {"mcm": _metrics_file(90.0, 40.0), "neglabel": _metrics_file(95.0, 20.0),
               "csp": _metrics_file(96.0, 15.0), "adaneg": _metrics_file(97.0, 12.0), "dnm": _metrics_file(99.0, 2.0)}
    cells = V.from_metrics_files(metrics)
    assert cells["csp"]["sim-sun"] == pytest.approx({"fpr95": 0.15, "auroc": 0.96, "fpr95_low": 0.13,
                                                     "fpr95_high": 0.17, "auroc_low": 0.95, "auroc_high": 0.97})
    text = V.report_section(cells, "T")
    # CSP published AUROC 99.60 / 96.66 / 92.90 / 93.86 against 96 everywhere: mean |error| 2.375 -> missed
    import re

    found = re.search(r"CSP mean abs AUROC error ([0-9.]+) \(missed", text)
    assert found and float(found.group(1)) == pytest.approx((3.60 + 0.66 + 3.10 + 2.14) / 4, abs=0.006)
    # AdaNeg 99.71 / 97.44 / 94.55 / 94.93 against 97: (2.71 + 0.44 + 2.45 + 2.07) / 4 = 1.9175 -> met
    assert "AdaNeg 1.92 (met)" in text
    assert "96.00 [95.00, 97.00]" in text

    from ood_study.report import validity_sections

    class _Params:  # the one call validity_sections makes
        def sets(self, benchmark):
            from types import SimpleNamespace
            return SimpleNamespace(simulation={"world": "fitted"})

    assert validity_sections(_Params(), {m: metrics[m] for m in ("mcm", "neglabel")}) == []
    assert "fitted world" in validity_sections(_Params(), metrics)[0]
