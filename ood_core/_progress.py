"""Progress lines for the library's long loops (bootstrap resamples), on stderr.

A loop of ``total`` steps reports only when ``total >= min_total`` (the defaults stay silent): one
line when it starts, then at most one every ``every_s`` seconds, and one at the end, so a run with
a large count is visibly moving and its rate tells how long it will take (DVC stages do not run on
a terminal, where a progress bar would be hidden).
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``update(n)`` after each ``n`` steps of a loop of ``total`` steps described by ``what``."""

    def __init__(self, what: str, total: int, *, min_total: int, every_s: float = 30.0, stream=None):
        self.what, self.total, self.every_s = what, int(total), float(every_s)
        self.enabled = self.total >= min_total
        self.stream = stream
        self.done = 0
        self.start = self.last = time.perf_counter()
        if self.enabled:
            self._print()

    def _print(self) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[ood_core] {self.what}: {self.done:,} / {self.total:,} ({100.0 * self.done / self.total:.0f} %) "
              f"after {elapsed:.0f} s", file=self.stream or sys.stderr, flush=True)

    def update(self, n: int) -> None:
        self.done += int(n)
        now = time.perf_counter()
        if self.enabled and (now - self.last >= self.every_s or self.done >= self.total):
            self.last = now
            self._print()
