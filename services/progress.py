"""Replay progress on stderr: a bar with an ETA on a terminal, plain periodic lines otherwise.

Logs and CI capture stderr without a terminal, where a redrawn bar shows nothing useful;
there a line every `every_s` wall seconds says how far the replay is and when it should end.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

Update = Callable[[int, int, float], None]  # (finished, total, simulated seconds)
# Redraws of the bar per second. Each redraw renders every column in Python, on a thread that takes
# the GIL from the simulation: rich's default of 10 cost a 3-second replay 0.3 s; 2 still moves.
REFRESH_PER_S = 2


class PlainLines:
    """Writes `label: done/total (pct), sim S, elapsed E, ETA T` at most every `every_s` seconds."""

    def __init__(self, label: str, stream: TextIO, every_s: float = 10.0, clock=time.monotonic):
        self.label, self.stream, self.every_s, self.clock = label, stream, every_s, clock
        self.start = self.last = clock()

    def __call__(self, done: int, total: int, sim_s: float, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.start
        pct = f" ({100 * done / total:.0f} %)" if total else ""
        eta = f", ETA {elapsed * (total - done) / done:,.0f} s" if total and done else ""
        of = f"{total:,}" if total else "?"
        self.stream.write(f"{self.label}: {done:,}/{of} requests{pct}, sim {sim_s:,.0f} s, "
                          f"elapsed {elapsed:,.0f} s{eta}\n")
        self.stream.flush()


@contextmanager
def replay_progress(label: str, total: int | None, disable: bool = False,
                    stream: TextIO | None = None, every_s: float = 10.0) -> Iterator[Update]:
    """An update callback for the replay loop; a bar on a terminal, lines elsewhere, nothing if disabled."""
    stream = stream or sys.stderr
    if disable:
        yield lambda done, total, sim: None
        return
    if not stream.isatty():
        lines = PlainLines(label, stream, every_s)
        last = [0, total or 0, 0.0]

        def update(done: int, tot: int, sim: float) -> None:
            last[:] = [done, tot, sim]
            lines(done, tot, sim)
        yield update
        lines(*last, force=True)
        return
    from rich.console import Console  # here: only a terminal draws the bar (rich.progress takes 15 ms to import)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    bar = Progress(TextColumn("[bold]replay[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("sim {task.fields[sim]:,.0f} s"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), console=Console(file=stream), transient=True,
                   refresh_per_second=REFRESH_PER_S)
    with bar:
        task = bar.add_task(label, total=total, sim=0.0)
        yield lambda done, tot, sim: bar.update(task, completed=done, total=tot or None, sim=sim)
