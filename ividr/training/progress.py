"""Progress of long work: what the training loops report, and the bar that shows it.

The training loops (:mod:`ividr.training.loops`, :mod:`ividr.training.stages`) report to one
``progress`` object, the one ``fit_model(..., progress=...)`` receives:

- it is called with one line of text after every epoch (a plain callable gets only these, as it
  always did);
- when it is a :class:`ProgressHook`, it is also told when a training stage starts (how many
  runs, restarts or grid points, of at most how many epochs), when an epoch of a run ends (and
  whether the run stopped there), and when the stage ends.

:class:`BarLine` draws those events on one line of a terminal: for each fit, a bar over its
current stage's epoch budget (runs x maximum epochs; a run that stops early fills its share at
once). Several fits side by side (the demo's, in other processes) share the line, which is why
it is drawn here rather than by ``click.progressbar`` (one bar per line); ``ividr sweep``'s bar
over runs is click's. :func:`fit_progress` is what ``ividr fit`` calls: silent with ``--quiet``,
the bar when stderr is a terminal (:func:`show_bar`), and otherwise the per-epoch lines, a log.
Nothing here imports torch.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

__all__ = [
    "BarLine",
    "EventHook",
    "LineProgress",
    "ProgressHook",
    "epoch_ended",
    "fit_progress",
    "show_bar",
    "stage_ended",
    "stage_started",
    "stderr_is_terminal",
]


class ProgressHook:
    """Receives the progress of a fit; every method does nothing here (override what you need).

    Use it as a context manager, so that :meth:`close` runs however the fit ends.
    """

    def __call__(self, line: str) -> None:
        """One line of text after an epoch (``[stage] epoch N: loss ...``)."""

    def stage_start(self, stage: str, runs: int, max_epochs: int, unit: str) -> None:
        """A stage starts: ``runs`` runs (``unit``: "restart" or "grid point") of at most
        ``max_epochs`` epochs each."""

    def epoch_end(self, stage: str, run: int, epoch: int, stopped: bool) -> None:
        """Epoch ``epoch`` (from 0) of run ``run`` (from 0) ended; ``stopped``: the run's
        early-stopping rule ended it there."""

    def stage_end(self, stage: str) -> None:
        """The stage is over (every run finished, stopped or was pruned)."""

    def close(self) -> None:
        """Release what the hook holds (a bar on the screen)."""

    def __enter__(self) -> ProgressHook:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


ProgressFn = Callable[[str], None] | ProgressHook | None


def stage_started(progress: ProgressFn, stage: str, runs: int, max_epochs: int, unit: str) -> None:
    """Tell ``progress`` that a stage starts, when it is a :class:`ProgressHook`."""
    if isinstance(progress, ProgressHook):
        progress.stage_start(stage, runs, max_epochs, unit)


def epoch_ended(progress: ProgressFn, stage: str, run: int, epoch: int, stopped: bool) -> None:
    """Tell ``progress`` that an epoch ended, when it is a :class:`ProgressHook`."""
    if isinstance(progress, ProgressHook):
        progress.epoch_end(stage, run, epoch, stopped)


def stage_ended(progress: ProgressFn, stage: str) -> None:
    """Tell ``progress`` that a stage ended, when it is a :class:`ProgressHook`."""
    if isinstance(progress, ProgressHook):
        progress.stage_end(stage)


class LineProgress(ProgressHook):
    """The per-epoch lines, handed to ``echo`` (a log when no terminal shows a bar)."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo

    def __call__(self, line: str) -> None:
        self.echo(line)


class EventHook(ProgressHook):
    """Hands every event of one fit, named by ``key``, to ``send(key, event, args)``.

    ``send`` is :meth:`BarLine.update` (a bar on this terminal) or a queue's ``put`` (the demo's
    fits in other processes send their events to the one that draws). Lines are dropped.
    ``on_close`` runs when the hook is closed (the command's bar line ends there).
    """

    def __init__(
        self,
        send: Callable[[str, str, tuple], None],
        key: str,
        on_close: Callable[[], None] | None = None,
    ):
        self.send, self.key, self.on_close = send, key, on_close

    def stage_start(self, stage: str, runs: int, max_epochs: int, unit: str) -> None:
        self.send(self.key, "stage_start", (stage, runs, max_epochs, unit))

    def epoch_end(self, stage: str, run: int, epoch: int, stopped: bool) -> None:
        self.send(self.key, "epoch_end", (stage, run, epoch, stopped))

    def stage_end(self, stage: str) -> None:
        self.send(self.key, "stage_end", (stage,))

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()


@dataclass
class _Stage:
    """Where one fit stands: its current stage, and the epochs each of its runs has used."""

    name: str
    runs: int
    max_epochs: int
    unit: str
    done: dict[int, int] = field(default_factory=dict)
    last: str = ""
    over: bool = False

    @property
    def fraction(self) -> float:
        if self.over:
            return 1.0
        return sum(self.done.values()) / float(max(1, self.runs * self.max_epochs))


class BarLine:
    """One status line on a terminal: for each fit, a bar over its current stage's epoch budget.

    A stage's budget is its runs (restarts, grid points) x their maximum epochs; a run that
    stops early fills its share at once. Several fits side by side share the line, e.g.::

        41 s  idcf latent [####--------] epoch 312/1000 | ividr iv4r [#-----------] epoch 12/100

    Parameters
    ----------
    file : text stream or None
        Where the line is drawn (default: ``sys.stderr`` at each draw).
    width : int, default 12
        Characters of each bar.
    interval : float, default 0.2
        Seconds between redraws (stage changes redraw at once).
    """

    def __init__(self, file: TextIO | None = None, width: int = 12, interval: float = 0.2):
        self.file, self.width, self.interval = file, width, interval
        self.fits: dict[str, _Stage] = {}
        self.start = time.monotonic()
        self._drawn_at = -math.inf
        self._drawn = False
        self._lock = threading.Lock()  # events may come from a thread beside the caller's

    def update(self, key: str, event: str, args: tuple) -> None:
        """Record one event of fit ``key`` (see :class:`ProgressHook`) and redraw."""
        if event == "stage_start":
            stage, runs, max_epochs, unit = args
            self.fits[key] = _Stage(stage, int(runs), int(max_epochs), unit)
        elif event == "epoch_end" and key in self.fits:
            _stage, run, epoch, stopped = args
            st = self.fits[key]
            st.done[run] = st.max_epochs if stopped else min(epoch + 1, st.max_epochs)
            where = f"{st.unit} {run + 1}/{st.runs} " if st.runs > 1 else ""
            end = " (stopped)" if stopped and epoch + 1 < st.max_epochs else ""
            st.last = f"{where}epoch {epoch + 1}/{st.max_epochs}{end}"
        elif event == "stage_end" and key in self.fits:
            self.fits[key].over = True
            self.fits[key].last = "done"
        self.draw(force=event != "epoch_end")

    def write_above(self, text: str) -> None:
        """Print ``text`` as a line of its own, then redraw the bar line below it."""
        with self._lock:
            out = self._out()
            out.write("\r\x1b[K" + text + "\n")
            out.flush()
        self.draw(force=True)

    def text(self) -> str:
        """The line as it is drawn now."""
        parts = []
        for key, st in self.fits.items():
            filled = int(round(st.fraction * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            parts.append(f"{key} {st.name} [{bar}] {st.last}".rstrip())
        return f"{time.monotonic() - self.start:4.0f} s  " + " | ".join(parts)

    def draw(self, force: bool = False) -> None:
        """Redraw the line (at most every ``interval`` seconds unless ``force``)."""
        now = time.monotonic()
        if not self.fits or (not force and now - self._drawn_at < self.interval):
            return
        with self._lock:
            self._drawn_at, self._drawn = now, True
            columns = shutil.get_terminal_size((100, 20)).columns
            out = self._out()
            out.write("\r" + self.text()[: max(10, columns - 1)] + "\x1b[K")
            out.flush()

    def close(self) -> None:
        """Draw the last state and end the line."""
        if self._drawn:
            self.draw(force=True)
            with self._lock:
                self._out().write("\n")
                self._out().flush()
                self._drawn = False

    def _out(self) -> TextIO:
        return self.file if self.file is not None else sys.stderr


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (the one check the commands make; tests replace it)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def show_bar(quiet: bool) -> bool:
    """Whether a command draws progress bars: not ``--quiet`` and stderr a terminal."""
    return not quiet and stderr_is_terminal()


def fit_progress(quiet: bool, label: str = "fit") -> ProgressHook:
    """The progress a command hands to ``fit_model``.

    Parameters
    ----------
    quiet : bool
        ``--quiet``: nothing is shown.
    label : str, default "fit"
        Names the fit on the bar line (e.g. the model).

    Returns
    -------
    ProgressHook
        A silent hook with ``quiet``; an :class:`EventHook` drawing a :class:`BarLine` when
        stderr is a terminal; else a :class:`LineProgress` writing the per-epoch lines to
        stderr.
    """
    if quiet:
        return ProgressHook()
    if stderr_is_terminal():
        bars = BarLine()
        return EventHook(bars.update, label, on_close=bars.close)
    return LineProgress(lambda line: click.echo(line, err=True))
