"""The screen ``make repro`` ends with: each study's methods by average FPR95 and AUROC with intervals.

``python -m ood_study.final_table`` (``ood-study final-table``) reads the DVC summary metrics
(``metrics/<study>/summary/<method>.json``, written by the score stages) and prints, per study, one
row per method: ``FPR95 [low, high]`` and ``AUROC [low, high]`` (%, average over the study's OOD
sets, bootstrap interval at params.yaml's ``evaluation.confidence``), at most 100 columns wide,
with the study's caption (SIMULATED / RANDOM WEIGHTS where it applies) and where the full
per-set table, the figures and the report are. ``dvc metrics show`` prints every summary metric.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from ood_study.layout import Layout, study_name
from ood_study.params import PARAMS_FILE, load_params
from ood_study.report import caption

WIDTH = 100
"""The widest line printed (a terminal of 100 columns shows it unwrapped)."""


def _cell(summary: dict, key: str) -> str:
    """``"34.04 [31.27, 36.28]"`` from the summary keys ``key``, ``key_lo``, ``key_hi``; ``–`` when absent."""
    if key not in summary:
        return "–"
    value = f"{summary[key]:.2f}"
    if f"{key}_lo" in summary and f"{key}_hi" in summary:
        value += f" [{summary[f'{key}_lo']:.2f}, {summary[f'{key}_hi']:.2f}]"
    return value


def study_rows(layout: Layout, study: str, methods) -> list[tuple[str, str, str]]:
    """``(method, FPR95 cell, AUROC cell)`` per method whose summary metrics file exists (params order)."""
    rows = []
    for method in methods:
        path = layout.summary_metrics(study, method)
        if path.exists():
            summary = json.loads(path.read_text())[method]
            rows.append((method, _cell(summary, "FPR95"), _cell(summary, "AUROC")))
    return rows


def render(params_path: Path | str = PARAMS_FILE, root: Path | str = ".") -> str:
    """The final screen as text (lines <= :data:`WIDTH`)."""
    params = load_params(Path(root) / params_path if not Path(params_path).is_absolute() else params_path)
    layout = Layout(Path(root))
    confidence = params.get("evaluation").confidence
    out = []
    for benchmark in params.benchmarks:
        for backbone in params.backbones:
            study = study_name(benchmark, backbone)
            rows = study_rows(layout, study, params.methods)
            out.append("")
            out.extend(textwrap.wrap(f"{study}. {caption(benchmark, backbone)}", WIDTH))
            if not rows:
                out.append(f"  (no metrics yet: run `dvc repro` to score {study})")
                continue
            head = ("method", f"avg FPR95 % [{confidence:.0%} CI] (lower better)",
                    f"avg AUROC % [{confidence:.0%} CI] (higher better)")
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
            line = "  ".join(f"{{:<{w}}}" for w in widths)
            out.append(line.format(*head).rstrip())
            out.append("  ".join("-" * w for w in widths))
            out.extend(line.format(*r).rstrip() for r in rows)
            out.append(f"Per-set table with intervals: {layout.report.relative_to(layout.root)}; "
                       f"figures: {layout.results_dir(study).relative_to(layout.root)}/figures/")
    out.append("")
    out.append("All summary metrics: dvc metrics show; per-set detail: metrics/<study>/<method>.json")
    too_wide = [ln for ln in out if len(ln) > WIDTH]
    if too_wide:  # a method name or caption this long is a bug in the layout above, not the user's
        raise AssertionError(f"final table line over {WIDTH} columns: {too_wide[0]!r}")
    return "\n".join(out)


def main(argv=None) -> None:
    """Print each study's methods by average FPR95 and AUROC with intervals (<= 100 columns)."""
    from ood_study.stages import parser

    cli = parser(main.__doc__)
    cli.add_argument("--params", default=PARAMS_FILE, help="params file (default: params.yaml)")
    cli.add_argument("--root", default=".", help="project root (default: the current folder)")
    args = cli.parse_args(argv)
    print(render(args.params, args.root))


if __name__ == "__main__":
    main()
