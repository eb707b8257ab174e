"""Export: the page's run as files ``chainrule train`` (or a short script) trains again.

Three texts, meant to sit in one folder:

* ``<data>.csv`` — every point as the network saw it: the feature columns (x₁, x₁², …)
  and the label, floats written so they read back bit for bit;
* ``<data>.toml`` — the ``chainrule train --config`` file: the same options the page's
  run used (``test_fraction`` so the CSV is split as on the page, the seed, the network,
  the optimizer) with ``epochs`` set to the epochs the page completed. Its first lines
  say what the page showed at that epoch; a ``# playground:`` line holds the page's state
  so ``chainrule playground --config`` reopens the same lesson;
* ``<data>.py`` — the same training in a screen of plain chainrule calls;
* ``<data>_step.py`` — one training step as the straight-line NumPy that ``cr.compile``
  replays (forward, the chain rule backward, the optimizer update), as
  ``chainrule train --show-step`` prints it.

Same seed, same code path (``run_training``), same rows: the same numbers. The tests train
each export and compare with the page.
"""

from __future__ import annotations

import dataclasses

from chainrule.compile import CaptureError
from chainrule.experiment.config import TrainConfig, read_config, to_toml
from chainrule.experiment.run import resolved
from chainrule.experiment.step_source import step_source
from chainrule.playground import data as page_data
from chainrule.playground.session import SEED_LOCK
from chainrule.playground.state import OPTIMIZERS, from_query, to_query, validate

STATE_PREFIX = "# playground: "


def export(session) -> dict:
    """``{"csv", "toml", "python", "names", "epoch", "expected"}`` for the session now."""
    epochs = session.gate.epochs
    done = len(epochs)
    name = session.state["data"]
    names = {"csv": f"{name}.csv", "toml": f"{name}.toml", "python": f"{name}.py"}
    config = dataclasses.replace(
        session.config, data=names["csv"], epochs=max(done, 1), quiet=False, plots=False
    )
    expected = epochs[-1] if done else None
    head = [
        "# exported by chainrule playground; in this folder run:",
        f"#   chainrule train --config {names['toml']}",
    ]
    if expected is not None:
        head.append(
            f"# the page showed after epoch {done} (step {expected['step']}): "
            f"test loss {_num(expected['test_loss'])}, train loss {_num(expected['train_loss'])}"
        )
    else:
        head.append("# exported before the first epoch ended: this trains one epoch")
    head.append(STATE_PREFIX + to_query(session.state))
    toml = "\n".join(head) + "\n" + to_toml(resolved(config))
    names["step"] = f"{name}_step.py"
    return {
        "names": names,
        "csv": page_data.csv_text(session.data),
        "toml": toml,
        "python": python_script(session, config, names, done),
        "step": step_text(session, config),
        "epoch": done,
        "expected": expected,
    }


def step_text(session, config: TrainConfig) -> str:
    """One training step of this network as the NumPy calls ``cr.compile`` replays
    (``chainrule train --show-step``), or why it could not be captured."""
    try:
        with SEED_LOCK:  # step_source seeds the process-wide generator to build its model
            return step_source(config, session.data.splits)
    except CaptureError as e:
        return f"# this step is not captured, so it runs eagerly: {e}\n"


def _num(x) -> str:
    return "nan" if x is None else f"{x:.6f}"


def python_script(session, config: TrainConfig, names: dict, done: int) -> str:
    """A short script training the export with chainrule's building blocks: the same
    preparation, model, optimizer and loop as ``run_training``, spelled out."""
    s = session.state
    task = session.data.task
    optimizer, momentum, nesterov = OPTIMIZERS[s["opt"]]
    sizes = list(session.model.sizes)
    params = "cr.nn.param_groups(model, WEIGHT_DECAY)" if s["wd"] else "model.parameters()"
    if optimizer == "sgd":
        opt = (
            f"cr.optim.SGD({params}, lr=LR, momentum={momentum!r}, weight_decay=WEIGHT_DECAY"
            + (", nesterov=True" if nesterov else "")
            + ")"
        )
    elif optimizer == "adam":
        opt = f"cr.optim.Adam({params}, lr=LR, weight_decay=WEIGHT_DECAY)"
    elif optimizer == "adamw":
        opt = f"cr.optim.AdamW({params}, lr=LR, weight_decay=WEIGHT_DECAY)"
    elif optimizer == "rmsprop":
        opt = f"cr.optim.RMSprop({params}, lr=LR, weight_decay=WEIGHT_DECAY, momentum={momentum!r})"
    else:
        opt = f"cr.optim.Adagrad({params}, lr=LR, weight_decay=WEIGHT_DECAY)"
    if task == "regression":
        loss = "def loss_fn(out, t):\n    return F.mse_loss(out, t.reshape(out.shape))\n"
    elif config.loss == "cross-entropy":
        loss = "loss_fn = F.cross_entropy\n"
    else:
        loss = (
            f"EYE = np.eye({sizes[-1]}, dtype=np.float32)\n\n\n"
            "def loss_fn(logits, labels):  # squared error of the class probabilities\n"
            "    return F.mse_loss(F.softmax(logits, dim=-1), EYE[labels])\n"
        )
    penalty = []
    if s["l2"]:
        penalty.append(f"cr.nn.l2_penalty(m, {s['l2']!r})")
    if s["l1"]:
        penalty.append(f"cr.nn.l1_penalty(m, {s['l1']!r})")
    penalty_text = f"lambda m: {' + '.join(penalty)}" if penalty else "None"
    targets = (
        ""
        if task == "classification"
        else ("y, y_test = y.astype(np.float32), y_test.astype(np.float32)  # regression targets\n")
    )
    return f'''"""Train the network built in chainrule playground ({done} epochs).

Same rows, seed and steps as the page and as `chainrule train --config {names["toml"]}`.
"""

import numpy as np

import chainrule as cr
from chainrule.data import ArrayDataset, DataLoader, Standardizer, load_csv
from chainrule.nn import functional as F

SEED, EPOCHS, LR, WEIGHT_DECAY = {config.seed}, {done or 1}, {config.resolved_lr()!r}, {s["wd"]!r}

splits = load_csv("{names["csv"]}", test_fraction={s["test"]!r})  # split as on the page
scaler = Standardizer().fit(splits.X_train)  # statistics of the training rows only


def prepare(X):
    return np.ascontiguousarray(scaler.transform(X), dtype=np.float32)


X, y = prepare(splits.X_train), splits.y_train
X_test, y_test = prepare(splits.X_test), splits.y_test
{targets}
cr.manual_seed(SEED)  # the initial weights come from this seed
model = cr.nn.MLP({sizes}, activation="{config.activation}", init="{config.init}")
optimizer = {opt}
{loss}
loader = DataLoader(ArrayDataset(X, y), batch_size={config.batch_size}, shuffle=True, rng=SEED)
history = cr.train.fit(model, loss_fn, optimizer, loader, EPOCHS, penalty={penalty_text})
test = cr.train.evaluate(model, loss_fn, (X_test, y_test))
print(f"train loss {{history.last['train_loss']:.6f}}, test loss {{test['loss']:.6f}}")
'''


def lesson_from_config(path) -> dict:
    """A page state from a TOML file: the ``# playground:`` line of an export if present,
    else the ``chainrule train`` options the page has (network, optimizer, seed, …)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(STATE_PREFIX):
                return from_query(line[len(STATE_PREFIX) :])
    config = TrainConfig.from_dict(read_config(path), source=str(path))
    page = {
        "layers": config.layers,
        "act": config.activation,
        "lr": config.resolved_lr(),
        "batch": config.batch_size,
        "seed": config.seed,
        "l1": config.l1,
        "l2": config.l2,
        "wd": config.weight_decay,
    }
    init, _, scale = config.init.partition(":")
    page["init"] = init
    if scale:
        page["scale"] = float(scale)
    if config.loss in ("cross-entropy", "mse"):
        page["loss"] = config.loss
    for key, (opt, momentum, nesterov) in OPTIMIZERS.items():
        if opt == config.optimizer and (
            opt != "sgd"
            or ((config.momentum > 0) == (momentum > 0) and config.nesterov == nesterov)
        ):
            page["opt"] = key
            break
    if str(config.data).lower() in ("moons", "circles", "spirals", "xor", "blobs"):
        page["data"] = str(config.data).lower()
    return validate(page)
