"""One browser tab's training run: ``chainrule train``'s own run, driven a few steps at a time.

The page trains through :func:`chainrule.experiment.run.run_training`, the function behind
``chainrule train`` — same data preparation, model, loss, optimizer, seeding, callbacks and
``fit`` loop — so an exported config trains to the same numbers. It runs on a worker
thread; a :class:`Gate` callback parks that thread after every optimizer step until the
page asks for more. While it is parked the model is still, so the server reads it (views,
explanations, diagnoses) without copying anything and without racing the optimizer.
"""

from __future__ import annotations

import threading

import numpy as np

from chainrule.data.prepare import prepare_inputs
from chainrule.diagnostics.monitor import GradientFlowMonitor
from chainrule.experiment.config import TrainConfig
from chainrule.experiment.run import prepare_run_data, run_training
from chainrule.playground import data as page_data
from chainrule.playground.state import OPTIMIZERS
from chainrule.train.callbacks import Callback
from chainrule.train.loop import evaluate

# ``run_training`` seeds the process-wide generator and then builds the model from it; two
# tabs starting at once must not interleave there, or one tab's weights depend on the
# other. The worker holds this lock from just before the seed until the model exists.
SEED_LOCK = threading.Lock()
EPOCHS = 1_000_000  # the page trains until it is paused; the schedule is constant
MONITOR_EVERY = 2  # gradient-flow sample every other step: cheap enough for 30 updates/s
KEEP_STEPS = 200  # monitor step records kept (first few and the most recent)


class Stopped(Exception):
    """Raised inside the worker to end a run the page reset or closed."""


def train_config(state: dict, task: str) -> TrainConfig:
    """The ``chainrule train`` config of a page state (the export writes this one)."""
    optimizer, momentum, nesterov = OPTIMIZERS[state["opt"]]
    init = state["init"]
    if init in ("normal", "uniform", "constant"):
        init = f"{init}:{state['scale']!r}"
    values = dict(
        data=f"{state['data']}.csv",
        test_fraction=state["test"],
        val_split=0.0,
        standardize=True,
        layers=list(state["layers"]),
        activation=state["act"],
        init=init,
        loss=state["loss"] if task == "classification" else "mse",
        optimizer=optimizer,
        lr=state["lr"],
        momentum=momentum,
        nesterov=nesterov,
        batch_size=state["batch"],
        epochs=EPOCHS,
        weight_decay=state["wd"],
        l1=state["l1"],
        l2=state["l2"],
        dropout=0.0,
        schedule="constant",
        seed=state["seed"],
        threads=1,
        quiet=True,
        plots=False,
    )
    return TrainConfig.from_dict(values, source="playground")


class Gate(Callback):
    """Park the training thread before each step; let ``granted`` steps through at a time.

    Also records the numbers ``chainrule train`` reports, at each epoch's end: the
    epoch's mean training loss and the test loss and accuracy (``evaluate`` on the test
    split, as ``run_training`` does after its last epoch).
    """

    def __init__(self, test_data):
        self.test_data = test_data
        self.cond = threading.Condition()
        self.granted = 0
        self.parked = False
        self.stop = False
        self.trainer = None
        self.epochs = []  # [{"epoch", "step", "train_loss", "test_loss", "test_accuracy"}]
        self.seed_lock_held = False

    def on_train_begin(self, trainer):
        self.trainer = trainer
        if self.seed_lock_held:  # the model is built: other tabs may seed now
            self.seed_lock_held = False
            SEED_LOCK.release()
        self._park()

    def on_batch_begin(self, trainer, step):
        # parked *before* a step, so a finished epoch's summary (on_epoch_end) is already
        # recorded when the page looks; the Gate comes before the monitor in the callback
        # list, so the monitor's forward hooks are not installed while the page reads
        if self.granted <= 0:
            self._park()
        self.granted -= 1

    def on_epoch_end(self, trainer, epoch, logs):
        test = evaluate(trainer.model, trainer.loss_fn, self.test_data)
        self.epochs.append(
            {
                "epoch": epoch + 1,
                "step": trainer.global_step,
                "train_loss": _float(logs.get("train_loss")),
                "train_accuracy": _float(logs.get("train_accuracy")),
                "test_loss": _float(test["loss"]),
                "test_accuracy": _float(test["accuracy"]),
            }
        )

    def _park(self):
        with self.cond:
            self.parked = True
            self.cond.notify_all()
            while self.granted <= 0 and not self.stop:
                self.cond.wait()
            self.parked = False
            if self.stop:
                raise Stopped


def _float(x):
    return None if x is None else float(x)


class Session:
    """A tab's state, data and run. Methods are called from one thread at a time (the
    tab's WebSocket handler); the training thread only runs between ``advance`` calls."""

    def __init__(self, state: dict, uploads=None):
        self.state = state
        self.data = page_data.build(state, uploads)
        self.config = train_config(state, self.data.task)
        self.prepared = prepare_run_data(self.config, self.data.splits)
        self.monitor = GradientFlowMonitor(every=MONITOR_EVERY)
        self.gate = Gate(self.prepared.test)
        self.result = None
        self.error = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._work, name="playground-train", daemon=True)
        self.thread.start()
        self._wait_parked()
        if self.error is not None:
            raise self.error

    # --- the training thread -----------------------------------------------------------
    def _work(self):
        SEED_LOCK.acquire()
        self.gate.seed_lock_held = True
        try:
            # a diverging run is one of the lessons: the page reports NaN/inf itself (stop
            # reason, diagnosis), so NumPy's overflow warnings would only flood the console
            with np.errstate(all="ignore"):
                self.result = run_training(
                    self.config, callbacks=[self.gate, self.monitor], splits=self.data.splits
                )
        except Stopped:
            pass
        except Exception as e:  # reported to the page as one line
            self.error = e
        finally:
            if self.gate.seed_lock_held:
                self.gate.seed_lock_held = False
                SEED_LOCK.release()
            self.finished.set()
            with self.gate.cond:
                self.gate.cond.notify_all()

    def _wait_parked(self):
        gate = self.gate
        with gate.cond:
            while not (gate.parked and gate.granted <= 0) and not self.finished.is_set():
                gate.cond.wait()

    # --- what the page calls -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    @property
    def trainer(self):
        return self.gate.trainer

    @property
    def model(self):
        return self.gate.trainer.model

    @property
    def step(self) -> int:
        return int(self.trainer.global_step) if self.trainer is not None else 0

    def advance(self, steps: int) -> int:
        """Run ``steps`` optimizer steps (fewer if training stops); returns how many ran."""
        if not self.running or steps <= 0:
            return 0
        before = self.step
        with self.gate.cond:
            self.gate.granted = int(steps)
            self.gate.cond.notify_all()
        self._wait_parked()
        self._trim_monitor()
        return self.step - before

    def stop_reason(self) -> str | None:
        """Why training ended on its own (NaN loss), or an error, or None while it runs."""
        if self.error is not None:
            return str(self.error)
        if self.trainer is not None and self.trainer.stop_reason:
            return self.trainer.stop_reason
        return None

    def close(self):
        """End the run and free the thread (a reset, a closed tab)."""
        with self.gate.cond:
            self.gate.stop = True
            self.gate.cond.notify_all()
        self.thread.join(timeout=10)

    def inputs(self, P: np.ndarray) -> np.ndarray:
        """Network inputs for points ``P`` of the plane, prepared as the training rows."""
        X = page_data.feature_matrix(P, self.data.features)
        return prepare_inputs(X, self.prepared.state, np.dtype(self.config.dtype))

    def _trim_monitor(self):
        records = self.monitor.records
        if len(records) <= KEEP_STEPS + 100:
            return
        steps = [r for r in records if r.get("type") == "step"]
        keep_ids = {id(r) for r in steps[:20] + steps[-KEEP_STEPS:]}
        epochs = [r for r in records if r.get("type") == "epoch"][-50:]
        keep_ids |= {id(r) for r in epochs}
        self.monitor.records[:] = [
            r for r in records if r.get("type") in ("meta", "event") or id(r) in keep_ids
        ]
