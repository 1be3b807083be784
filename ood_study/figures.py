"""Figure conventions shared by every notebook: one colour and one order per method, rejected
settings marked rather than dropped.

Colours belong to the methods (``Method.color`` in :mod:`ood_core.methods`); the order is the
order of ``methods:`` in ``params.yaml`` (the papers' order), else the order given.
"""

from __future__ import annotations

from ood_core import methods as _methods

__all__ = ["titled", "method_order", "method_palette", "mark_rejected", "plot_columns"]


def titled(sweep, column: str = "method"):
    """A copy of ``sweep`` whose ``column`` holds display names (``"dnm"`` -> ``"DNM"``)."""
    return sweep.assign(**{column: [_methods.get(m).title for m in sweep[column]]})


def method_order(names) -> list[str]:
    """Display names of ``names`` in the given order, each once (for ``hue_order``)."""
    return [_methods.get(m).title for m in dict.fromkeys(names)]


def method_palette(names) -> dict[str, str]:
    """Display name -> colour for ``names`` (for seaborn's ``palette``)."""
    return {_methods.get(m).title: _methods.get(m).color for m in names}


def mark_rejected(ax, sweep, metric: str, parameter_label: str | None = None) -> int:
    """Mark the settings a method rejected (rows with ``valid=False``) on ``ax``: an ``x`` in the
    method's colour at the bottom of the axis, one legend entry. Returns how many were marked.

    ``sweep`` has the columns of :mod:`ood_study.experiments` sweeps (``method`` as registry names);
    only its ``"average"`` rows are used.
    """
    rejected = sweep[(sweep["ood_set"] == "average") & ~sweep["valid"].astype(bool)]
    if rejected.empty:
        return 0
    bottom, top = ax.get_ylim()
    for i, (method, rows) in enumerate(rejected.groupby("method", sort=False)):
        label = "rejected setting (see the table)" if i == 0 else None
        ax.scatter(rows["value"], [bottom] * len(rows), marker="x", s=60, color=_methods.get(method).color,
                   clip_on=False, zorder=5, label=label)
    ax.set_ylim(bottom, top)  # the marks sit on the axis; they must not rescale it
    return len(rejected)


def plot_columns(sweep, tag: str, backbone: str | None):
    """``sweep`` plus the two columns the DVC plot template (``.dvc/plots/sweep.json``) draws by.

    ``series``: one line per OOD set when the sweep has one method, else one line per method
    (its average over the OOD sets; other rows get ``""`` and are not drawn). ``panel``: one panel
    per swept parameter, titled with the benchmark tag (``SIMULATED benchmark``) and backbone.
    """
    one_method = sweep["method"].nunique() == 1
    if one_method:
        series = list(sweep["ood_set"])
    else:
        series = [_methods.get(m).title if s == "average" else "" for m, s in zip(sweep["method"], sweep["ood_set"])]
    where = f"{tag}, {backbone}" if backbone else tag
    return sweep.assign(series=series, panel=[f"{p} ({where})" for p in sweep["parameter"]])
