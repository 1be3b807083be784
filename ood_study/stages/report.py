"""Stage ``report``: ``results/report.md``, every study's main table (and the published one)."""

from __future__ import annotations

from ood_study.layout import Layout, write_text_atomic
from ood_study.params import StudyParams
from ood_study.report import build_report
from ood_study.stages import log, stage_main

PARAMS = ("benchmarks", "backbones", "methods", "benchmark_sets")


def run(params: StudyParams, layout: Layout) -> None:
    text = build_report(params, layout)
    write_text_atomic(layout.report, text)  # a failed write keeps the previous report
    log("report", f"wrote {layout.report}")


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, argv=argv)


if __name__ == "__main__":
    main()
