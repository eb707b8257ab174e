"""Read what a training run left in its folder: monitor.jsonl, metrics.jsonl, config.toml.

Every problem is reported as one line naming the file and what is wrong with it, so
``chainrule diagnose`` can print it and exit 2.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from chainrule.files import read_toml

MONITOR_FILE = "monitor.jsonl"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.toml"


@dataclass
class RunData:
    """The parsed contents of a run folder (or of an in-memory monitor)."""

    meta: dict
    steps: list  # "step" records, in order
    epochs: list = field(default_factory=list)  # the monitor's "epoch" records
    events: list = field(default_factory=list)  # e.g. the first non-finite loss
    metrics: list = field(default_factory=list)  # one dict per epoch (train/val loss ...)
    config: dict = field(default_factory=dict)
    run_dir: str | None = None

    @property
    def layers(self) -> list:
        """``[{index, name, shape, activation}]`` from the monitor's header."""
        return self.meta.get("layers", [])

    @property
    def losses(self) -> list:
        """Training loss per epoch from the metrics, else per sampled step."""
        vals = [_loss_of(m) for m in self.metrics]
        vals = [v for v in vals if v is not _MISSING]
        if len(vals) >= 2:
            return vals
        return [s.get("loss") for s in self.steps]


_MISSING = object()


def _loss_of(m):
    for key in ("train_loss", "loss"):
        if key in m:
            v = m[key]
            return float("nan") if v is None else float(v)
    return _MISSING


def _read_jsonl(path, what):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{path}: line {n} is not valid JSON ({e.msg}); the {what} file is corrupt "
                    "or was cut off"
                ) from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: line {n} is not a JSON object")
            records.append(rec)
    return records


def _resumed_steps(records):
    """The step records, where a resumed run's steps replace those it re-ran.

    A run killed after its last checkpoint repeats the steps since; the monitor appends
    (a new header, then the steps again), so later records win.
    """
    steps = []
    for r in records:
        if r.get("type") != "step":
            continue
        step = r.get("step", 0)
        while steps and steps[-1].get("step", 0) >= step:
            steps.pop()
        steps.append(r)
    return steps


def from_records(records, metrics=(), config=None, run_dir=None) -> RunData:
    """A :class:`RunData` from monitor records (e.g. ``GradientFlowMonitor.records``)."""
    metas = [r for r in records if r.get("type") == "meta"]
    steps = _resumed_steps(records)
    epochs = [r for r in records if r.get("type") == "epoch"]
    events = [r for r in records if r.get("type") == "event"]
    where = f"{run_dir}/{MONITOR_FILE}" if run_dir else "the monitor records"
    if not metas:
        raise ValueError(f"{where} has no header line (type 'meta'): not a monitor file")
    if not steps:
        raise ValueError(
            f"{where} has no sampled steps (type 'step'): the run stopped before its first batch"
        )
    meta = metas[-1]  # a resumed run appends a new header
    n_layers = len(meta.get("layers", []))
    for s in steps:
        if len(s.get("layers", [])) != n_layers:
            raise ValueError(
                f"{where}: step {s.get('step')} has {len(s.get('layers', []))} layers, the "
                f"header {n_layers}"
            )
    metrics = [m for m in metrics if not m.get("type") or m.get("type") == "epoch"]
    return RunData(meta, steps, epochs, events, list(metrics), dict(config or {}), run_dir)


def load_run(run_dir) -> RunData:
    """Read a run folder; raises FileNotFoundError/ValueError with a one-line reason."""
    run_dir = os.fspath(run_dir)
    if not os.path.exists(run_dir):
        raise FileNotFoundError(f"run folder {run_dir!r} does not exist")
    if not os.path.isdir(run_dir):
        raise ValueError(
            f"{run_dir!r} is not a folder (expected a run folder from chainrule train)"
        )
    mon = os.path.join(run_dir, MONITOR_FILE)
    if not os.path.isfile(mon):
        raise FileNotFoundError(
            f"{run_dir} has no {MONITOR_FILE}: no gradient-flow data was recorded; train with "
            "'chainrule train --monitor N' (or the GradientFlowMonitor callback)"
        )
    records = _read_jsonl(mon, "monitor")
    metrics = []
    met = os.path.join(run_dir, METRICS_FILE)
    if os.path.isfile(met):
        metrics = _read_jsonl(met, "metrics")
    config = {}
    cfg = os.path.join(run_dir, CONFIG_FILE)
    if os.path.isfile(cfg):
        config = read_toml(cfg, what="run config")
    return from_records(records, metrics, config, run_dir)


def is_finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


__all__ = ["CONFIG_FILE", "METRICS_FILE", "MONITOR_FILE", "RunData", "from_records", "load_run"]
