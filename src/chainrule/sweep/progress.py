"""Live progress of a sweep: one line rewritten in place on a terminal, plain lines in logs.

trials 12/40 | 2 running | 1 failed | 1 timed out | 3 pruned | best val_accuracy 0.9722 (#7) | 1m23s

A resumed sweep first says what the folder already holds, finished (completed or pruned)
apart from failed::

    resuming: 8 of 8 trials already ran: 6 finished, 2 failed (kept; --retry-failed runs them again)
"""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _rank_key(record: dict, metric: str, mode: str) -> tuple:
    """Smaller is better: the metric, then (as ``SweepResult.ranked``) the validation loss."""
    value = record["metric"] if mode == "min" else -record["metric"]
    loss = record.get("metrics", {}).get("val_loss")
    return (value, loss if loss is not None and metric != "val_loss" else 0.0, record["index"])


class Progress:
    """Counts trials and prints them. On a TTY the line is redrawn at most ``fps`` times a
    second; otherwise each finished trial prints one line (and a heartbeat every
    ``heartbeat`` seconds while trials run)."""

    def __init__(
        self,
        total: int,
        metric: str,
        mode: str,
        stream=None,
        tty=None,
        heartbeat: float = 60.0,
        quiet: bool = False,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(tty if tty is not None else getattr(self.stream, "isatty", bool)())
        self.total, self.metric, self.mode = total, metric, mode
        self.heartbeat, self.quiet = heartbeat, quiet
        self.done = self.failed = self.timed_out = self.pruned = self.running = 0
        self.best = None  # (value, index, rank key)
        self.start = time.perf_counter()
        self._last_draw, self._last_beat = 0.0, self.start
        self._width = 0

    def resumed(self, records, retried: int = 0) -> None:
        """Count the trials a previous run already ran; ``retried`` failed ones run again."""
        for record in records:
            self._count(record)
        if self.quiet or not (records or retried):
            return
        unfinished = self.failed + self.timed_out
        if not unfinished:
            line = f"resuming: {len(records)} of {self.total} trials already finished"
        else:
            parts = [f"{len(records) - unfinished} finished"]
            parts += [f"{self.failed} failed"] if self.failed else []
            parts += [f"{self.timed_out} timed out"] if self.timed_out else []
            line = (
                f"resuming: {len(records)} of {self.total} trials already ran: "
                f"{', '.join(parts)} (kept; --retry-failed runs them again)"
            )
        if retried:
            line += f"; {retried} failed or timed-out trial(s) run again (--retry-failed)"
        self._print(line)

    def discarded(self) -> None:
        """A running trial ended without a new record (it already had a final one)."""
        self.running -= 1

    def started(self, index: int) -> None:
        self.running += 1
        self.draw()

    def finished(self, record: dict) -> None:
        self.running -= 1
        self._count(record)
        if not self.tty and not self.quiet:
            what = record["status"]
            value = record.get("metric")
            shown = f"{self.metric} {value:.4f}" if value is not None else record.get("error", "")
            if what == "pruned":
                shown += f" (pruned at epoch {record.get('pruned_at')})"
            self._print(f"trial {record['index']} {what}: {shown} | {self.summary()}")
        self.draw(force=True)

    def _count(self, record: dict) -> None:
        self.done += 1
        status = record["status"]
        if status == "failed":
            self.failed += 1
        elif status == "timeout":
            self.timed_out += 1
        elif status == "pruned":
            self.pruned += 1
        if status == "completed" and record.get("metric") is not None:
            rank = _rank_key(record, self.metric, self.mode)
            if self.best is None or rank < self.best[2]:
                self.best = (record["metric"], record["index"], rank)

    def summary(self) -> str:
        parts = [f"trials {self.done}/{self.total}", f"{self.running} running"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.timed_out:
            parts.append(f"{self.timed_out} timed out")
        if self.pruned:
            parts.append(f"{self.pruned} pruned")
        if self.best is not None:
            parts.append(f"best {self.metric} {self.best[0]:.4f} (#{self.best[1]})")
        parts.append(_duration(time.perf_counter() - self.start))
        return " | ".join(parts)

    def draw(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if self.tty:
            if force or now - self._last_draw > 0.2:
                line = self.summary()
                pad = max(0, self._width - len(line))
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
                self._width, self._last_draw = len(line), now
        elif now - self._last_beat > self.heartbeat and self.running:
            self._last_beat = now
            self._print(self.summary())

    def tick(self) -> None:
        self.draw()

    def close(self) -> None:
        if self.tty and not self.quiet and self._width:
            self.stream.write("\r" + self.summary() + "\n")
            self.stream.flush()
            self._width = 0

    def _print(self, line: str) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(line, file=self.stream, flush=True)
