"""Time each stage of a ``dvc repro``: ``dvc repro 2>&1 | python -m ood_study.stage_times``.

Echoes ``dvc repro``'s output line by line and notes when each ``Running stage 'NAME':`` line
arrives; a stage lasts until the next stage starts (or the output ends), so each time includes
DVC's own hashing and lock-file work for that stage. At the end it prints the stages by
duration (longest first, the total last) and, with ``--tsv PATH``, writes them as
``stage<TAB>seconds`` lines. Exits with ``dvc repro``'s failure when the output says it failed
(``make repro`` also sets ``pipefail``).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

RUNNING = re.compile(r"^Running stage '([^']+)':")


def stage_durations(lines_with_times) -> list[tuple[str, float]]:
    """``[(stage, seconds)]`` in run order from ``(line, arrival time in seconds)`` pairs; the last
    stage ends at the last line's time."""
    starts: list[tuple[str, float]] = []
    last = None
    for line, t in lines_with_times:
        last = t
        match = RUNNING.match(line)
        if match:
            starts.append((match.group(1), t))
    ends = [t for _, t in starts[1:]] + ([last] if starts else [])
    return [(name, end - start) for (name, start), end in zip(starts, ends)]


def format_durations(durations: list[tuple[str, float]]) -> str:
    """The stages longest first, then the total, one per line (``  123.4 s  stage``)."""
    width = max((len(n) for n, _ in durations), default=5)
    rows = [f"{s:8.1f} s  {n}" for n, s in sorted(durations, key=lambda d: -d[1])]
    rows.append(f"{sum(s for _, s in durations):8.1f} s  {'total':<{width}} ({len(durations)} stages run)")
    return "\n".join(rows)


def main(argv=None) -> None:
    """Echo ``dvc repro``'s output from stdin, then print how long each stage took."""
    from ood_study.stages import parser

    cli = parser(__doc__)
    cli.add_argument("--tsv", type=Path, help="also write stage<TAB>seconds lines here")
    args = cli.parse_args(argv)
    seen = []
    failed = False
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        seen.append((line, time.monotonic()))
        failed |= line.startswith("ERROR:")
    durations = stage_durations(seen)
    if durations:
        print("\nTime per stage (until the next stage starts):")
        print(format_durations(durations))
        if args.tsv:
            args.tsv.parent.mkdir(parents=True, exist_ok=True)
            args.tsv.write_text("".join(f"{n}\t{s:.1f}\n" for n, s in durations))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
