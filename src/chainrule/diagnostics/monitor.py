"""GradientFlowMonitor: a training callback that watches gradients flow through each layer.

Every ``every`` batches (the first batch included) it records, for each Linear layer k of
the chain ``h_{k+1} = g(W_k h_k + b_k)``:

* ``weight_norm`` ‖W_k‖ and ``grad_norm`` ‖∂L/∂W_k‖ (Frobenius), ``bias_grad_norm``;
* ``delta_norm`` ‖δ_k‖, the backpropagated error δ_k = ∂L/∂a_k at the layer's output
  (over the batch), read by a gradient hook on a_k — the quantity that vanishes;
* ``update_ratio`` ‖ΔW_k‖ / ‖W_k‖ — how far one optimizer step moved the weights
  (around 1e-3 is the usual healthy value; ≫ 1e-2 means a large learning rate);
* ``preact_mean``/``preact_std`` of a_k = W_k h_k + b_k over the batch and a small
  ``hist`` of a_k;
* ``saturated``: the fraction of sigmoid/tanh outputs within 1 % of their bounds, and
  ``dead``: the fraction of ReLU units whose a_k ≤ 0 on every example (definitions in
  :mod:`chainrule.diagnostics.layer_stats`);
* ``identical_units``: whether all rows of [W_k | b_k] are equal (symmetry never broken).

At each epoch's end it adds an ``"epoch"`` record that averages the epoch's sampled
batches; its ``dead`` counts units that were ≤ 0 on every example of *all* of them (the
window). Records go to ``monitor.jsonl`` in the run folder (one JSON object per line,
NaN/inf written as null) and stay in ``monitor.records``.

Cost: with the monitor off, nothing is installed anywhere. With it on, off-sample batches
cost one counter test per callback; on a sample batch, a forward hook on each Linear
module (``Module.register_forward_hook``, removed right after backward) keeps its output
a_k (no extra graph), and the statistics run on raw arrays.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.diagnostics.layer_stats import (
    finite_or_none,
    identical_units,
    norm,
    preactivation_stats,
)
from chainrule.diagnostics.layers import _leaves, find_layers, is_linear
from chainrule.diagnostics.run_data import MONITOR_FILE
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback

FORMAT_VERSION = 1


def _array(x):
    return x.data if hasattr(x, "requires_grad") else np.asarray(x)


class GradientFlowMonitor(Callback):
    """Record per-layer gradient-flow statistics every ``every`` batches and per epoch.

    Args:
        every: sample the batches whose global step is a multiple of ``every`` (the first
            batch of training is always one).
        path: where to write the JSON lines; default ``<run_dir>/monitor.jsonl``, or
            nowhere (records kept in memory only) when the trainer has no run folder.
        model: the model to watch, when it is not ``trainer.model``.
    """

    def __init__(self, every=25, path=None, model=None):
        if int(every) < 1:
            raise ValueError(f"GradientFlowMonitor: every must be ≥ 1, got {every}")
        self.every = int(every)
        self.path = path
        self.model = model
        self.records = []
        self.layers = None
        self._file = None
        self._batches = 0
        self._sampling = False
        self._captured = {}
        self._pending = None
        self._epoch_records = []
        self._epoch_alive = {}
        self._handles = []
        self._deltas = {}
        self._seen_nonfinite = False

    # --- callback protocol ---------------------------------------------------------
    def on_train_begin(self, trainer):
        model = self.model if self.model is not None else trainer.model
        self.model = model
        self.layers = find_layers(model)
        path = self.path
        if path is None and getattr(trainer, "run_dir", None):
            path = os.path.join(str(trainer.run_dir), MONITOR_FILE)
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            # a fresh run starts the file over; a resumed one (global_step > 0) appends
            fresh = int(getattr(trainer, "global_step", 0) or 0) == 0
            self._file = open(path, "w" if fresh else "a", encoding="utf-8")  # noqa: SIM115
            self.path = path
        self._emit(
            {
                "type": "meta",
                "version": FORMAT_VERSION,
                "every": self.every,
                "time": time.time(),
                "layers": [
                    {
                        "index": info.index,
                        "name": info.name,
                        "shape": list(info.weight.shape),
                        "activation": info.activation,
                    }
                    for info in self.layers
                ],
            }
        )
        self._reset_window()

    def on_epoch_begin(self, trainer, epoch):
        self._reset_window()

    def on_batch_begin(self, trainer, step):
        # sample by the global step, so a resumed run keeps the same sampling phase
        n = int(step) if isinstance(step, (int, np.integer)) else self._batches
        self._sampling = n % self.every == 0
        self._batches += 1
        if self._sampling:
            self._captured = {}
            self._install()

    def on_after_backward(self, trainer):
        if not self._sampling:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            self._measure(trainer)

    def _measure(self, trainer):
        self._uninstall()
        if len(self._captured) < len(self.layers):
            self._replay(trainer)  # a model that calls layer.forward() directly
        layers, before = [], []
        for info in self.layers:
            w = info.weight
            rec = {"index": info.index, "name": info.name, "activation": info.activation}
            rec["weight_norm"] = finite_or_none(norm(w.data))
            g = w.grad
            rec["grad_norm"] = None if g is None else finite_or_none(norm(g.data))
            rec["grad_is_none"] = g is None
            b = info.bias
            bg = None if b is None else b.grad
            rec["bias_grad_norm"] = None if bg is None else finite_or_none(norm(bg.data))
            rec["identical_units"] = identical_units(w.data, None if b is None else b.data)
            delta = self._deltas.get(info.index)
            rec["delta_norm"] = None if delta is None else finite_or_none(delta)
            a = self._captured.get(info.index)
            if a is not None:
                stats, alive = preactivation_stats(a, info.activation)
                rec.update(stats)
                if alive is not None:
                    rec["dead"] = float(1.0 - alive.mean()) if alive.size else None
                    prev = self._epoch_alive.get(info.index)
                    self._epoch_alive[info.index] = alive if prev is None else (prev | alive)
                else:
                    rec["dead"] = None
            layers.append(rec)
            before.append(w.data.copy())
        self._captured = {}
        loss = getattr(trainer, "last_loss", None)
        self._pending = (
            {
                "type": "step",
                "step": int(getattr(trainer, "global_step", self._batches - 1)),
                "epoch": getattr(trainer, "epoch", None),
                "loss": None if loss is None else finite_or_none(_scalar(loss)),
                "nonfinite_loss": loss is not None and not np.isfinite(_scalar(loss)),
                "layers": layers,
            },
            before,
        )

    def on_batch_end(self, trainer, step, logs=None):
        # one finiteness test per step, so a NaN between samples is not missed
        loss = logs.get("loss") if logs and not self._seen_nonfinite else None
        if loss is not None and not math.isfinite(float(loss)):
            self._seen_nonfinite = True
            self._emit(
                {
                    "type": "event",
                    "kind": "non-finite-loss",
                    "step": int(step),
                    "epoch": getattr(trainer, "epoch", None),
                    "value": str(float(loss)),
                }
            )
        if self._pending is None:
            return
        record, before = self._pending
        self._pending = None
        if record["loss"] is None and getattr(trainer, "last_loss", None) is not None:
            record["loss"] = finite_or_none(_scalar(trainer.last_loss))
        with np.errstate(over="ignore", invalid="ignore"):
            for rec, info, w0 in zip(record["layers"], self.layers, before):
                w0_norm = rec["weight_norm"] or 0.0
                delta = norm(info.weight.data - w0)
                rec["update_ratio"] = finite_or_none(delta / w0_norm) if w0_norm > 0 else None
                rec["update_norm"] = finite_or_none(delta)
        self._epoch_records.append(record)
        self._emit(record)

    def on_epoch_end(self, trainer, epoch, logs=None):
        self._emit(self._epoch_summary(trainer, epoch))
        self._reset_window()

    def on_train_end(self, trainer):
        self._uninstall()
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- internals -------------------------------------------------------------------
    def _reset_window(self):
        self._epoch_records = []
        self._epoch_alive = {}

    def _emit(self, record):
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, allow_nan=False) + "\n")
            self._file.flush()

    def _install(self):
        """Hook each Linear module for one forward pass to keep its output a_k."""
        captured = self._captured
        deltas = self._deltas = {}
        self._handles = []
        for info in self.layers:

            def keep(module, inputs, out, _k=info.index):
                captured[_k] = _array(out)
                if getattr(out, "requires_grad", False):
                    # the backpropagated error δ_k = ∂L/∂a_k, read as backward passes
                    out.register_hook(lambda g, _k=_k: deltas.__setitem__(_k, norm(g.data)))

            self._handles.append(info.module.register_forward_hook(keep))

    def _uninstall(self):
        for handle in getattr(self, "_handles", ()):
            handle.remove()
        self._handles = []

    def _replay(self, trainer):
        """Recompute a_k by running the last batch through the chain of leaf modules."""
        batch = getattr(trainer, "last_batch", None)
        if batch is None:
            return
        x = batch[0]
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        by_module = {id(info.module): info.index for info in self.layers}
        try:
            with no_grad():
                for _, mod in _leaves(self.model):
                    h = mod(h)
                    if is_linear(mod):
                        self._captured[by_module[id(mod)]] = _array(h)
        except Exception:
            return

    def _epoch_summary(self, trainer, epoch):
        recs = self._epoch_records
        layers = []
        for info in self.layers:
            per = [r["layers"][info.index] for r in recs]
            rec = {"index": info.index, "name": info.name, "activation": info.activation}
            rec["weight_norm"] = finite_or_none(norm(info.weight.data))
            b = info.bias
            rec["identical_units"] = identical_units(
                info.weight.data, None if b is None else b.data
            )
            for key in (
                "grad_norm",
                "delta_norm",
                "bias_grad_norm",
                "update_ratio",
                "preact_mean",
                "preact_std",
                "saturated",
            ):
                vals = [p.get(key) for p in per if p.get(key) is not None]
                rec[key] = finite_or_none(np.mean(vals)) if vals else None
            rec["nonfinite_grad"] = any(
                p.get("grad_norm") is None and not p.get("grad_is_none") for p in per
            )
            alive = self._epoch_alive.get(info.index)
            rec["dead"] = float(1.0 - alive.mean()) if alive is not None and alive.size else None
            if per and "hist" in per[-1]:
                rec["hist"] = per[-1]["hist"]
            layers.append(rec)
        losses = [r["loss"] for r in recs if r.get("loss") is not None]
        return {
            "type": "epoch",
            "epoch": int(epoch),
            "step": int(getattr(trainer, "global_step", self._batches)),
            "samples": len(recs),
            "loss": finite_or_none(np.mean(losses)) if losses else None,
            "layers": layers,
        }


def _scalar(x):
    if hasattr(x, "item"):
        return float(x.item())
    return float(x)


__all__ = ["MONITOR_FILE", "GradientFlowMonitor"]
