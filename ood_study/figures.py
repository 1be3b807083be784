"""Figure conventions shared by every notebook: one colour and one order per method, rejected
settings marked rather than dropped, every metric drawn with its interval.

Colours belong to the methods (``Method.color`` in :mod:`ood_core.methods`); the order is the
order of ``methods:`` in ``params.yaml`` (the papers' order), else the order given.

Intervals: a metric column ``m`` (``auroc``, ``fpr95``, in %) comes with ``m_low`` and ``m_high``,
the 95 % bootstrap percentile interval over images that :mod:`ood_study.experiments` writes to
every sweep row (NaN on rejected rows). :func:`line_with_band` and :func:`twin_lines_with_bands`
draw it as a shaded band (or error bars), :func:`bars_with_intervals` as error bars on bars; a
table without the interval columns is an error, not a figure without error bars.
"""

from __future__ import annotations

import numpy as np

from ood_core import methods as _methods

__all__ = ["titled", "method_order", "method_palette", "mark_rejected", "plot_columns", "BAND_NOTE",
           "interval_columns", "line_with_band", "twin_lines_with_bands", "bars_with_intervals", "delta_panel",
           "LINE_STYLES", "zoom_to_intervals", "legend_outside",
           "false_negative_dose_figure"]

#: (line style, marker) pairs, each distinguishable from the others in grey print and where lines
#: coincide (a curve of one colour drawn twice stays two curves): series i takes LINE_STYLES[i].
LINE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1, 1, 1)), "v"))

BAND_NOTE = "shaded: 95 % bootstrap interval over images"
REJECTED_LABEL = "rejected setting (see the table)"

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
    only its ``"average"`` rows are used. The marks sit at the bottom edge in axes coordinates, so
    they stay there when the y-limits change later and never rescale the axis.
    """
    rejected = sweep[(sweep["ood_set"] == "average") & ~sweep["valid"].astype(bool)]
    colours = {m: _methods.get(m).color for m in rejected["method"].unique()}
    return _mark_rows(ax, rejected, "value", "method", colours)


def _mark_rows(ax, rejected, x: str, hue: str | None, colours: dict, label: str = REJECTED_LABEL) -> int:
    """An ``x`` per row of ``rejected`` at the bottom edge of ``ax``, coloured by its ``hue``."""
    if rejected.empty:
        return 0
    groups = rejected.groupby(hue, sort=False) if hue else [(None, rejected)]
    for i, (key, rows) in enumerate(groups):
        ax.scatter(rows[x].to_numpy(float), np.zeros(len(rows)), marker="x", s=60, color=colours[key],
                   transform=ax.get_xaxis_transform(), clip_on=False, zorder=5, label=label if i == 0 else None)
    return len(rejected)


def interval_columns(metric: str) -> tuple[str, str]:
    """The columns holding ``metric``'s 95 % interval: ``(metric_low, metric_high)``."""
    return f"{metric}_low", f"{metric}_high"


def _require_columns(frame, columns, why: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {missing} ({why}); it has {list(frame.columns)}. "
                         "Sweeps of ood_study.experiments carry auroc_low/auroc_high/fpr95_low/fpr95_high: "
                         "recompute the table with the current code")


def _require_one_row_each(frame, keys) -> None:
    repeated = frame[frame.duplicated(keys, keep=False)]
    if not repeated.empty:
        raise ValueError(f"several rows per {keys} (e.g. {repeated[keys].iloc[0].tolist()}): pick one row "
                         "each first, e.g. sweep[sweep.ood_set == 'average']")


def _require_intervals(drawn, metric: str, keys) -> None:
    """Every scored row carries its interval: a NaN bound would silently drop its band or bar."""
    low_col, high_col = interval_columns(metric)
    gaps = drawn[drawn[[low_col, high_col]].isna().any(axis=1)]
    if not gaps.empty:
        raise ValueError(f"{len(gaps)} scored row(s) have no {metric} interval (NaN {low_col}/{high_col}), "
                         f"e.g. {gaps[keys].iloc[0].tolist()}; every scored row must carry one (metrics files "
                         "written before the intervals existed: rerun their score stage, `dvc repro`)")


def _valid_rows(frame, metric: str):
    """Rows that were scored: ``valid`` (when present) and a finite ``metric``."""
    ok = np.isfinite(frame[metric].to_numpy(float))
    if "valid" in frame.columns:
        ok &= frame["valid"].astype(bool).to_numpy()
    return frame[ok], frame[~ok]


def _series(frame, hue: str | None, order, palette, color, label):
    """``[(key, display label, colour)]`` of the series in ``frame``, in drawing order.

    ``hue="method"`` takes registry names (``"dnm"``) and gives the display name and the method's
    colour; any other ``hue`` uses ``palette`` (value -> colour) or matplotlib's colour cycle.
    """
    if hue is None:
        return [(None, label, color or "C0")]
    present = list(dict.fromkeys(frame[hue]))
    # ``order`` first; a value it does not name still gets drawn (last), never silently dropped.
    keys = list(dict.fromkeys([*(k for k in (order or ()) if k in present), *present]))
    if hue == "method":
        return [(k, _methods.get(k).title, (palette or {}).get(k, _methods.get(k).color)) for k in keys]
    palette = palette or {k: f"C{i}" for i, k in enumerate(present)}
    return [(k, str(k), palette[k]) for k in keys]


def line_with_band(ax, frame, x: str, metric: str, hue: str | None = None, *, interval: str | None = "band",
                   order=None, palette: dict | None = None, color=None, label: str | None = None,
                   marker: str = "o", linestyle: str = "-", alpha: float = 0.2, mark_rejected: bool = True) -> list:
    """Draw ``metric`` against ``x`` on ``ax``, one line per ``hue`` value, with its 95 % interval.

    ``frame``: one row per (hue value, x), e.g. a sweep's ``"average"`` rows, with ``metric`` and,
    unless ``interval=None``, its :func:`interval_columns`. ``interval``: ``"band"`` (a shaded
    ``fill_between`` in the line's colour), ``"bars"`` (error bars) or ``None`` (an exact quantity
    such as a false-negative share, which has no sampling error). ``hue``: ``"method"`` (registry
    names: display names and the method colours), another column (``palette`` or the colour
    cycle), or ``None`` (one line, ``color`` and ``label``). ``order``: hue values in drawing
    order (default: as they appear; values it omits come last).

    Rows with ``valid=False`` or a NaN metric are not drawn; with ``mark_rejected`` each gets an
    ``x`` at the bottom of the axis in its series' colour (one legend entry). Returns the lines
    (``Line2D``), in drawing order. Raises ``ValueError`` for a missing column, several rows for
    one (hue value, x), or a valid row without an interval.
    """
    if interval not in ("band", "bars", None):
        raise ValueError(f"interval={interval!r}; valid: 'band', 'bars' or None")
    low_col, high_col = interval_columns(metric)
    needed = [x, metric, *([hue] if hue else []), *((low_col, high_col) if interval else ())]
    _require_columns(frame, needed, f"needed to draw {metric!r} with its interval" if interval
                     else f"needed to draw {metric!r}")
    keys = [x, *([hue] if hue else [])]
    _require_one_row_each(frame, keys)
    drawn, rejected = _valid_rows(frame, metric)
    if interval:
        _require_intervals(drawn, metric, keys)
    lines, colours = [], {}
    for key, name, colour in _series(frame, hue, order, palette, color, label):
        colours[key] = colour
        rows = (drawn if hue is None else drawn[drawn[hue] == key]).sort_values(x)
        if rows.empty:
            continue
        xs, ys = rows[x].to_numpy(float), rows[metric].to_numpy(float)
        (line,) = ax.plot(xs, ys, marker=marker, linestyle=linestyle, color=colour, label=name)
        if interval == "band":
            ax.fill_between(xs, rows[low_col].to_numpy(float), rows[high_col].to_numpy(float), color=colour,
                            alpha=alpha, linewidth=0)
        elif interval == "bars":
            yerr = np.vstack([ys - rows[low_col].to_numpy(float), rows[high_col].to_numpy(float) - ys])
            ax.errorbar(xs, ys, yerr=yerr, fmt="none", ecolor=colour, capsize=3, elinewidth=1)
        lines.append(line)
    if mark_rejected:
        _mark_rows(ax, rejected, x, hue, colours)
    return lines


def twin_lines_with_bands(ax, frame, x: str, left: str = "auroc", right: str = "fpr95", *,
                          colors=("C0", "C3"), labels=(None, None), intervals=("band", "band")):
    """Two metrics of one series against ``x``: ``left`` on ``ax``, ``right`` on a twin y-axis.

    Each metric is drawn by :func:`line_with_band` (``intervals``: its ``interval`` argument per
    side; ``None`` for an exact quantity) in its colour, circles and a solid line on the left,
    squares and a dashed line on the right; each y-label (default ``"AUROC (%)"`` etc.) takes its
    metric's colour. Rejected rows are marked once, on the left axis. Returns the twin axis.
    """
    for metric, interval in ((left, intervals[0]), (right, intervals[1])):  # check both before drawing either
        _require_columns(frame, [x, metric, *(interval_columns(metric) if interval else ())],
                         f"needed to draw {metric!r} on the twin axes")
    twin = ax.twinx()
    twin.grid(False)  # one grid (the left axis'), else the two tick sets cross-hatch the panel
    for side, metric, colour, ylabel, interval, marker, style in (
            (ax, left, colors[0], labels[0], intervals[0], "o", "-"),
            (twin, right, colors[1], labels[1], intervals[1], "s", "--")):
        line_with_band(side, frame, x, metric, interval=interval, color=colour, label=ylabel or metric,
                       marker=marker, linestyle=style, mark_rejected=side is ax)
        side.set_ylabel(ylabel or f"{metric.upper()} (%)", color=colour)
    return twin


def bars_with_intervals(ax, frame, x: str, metric: str, hue: str = "method", *, kind: str = "bar", order=None,
                        hue_order=None, palette: dict | None = None, width: float = 0.8) -> list:
    """``metric`` per ``x`` group, one dodged bar or point per ``hue`` value, with the 95 % interval
    as error bars; ``hue="method"`` takes registry names as :func:`line_with_band`.

    ``kind``: ``"bar"`` (bars from 0: intervals of a point or two on a 0-100 % axis are barely
    visible) or ``"point"`` (a marker with its interval, the y-axis fitted to the intervals).
    ``frame``: one row per (x, hue) with ``metric`` and its :func:`interval_columns`. ``order`` /
    ``hue_order``: the groups / bars in drawing order (default: as they appear). Rows that were
    not scored (``valid=False`` or NaN) leave an empty slot. Returns the containers (``BarContainer``
    or ``ErrorbarContainer``), one per hue value. Raises ``ValueError`` for a missing column, several
    rows for one (x, hue), or a scored row without an interval.
    """
    if kind not in ("bar", "point"):
        raise ValueError(f"kind={kind!r}; valid: 'bar' or 'point'")
    low_col, high_col = interval_columns(metric)
    _require_columns(frame, [x, hue, metric, low_col, high_col], f"needed to draw {metric!r} with its interval")
    _require_one_row_each(frame, [x, hue])
    drawn, _ = _valid_rows(frame, metric)
    _require_intervals(drawn, metric, [x, hue])
    groups = list(dict.fromkeys(order if order is not None else frame[x]))
    series = _series(frame, hue, hue_order, palette, None, None)
    step = width / max(len(series), 1)
    containers = []
    for i, (key, name, colour) in enumerate(series):
        rows = drawn[(drawn[hue] == key) & drawn[x].isin(groups)]
        rows = rows.iloc[np.argsort([groups.index(g) for g in rows[x]], kind="stable")]  # left to right
        pos = np.array([groups.index(g) for g in rows[x]], float) - width / 2 + step * (i + 0.5)
        ys = rows[metric].to_numpy(float)
        yerr = np.vstack([ys - rows[low_col].to_numpy(float), rows[high_col].to_numpy(float) - ys])
        if kind == "bar":
            containers.append(ax.bar(pos, ys, step, yerr=yerr, color=colour, label=name, capsize=2,
                                     error_kw={"elinewidth": 1, "ecolor": "0.2"}))
        else:
            containers.append(ax.errorbar(pos, ys, yerr=yerr, fmt="o", color=colour, label=name, capsize=3,
                                          elinewidth=1.5, markersize=6))
    ax.set_xticks(range(len(groups)), [str(g) for g in groups])
    if kind == "point":
        ax.set_xlim(-0.5, len(groups) - 0.5)
    return containers


def zoom_to_intervals(ax, frame, metric: str, pad: float = 0.08, bounds=(0.0, 100.0)) -> tuple[float, float]:
    """Set ``ax``'s y-limits to the span of ``metric``'s intervals in ``frame`` (its
    :func:`interval_columns` and the values, NaN rows ignored), padded by ``pad`` of the span on
    each side and kept within ``bounds`` (percent): AUROCs of 88-99 % fill the axis instead of a
    sliver of a 0-100 axis. Returns the limits."""
    low_col, high_col = interval_columns(metric)
    _require_columns(frame, [metric, low_col, high_col], f"needed to zoom on {metric!r}")
    values = frame[[metric, low_col, high_col]].to_numpy(float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(f"no finite {metric} value or bound to zoom on")
    lo, hi = float(values.min()), float(values.max())
    margin = max(hi - lo, 0.5) * pad
    limits = (max(bounds[0], lo - margin), min(bounds[1], hi + margin))
    ax.set_ylim(*limits)
    return limits


def legend_outside(ax, **kwargs):
    """The legend of ``ax`` right of its plotting area (never over the data); ``kwargs`` go to
    ``ax.legend``. Save with ``bbox_inches="tight"`` (``Notebook.save_figure`` does) to keep it."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


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


DOSE_VARIANTS = ("neglabel", "oracle", "params", "auto")
"""The variants of :func:`ood_study.experiments.false_negative_dose_sweep`, in legend order."""


def false_negative_dose_figure(average, params_tau: float, estimator: str, title: str):
    """Notebook 09's dose figure: a new ``matplotlib`` figure with three panels.

    ``average``: the valid ``"average"`` rows of a :func:`~ood_study.experiments.false_negative_dose_sweep`
    (``value`` = rho as a fraction; ``auroc``, ``fpr95`` and their ``*_low`` / ``*_high`` in %; ``variant``;
    ``false_negative_rate`` in %; ``tau``, ``tau_low``, ``tau_high`` fractions). Panels 1 and 2: average
    AUROC and FPR95 against ``100 * rho``, one line per variant present (:data:`DOSE_VARIANTS` order:
    NegLabel, DNM at tau = rho, DNM at ``params_tau``, DNM with tau estimated), each with its 95 %
    bootstrap band; panel 3: the ``auto`` variant's estimated tau (%) with its interval as error bars
    against the true ID-like share, beside the line y = x. ``estimator`` names the estimate in the legend.
    """
    import matplotlib.pyplot as plt

    _require_columns(average, ["variant", "value", "auroc", "fpr95", *interval_columns("auroc"),
                               *interval_columns("fpr95"), "false_negative_rate", "tau", "tau_low", "tau_high"],
                     "the dose figure")
    dnm_auto = _methods.get("dnm_auto").color
    variants = {  # label, colour; each its own (line style, marker): NegLabel and DNM at rho = 0 coincide
        "neglabel": ("NegLabel", _methods.get("neglabel").color),
        "oracle": ("DNM, tau = rho (oracle)", _methods.get("dnm").color),
        "params": (f"DNM, tau = {params_tau} (params)", "0.35"),
        "auto": ("DNM, tau estimated", dnm_auto),
    }
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, label in ((axes[0], "auroc", "average AUROC (%)"), (axes[1], "fpr95", "average FPR95 (%)")):
        for variant, (style, marker) in zip(DOSE_VARIANTS, LINE_STYLES):
            rows = average[average["variant"] == variant].sort_values("value")
            if rows.empty:
                continue
            name, colour = variants[variant]
            x = 100 * rows["value"].to_numpy(float)
            ax.plot(x, rows[metric].to_numpy(float), linestyle=style, marker=marker, color=colour, label=name,
                    alpha=0.9)
            low, high = interval_columns(metric)
            ax.fill_between(x, rows[low].to_numpy(float), rows[high].to_numpy(float), color=colour, alpha=0.12)
        ax.set(xlabel="rho: ID-like share of the negatives (%)", ylabel=label)
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(0.0, -0.28), ncol=2)  # below the data
    ax = axes[2]
    rows = average[average["variant"] == "auto"].sort_values("false_negative_rate")
    x = rows["false_negative_rate"].to_numpy(float)
    tau, tau_low, tau_high = (100 * rows[c].to_numpy(float) for c in ("tau", "tau_low", "tau_high"))
    ax.plot(x, x, "-", color="0.4", label="y = rho (truth)")
    ax.errorbar(x, tau, yerr=[tau - tau_low, tau_high - tau], fmt="o--", capsize=3, color=dnm_auto,
                label=f"estimate, 95 % bootstrap ({estimator})")
    ax.set(xlabel="rho: ID-like share of the negatives (%)", ylabel="estimated tau (%)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(0.0, -0.28))  # below the data
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def delta_panel(ax, rows, x: str, label: str, metric: str = "auroc") -> None:
    """One panel of an ablation's paired Δ (:func:`ood_study.experiments.paired_delta_rows` rows):
    the average ``metric``'s difference from the params.yaml setting against ``x``, with its paired
    95 % interval as error bars; filled red points where the interval excludes 0 (significant),
    open blue ones where it does not; a grey line at 0."""
    avg = rows[rows.ood_set == "average"].sort_values(x)
    d, low, high = avg[f"delta_{metric}"], avg[f"delta_{metric}_low"], avg[f"delta_{metric}_high"]
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.errorbar(avg[x], d, yerr=[(d - low).clip(lower=0), (high - d).clip(lower=0)], fmt="none", ecolor="0.3",
                capsize=3)
    sig = avg[f"significant_{metric}"].astype(bool)
    ax.plot(avg[x][sig], d[sig], "o", color="C3", label="paired interval excludes 0")
    ax.plot(avg[x][~sig], d[~sig], "o", mfc="white", color="C0", label="not significant")
    ax.set(xlabel=label, ylabel=f"Δ average {metric.upper()} vs params.yaml (% points)")
