"""What the page draws, read off the live model: one frame per view update.

A frame is a JSON header and a binary body. The body holds pictures over the input plane
as bytes (0..255), row by row from the top (largest x₂) down, ``grid × grid`` each:

* the output: for two classes P(class 1) = softmax(z)₁; for more, the winning class and
  its probability (two pictures); for regression the output value on a symmetric scale;
* every hidden unit's output h = g(a), each layer on one symmetric scale ±max|h| so the
  units of a layer compare at a glance.

All of it is the engine's forward pass on the grid's points (prepared exactly as the
training rows were), in eval mode, without a graph. The header carries the step, the
losses on the whole train and test split, the weights, the gradient-flow monitor's latest
per-layer numbers and the diagnosis of ``chainrule diagnose`` on the run so far.
"""

from __future__ import annotations

import base64
import itertools
import math
import time

import numpy as np

from chainrule.autograd import no_grad
from chainrule.diagnostics import diagnose
from chainrule.tensor import Tensor

GRID = 50
FINDINGS_EVERY_S = 1.0  # while playing, the diagnosis is renewed at most this often
LAYER_KEYS = (
    "grad_norm",
    "delta_norm",
    "weight_norm",
    "update_ratio",
    "saturated",
    "dead",
    "identical_units",
)


def domain(points: np.ndarray) -> list[float]:
    """``[x1_min, x1_max, x2_min, x2_max]``: the points' box with a 10 % margin, made
    square around its centre (so a circle looks like one)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3) * 1.1
    return [centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half]


def grid_points(box, n: int = GRID) -> np.ndarray:
    """``(n·n, 2)`` cell centres, row-major from the top-left corner."""
    x1 = box[0] + (np.arange(n) + 0.5) * (box[1] - box[0]) / n
    x2 = box[3] - (np.arange(n) + 0.5) * (box[3] - box[2]) / n
    X1, X2 = np.meshgrid(x1, x2)
    return np.stack([X1.ravel(), X2.ravel()], axis=1)


def _bytes(values: np.ndarray, lo: float, hi: float) -> bytes:
    with np.errstate(invalid="ignore"):
        scaled = (np.asarray(values, np.float64) - lo) / (hi - lo) * 255.0
    return np.clip(np.nan_to_num(scaled, nan=127.5), 0, 255).round().astype(np.uint8).tobytes()


def _finite(x):
    return float(x) if x is not None and math.isfinite(float(x)) else None


_RUNS = itertools.count(1)


class FrameMaker:
    """Frames for one session: the grid and its prepared inputs are made once. ``run``
    numbers the session, in its setup and in each frame, so the page (and a test) can
    tell a frame of the current settings from one still in flight from the last."""

    def __init__(self, session, grid: int = GRID):
        self.session = session
        self.run = next(_RUNS)
        self.grid = grid
        self.box = domain(session.data.points)
        self.grid_inputs = session.inputs(grid_points(self.box, grid))
        train_x, test_x = session.prepared.train[0], session.prepared.test[0]
        self.all_inputs = np.concatenate([self.grid_inputs, train_x, test_x])
        targets = session.data.targets
        self.value_scale = 1.0
        if session.data.task == "regression":
            self.value_scale = float(np.max(np.abs(targets))) or 1.0
        self._report, self._report_step, self._report_time = None, -1, 0.0

    # --- the pictures -------------------------------------------------------------------
    def forward(self):
        """One forward pass (eval mode, no graph) over the grid, then the training and the
        test rows: ``(outputs, hidden)`` for all of them."""
        model = self.session.model
        was_training = model.training
        model.eval()
        try:
            with no_grad(), np.errstate(all="ignore"):
                return model(Tensor(self.all_inputs), return_hidden=True)
        finally:
            model.train(was_training)

    def losses(self, out) -> dict:
        """Loss and accuracy on the whole train and test split, from the rows of ``out``
        after the grid's (the live curves; the per-epoch numbers are ``evaluate``'s)."""
        s = self.session
        n_grid, n_train = self.grid * self.grid, len(s.prepared.train[1])
        z = out.data
        result = {}
        with no_grad(), np.errstate(all="ignore"):
            for name, rows, y in (
                ("train", slice(n_grid, n_grid + n_train), s.prepared.train[1]),
                ("test", slice(n_grid + n_train, None), s.prepared.test[1]),
            ):
                zs = z[rows]
                result[f"{name}_loss"] = float(s.trainer.loss_fn(Tensor(zs), y).data)
                classify = y.dtype.kind in "iu"
                result[f"{name}_accuracy"] = (
                    float(np.mean(zs.argmax(axis=1) == y)) if classify else None
                )
        return result

    def pictures(self, out, hidden):
        """``(descriptions, body)``: what each picture is, and their bytes in order."""
        s = self.session
        n_grid = self.grid * self.grid
        z = out.data[:n_grid].astype(np.float64)
        parts, described = [], []
        if s.data.task == "regression":
            v = z[:, 0]
            parts.append(_bytes(v, -self.value_scale, self.value_scale))
            described.append({"kind": "output", "scale": [-self.value_scale, self.value_scale]})
        else:
            with np.errstate(all="ignore"):
                e = np.exp(z - z.max(axis=1, keepdims=True))
                p = e / e.sum(axis=1, keepdims=True)
            if p.shape[1] == 2:
                parts.append(_bytes(p[:, 1], 0.0, 1.0))
                described.append({"kind": "output", "scale": [0.0, 1.0]})
            else:
                parts.append(np.nan_to_num(p.argmax(axis=1)).astype(np.uint8).tobytes())
                parts.append(_bytes(p.max(axis=1), 0.0, 1.0))
                described.append({"kind": "class", "classes": int(p.shape[1])})
                described.append({"kind": "confidence", "scale": [0.0, 1.0]})
        for k, layer in enumerate(hidden):
            h = layer.post.data[:n_grid].astype(np.float64)
            finite = np.abs(h[np.isfinite(h)])
            m = float(finite.max()) if finite.size else 0.0
            m = m if math.isfinite(m) and m > 0 else 1.0
            for j in range(h.shape[1]):
                parts.append(_bytes(h[:, j], -m, m))
                described.append({"kind": "unit", "layer": k + 1, "unit": j, "scale": [-m, m]})
        return described, b"".join(parts)

    # --- the numbers --------------------------------------------------------------------
    def weights(self):
        """Per Linear layer: W (out × in) and b as lists (NaN as None)."""
        out = []
        for lin in self.session.model.linears:
            W = np.where(np.isfinite(lin.weight.data), lin.weight.data, np.nan)
            b = lin.bias.data if lin.bias is not None else np.zeros(W.shape[0])
            out.append(
                {
                    "W": [[_finite(v) for v in row] for row in W.astype(np.float64)],
                    "b": [_finite(v) for v in np.asarray(b, np.float64)],
                }
            )
        return out

    def layer_stats(self):
        """The monitor's most recent sample, per Linear layer (1-based ``layer``)."""
        steps = [r for r in self.session.monitor.records if r.get("type") == "step"]
        if not steps:
            return []
        last = steps[-1]
        return [
            {"layer": k + 1, "step": last["step"], **{key: rec.get(key) for key in LAYER_KEYS}}
            for k, rec in enumerate(last["layers"])
        ]

    def findings(self, force: bool = False):
        """``chainrule diagnose`` on the run so far. A diagnosis reads every kept monitor
        record (tens of ms), so while playing it is renewed at most once a second;
        ``force`` (pause, step, the end of a run) renews it now."""
        s = self.session
        step = s.step
        if step == self._report_step and self._report is not None:
            return self._report
        fresh = time.monotonic() - self._report_time < FINDINGS_EVERY_S
        if not force and self._report is not None and fresh:
            return self._report
        if not any(r.get("type") == "step" for r in s.monitor.records):
            return []
        # the page's test split plays the part of the validation split in the diagnosis
        tests = {e["epoch"]: e for e in s.gate.epochs}
        metrics = []
        for row in s.trainer.history:
            row = dict(row)
            t = tests.get(row.get("epoch"))
            if t is not None:
                row["val_loss"], row["val_accuracy"] = t["test_loss"], t["test_accuracy"]
            metrics.append(row)
        config = {k: v for k, v in s.config.to_dict().items() if v is not None}
        # the page trains until paused: its "epochs" so far, not the run's open-ended limit
        config["epochs"] = max(1, len(s.gate.epochs))
        report = diagnose(s.monitor, metrics=metrics, config=config)
        self._report = [
            {
                "kind": f.kind,
                "severity": f.severity,
                "message": f.message,
                "evidence": f.evidence,
                "suggestion": f.suggestion,
                "layers": list(f.layers),
            }
            for f in report.findings
        ]
        self._report_step = step
        self._report_time = time.monotonic()
        return self._report

    def header(self, described, losses, force_findings: bool = False) -> dict:
        s = self.session
        steps_per_epoch = len(s.trainer.loader) if s.trainer is not None else 1
        return {
            "type": "frame",
            "run": self.run,
            "step": s.step,
            "epoch": s.step / steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "running": s.running,
            "stop_reason": s.stop_reason(),
            "losses": {k: _finite(v) for k, v in losses.items()},
            # the numbers chainrule train reports, at the last completed epoch
            "n_epochs": len(s.gate.epochs),
            "last_epoch": s.gate.epochs[-1] if s.gate.epochs else None,
            "weights": self.weights(),
            "layers": self.layer_stats(),
            "findings": self.findings(force_findings or not s.running),
            "pictures": described,
            "grid": self.grid,
        }

    def frame(self, force_findings: bool = False):
        """``(header, body)`` of the current model."""
        out, hidden = self.forward()
        described, body = self.pictures(out, hidden)
        return self.header(described, self.losses(out), force_findings), body

    def setup(self) -> dict:
        """What the page needs once per run: the points, the box, the network's shape."""
        s = self.session
        d = s.data
        train_set = set(d.train.tolist())
        points = [
            [float(p[0]), float(p[1]), float(t), 1 if i in train_set else 0]
            for i, (p, t) in enumerate(zip(d.points, d.targets))
        ]
        return {
            "type": "setup",
            "run": self.run,
            "state": s.state,
            "task": d.task,
            "n_classes": d.n_classes,
            "classes": [str(c) for c in d.classes] if d.classes is not None else None,
            "axis_names": list(d.axis_names),
            "features": d.features,
            "box": self.box,
            "sizes": list(s.model.sizes),
            "activation": s.config.activation,
            "value_scale": self.value_scale,
            "points": points,
            "train_rows": [int(i) for i in d.train],
            "feature_pictures": self.feature_pictures(),
        }

    def feature_pictures(self) -> list[str]:
        """Each input column over the plane (as the network receives it), base64 bytes."""
        out = []
        for column in self.grid_inputs.T.astype(np.float64):
            m = float(np.max(np.abs(column))) or 1.0
            out.append(base64.b64encode(_bytes(column, -m, m)).decode("ascii"))
        return out
