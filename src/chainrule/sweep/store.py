"""The results store: one JSON line per finished trial, fsync'd the moment the trial ends.

A sweep folder holds::

    sweep.json     the spec (as tables) and its fingerprint, written once
    trials.jsonl   one record per finished trial (completed, pruned or failed)

Only the driver writes, one ``write`` of one whole line per record followed by ``fsync``,
so a sweep killed at any instant leaves every earlier record intact; a line cut short by
the kill (at most the last one) is ignored on reading and trimmed before the next append.

Recording is idempotent, keyed by trial id: once a trial has a final record (completed
or pruned) a second record for it is ignored (a trial reported twice — by an executor
that resubmitted it after losing a node, say — is stored once). A failed or timed-out
trial that runs again gets a newer record, and the later record wins on reading.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from chainrule.files import atomic_write

RECORDS = "trials.jsonl"
META = "sweep.json"
FINAL = ("completed", "pruned")  # the trial has a result: never recorded or run again
FAILED = ("failed", "timeout")  # no result: kept, and run again by --retry-failed
FINISHED = FINAL + FAILED


class ResultStore:
    """Append-only, crash-safe trial records in ``folder``."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / RECORDS
        self._final: set[str] | None = None  # ids with a final record (read on first append)

    # --- the sweep's identity ---------------------------------------------------------
    def check(self, fingerprint: str) -> None:
        """Raise ValueError if the folder already holds a different sweep (writes nothing)."""
        meta_path = self.folder / META
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"{self.folder} holds a different sweep (its spec changed); "
                    "choose another --out folder or delete that one"
                )

    def open(self, spec_tables: dict, fingerprint: str) -> None:
        """Create the folder, or check that it holds the same sweep (raises ValueError)."""
        self.check(fingerprint)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / META
        if not meta_path.exists():
            meta = {"fingerprint": fingerprint, "spec": spec_tables, "created": time.time()}
            atomic_write(meta_path, json.dumps(meta, indent=2, default=str))
        self._trim_torn_tail()

    def meta(self) -> dict:
        path = self.folder / META
        if not path.exists():
            raise OSError(f"{self.folder} is not a sweep folder (no {META})")
        return json.loads(path.read_text())

    # --- records ------------------------------------------------------------------------
    def append(self, record: dict) -> bool:
        """Write one record durably: a single write of a whole line, then fsync. Returns
        False (and writes nothing) when the trial already has a final record."""
        if self._final is None:
            self._final = {i for i, r in self.records().items() if r["status"] in FINAL}
        if record["id"] in self._final:
            return False
        text = json.dumps(_finite(record), default=_json_default, allow_nan=False)
        line = (text + "\n").encode()
        # 0o666: the umask decides, as for any file a program creates
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            view = memoryview(line)
            while view:  # a regular-file write is whole in practice; loop in case it isn't
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if record["status"] in FINAL:
            self._final.add(record["id"])
        return True

    def records(self) -> dict[str, dict]:
        """``{trial id: latest record}`` in the order the trials first finished."""
        out: dict[str, dict] = {}
        if not self.path.exists():
            return out
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # cut short by a kill: never acknowledged, so nothing is lost
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                out[record["id"]] = record
        return out

    def _trim_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())


def _finite(value):
    """``value`` with NaN and infinities as None (strict JSON; the error says why)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # NumPy scalars
        return _finite(value.item())
    return value


def _json_default(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def write_text_atomic(path, text: str) -> None:
    """:func:`chainrule.files.atomic_write` (the one writer; this name is what
    :mod:`chainrule.sweep.report` imports)."""
    atomic_write(path, text)
