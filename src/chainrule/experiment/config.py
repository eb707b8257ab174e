"""``TrainConfig``: every option of a training run, declared once.

The dataclass below is the single schema: each field carries its type, default, help text,
choices, accepted spellings and option group. The command line (``chainrule train`` builds
its argparse options from it), TOML files (``--config run.toml``), the ``config.toml``
written into every run folder and the sweep runner (which validates search spaces against
it) all read the same declarations, so a new option is one new field.

    >>> cfg = TrainConfig.from_dict({"layers": "500,300", "lr": 0.1})   # validated
    >>> cfg.layers
    [500, 300]
    >>> TrainConfig.from_dict({"lrr": 0.1})
    ValueError: unknown config key 'lrr' (did you mean lr?); valid keys: data, data_dir, ...

Keys may be spelled with dashes or underscores (``batch-size`` = ``batch_size``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

from chainrule.experiment.options import (
    OptionCombinationError,
    convert,
    dashed,
    option,
    underscored,
)
from chainrule.files import read_toml

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "identity")
# "normal", "uniform" and "constant" take a scale after a colon: "normal:0.01";
# "zeros" and "constant" are there to demonstrate the symmetry problem (they do not train)
INITS = (
    "he",
    "he_uniform",
    "xavier",
    "xavier_normal",
    "lecun",
    "orthogonal",
    "normal",
    "uniform",
    "default",
    "zeros",
    "constant",
)
SCALED_INITS = ("normal", "uniform", "constant")
LOSSES = ("cross-entropy", "mse")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
# "unscaled" is θ ← θ − α∇L − λθ (the decay not multiplied by the learning rate);
# "lecture" is its old name, still accepted
DECAY_STYLES = ("coupled", "decoupled", "unscaled")
DECAY_ALIASES = {"lecture": "unscaled"}
SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")
DTYPES = ("float32", "float64")
GROUPS = ("data", "model", "optimization", "regularization", "schedule", "run")


# the learning rate used when none is given: each optimizer's usual good starting point
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}


@dataclass
class TrainConfig:
    """All the knobs of one training run (see ``chainrule train --help`` for prose)."""

    # --- data -------------------------------------------------------------------------
    data: str = option(
        "digits",
        "data set: digits, mnist, fashion-mnist, moons, circles, spirals, xor, blobs, "
        "or a path to a .csv file (last column = label)",
        "data",
        "str",
        metavar="NAME",
    )
    data_dir: str | None = option(
        None,
        "folder holding (or receiving) MNIST-style files",
        "data",
        "str",
        metavar="DIR",
        nullable=True,
    )
    test_fraction: float | None = option(
        None,
        "share of a synthetic set or CSV file held out as its test split (default 0.2; "
        "digits and MNIST come with a fixed test split)",
        "data",
        "float",
        metavar="FRAC",
        nullable=True,
    )
    val_split: float = option(
        0.1,
        "fraction of the training set held out for validation (0: none)",
        "data",
        "float",
        metavar="FRAC",
    )
    standardize: bool = option(
        True,
        "scale features to zero mean, unit variance (statistics from training rows)",
        "data",
        "bool",
    )
    # --- model ------------------------------------------------------------------------
    layers: list = option(  # noqa: RUF009 (option() returns a dataclass field)
        [256, 128],
        "hidden layer widths, comma-separated ('' for none: a linear model)",
        "model",
        "int_list",
        metavar="N,N,...",
    )
    activation: str = option(
        "relu", "hidden-layer activation", "model", "str", ACTIVATIONS, spelling=underscored
    )
    init: str = option(
        "he",
        "weight initialization (normal:STD and uniform:A take a scale); biases start "
        "at 0 except with default (PyTorch's Linear init)",
        "model",
        "str",
        INITS,
        metavar="INIT",
        scaled=SCALED_INITS,
    )
    dtype: str = option("float32", "floating-point precision", "model", "str", DTYPES)
    # --- optimization -----------------------------------------------------------------
    loss: str = option(
        "cross-entropy",
        "loss: softmax cross-entropy, or mean squared error on the "
        "softmax probabilities against one-hot targets (regression: on the outputs); mse's "
        "gradients are small: use a ~10x larger lr",
        "optimization",
        "str",
        LOSSES,
        spelling=dashed,
    )
    optimizer: str = option("sgd", "optimizer", "optimization", "str", OPTIMIZERS)
    lr: float | None = option(
        None,
        "learning rate (default: sgd 0.05, adam/adamw/rmsprop 0.001, adagrad 0.01)",
        "optimization",
        "float",
        metavar="LR",
        nullable=True,
    )
    momentum: float = option(0.9, "momentum (sgd, rmsprop)", "optimization", "float", metavar="MU")
    nesterov: bool = option(False, "Nesterov momentum (sgd)", "optimization", "bool")
    batch_size: int = option(32, "examples per minibatch", "optimization", "int", metavar="N")
    epochs: int = option(30, "passes over the training set", "optimization", "int", metavar="N")
    clip_grad_norm: float | None = option(
        None,
        "rescale gradients whose global L2 norm exceeds this",
        "optimization",
        "float",
        metavar="MAX",
        nullable=True,
    )
    clip_grad_value: float | None = option(
        None,
        "clamp every gradient entry to [-V, V]",
        "optimization",
        "float",
        metavar="V",
        nullable=True,
    )
    # --- regularization ---------------------------------------------------------------
    weight_decay: float = option(
        5e-4,
        "weight decay λ applied by the optimizer (see --decay-style)",
        "regularization",
        "float",
        metavar="LAMBDA",
    )
    decay_style: str = option(
        "coupled",
        "coupled: g += λθ (L2 through the optimizer, torch's default); decoupled: θ -= αλθ; "
        "unscaled: θ -= λθ, not scaled by the lr (sgd only; 'lecture' is its old name)",
        "regularization",
        "str",
        DECAY_STYLES,
        aliases=DECAY_ALIASES,
    )
    l2: float = option(
        0.0,
        "add λ/2·Σ‖W‖² over the weight matrices to the loss",
        "regularization",
        "float",
        metavar="LAMBDA",
    )
    l1: float = option(
        0.0,
        "add λ·Σ|W| over the weight matrices to the loss",
        "regularization",
        "float",
        metavar="LAMBDA",
    )
    dropout: float = option(
        0.2,
        "dropout probability after each hidden layer",
        "regularization",
        "float",
        metavar="P",
    )
    early_stopping: int | None = option(
        None,
        "stop after this many epochs without a better validation loss, and keep the best weights",
        "regularization",
        "int",
        metavar="PATIENCE",
        nullable=True,
    )
    min_delta: float = option(
        0.0,
        "smallest validation-loss decrease that counts as better (early stopping)",
        "regularization",
        "float",
        metavar="D",
    )
    # --- schedule ---------------------------------------------------------------------
    schedule: str = option("cosine", "learning-rate schedule", "schedule", "str", SCHEDULES)
    warmup: float = option(
        0.0,
        "epochs of linear warmup from lr/10 before the schedule",
        "schedule",
        "float",
        metavar="EPOCHS",
    )
    step_size: int = option(10, "epochs between decays (step)", "schedule", "int", metavar="EPOCHS")
    milestones: list = option(  # noqa: RUF009
        [],
        "epochs at which to decay (multistep), comma-separated",
        "schedule",
        "int_list",
        metavar="E,E,...",
    )
    gamma: float = option(
        0.1,
        "decay factor (step, multistep, plateau; exponential: per epoch)",
        "schedule",
        "float",
        metavar="G",
    )
    min_lr: float = option(
        0.0, "lowest learning rate (cosine, plateau)", "schedule", "float", metavar="LR"
    )
    plateau_patience: int = option(
        3,
        "epochs without a better validation loss before the lr is cut (plateau)",
        "schedule",
        "int",
        metavar="N",
    )
    # --- run --------------------------------------------------------------------------
    seed: int = option(
        0, "seed for initialization, dropout, shuffling and the split", "run", "int", metavar="S"
    )
    out: str | None = option(
        None,
        "run folder (default: runs/<data>-<timestamp>)",
        "run",
        "str",
        metavar="DIR",
        nullable=True,
    )
    checkpoint_every: int | None = option(
        None,
        "also save last.safetensors every N optimizer steps (for --resume mid-epoch)",
        "run",
        "int",
        metavar="STEPS",
        nullable=True,
    )
    threads: int = option(
        1,
        "BLAS and optimizer threads; 0 leaves the libraries' defaults (all cores). One "
        "thread is fastest for small models and on busy machines (BLAS needs threadpoolctl)",
        "run",
        "int",
        metavar="N",
    )
    quiet: bool = option(False, "print only the final summary", "run", "bool")
    plots: bool = option(True, "save loss/accuracy curves as PNG (needs matplotlib)", "run", "bool")
    monitor: int | None = option(
        None,
        "record gradient flow every N steps (chainrule.diagnostics)",
        "run",
        "int",
        metavar="N",
        nullable=True,
    )
    detect_anomaly: bool = option(
        False, "check every op for NaN/inf and name the op that made it (slow)", "run", "bool"
    )
    compile: bool = option(
        True,
        "capture the training step once per batch shape and replay it as straight-line "
        "NumPy (cr.compile): the same run bit for bit, without the engine's per-op work",
        "run",
        "bool",
    )

    # --- construction and validation -----------------------------------------------------
    @classmethod
    def fields(cls) -> dict:
        """``{name: dataclasses.Field}`` in declaration order (the schema)."""
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        """A validated config from ``values`` (missing keys take their defaults)."""
        return cls().updated(values, source)

    def updated(self, values: dict, source: str = "config") -> TrainConfig:
        """A copy with ``values`` applied (keys with ``-`` or ``_``), converted and checked."""
        schema = self.fields()
        new = dataclasses.replace(self)
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in schema:
                close = difflib.get_close_matches(name, schema, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(
                    f"unknown {source} key {key!r}{hint}; valid keys: {', '.join(schema)}"
                )
            setattr(new, name, convert(schema[name], value, f"{source} key {name!r}"))
        new.validate()
        return new

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.fields()}

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def validate(self) -> None:
        """Check ranges, then combinations; raise ValueError with one line (an
        :class:`OptionCombinationError` when options clash)."""
        for name, f in self.fields().items():
            value = getattr(self, name)
            if value is None and f.metadata["nullable"]:
                continue
            convert(f, value, f"{name!r}")  # types and choices
        for name in ("batch_size", "epochs", "step_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.plateau_patience < 0:
            raise ValueError(f"plateau_patience must be >= 0, got {self.plateau_patience}")
        for name in ("weight_decay", "l2", "l1", "momentum", "warmup", "min_lr", "min_delta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "clip_grad_norm", "clip_grad_value"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        for name in ("checkpoint_every", "monitor", "early_stopping"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0 <= self.val_split < 1:
            raise ValueError(f"val_split must be in [0, 1), got {self.val_split}")
        if self.test_fraction is not None and not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.momentum < 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if any(w < 1 for w in self.layers):
            raise ValueError(f"layers must be positive widths, got {self.layers}")
        if self.decay_style == "unscaled" and self.optimizer != "sgd":
            raise OptionCombinationError(
                "decay_style 'unscaled' is only defined for --optimizer sgd"
            )
        if self.decay_style == "decoupled" and self.optimizer not in ("sgd", "adam", "adamw"):
            raise OptionCombinationError(
                f"decay_style 'decoupled' is not available for {self.optimizer}; "
                "use sgd, adam or adamw"
            )
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise OptionCombinationError("nesterov needs --optimizer sgd and momentum > 0")
        if self.schedule == "multistep" and not self.milestones:
            raise OptionCombinationError(
                "schedule 'multistep' needs milestones (e.g. --milestones 10,20)"
            )
        if self.schedule == "plateau" and self.val_split == 0:
            raise OptionCombinationError(
                "schedule 'plateau' watches the validation loss: set val_split > 0"
            )
        if self.early_stopping is not None and self.val_split == 0:
            raise OptionCombinationError(
                "early_stopping watches the validation loss: set val_split > 0"
            )


# --- TOML ---------------------------------------------------------------------------------
def read_config(path) -> dict:
    """The options in a TOML config file, flattened one level (the group tables
    ``[data]``, ``[model]``, ... may hold the options, as ``to_toml`` writes them)."""
    table = read_toml(path, what="config file")
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict) and key in GROUPS:
            flat.update(value)  # [model] layers = ... is the same as layers = ...
        elif isinstance(value, dict):  # a misspelt group would lose every option in it
            close = difflib.get_close_matches(key, GROUPS, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise ValueError(
                f"{path}: unknown table [{key}]{hint}; the tables are "
                + ", ".join(f"[{g}]" for g in GROUPS)
                + " (or write the options at the top level)"
            )
        else:
            flat[key] = value
    return flat


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: TrainConfig) -> str:
    """The whole config as TOML, grouped under comments; unset options appear commented
    out (TOML has no null), so reading the file back gives the same config."""
    lines = ["# chainrule train configuration (all options; see chainrule train --help)"]
    schema = config.fields()
    for group in GROUPS:
        lines.append(f"\n# --- {group} ---")
        for name, f in schema.items():
            if f.metadata["group"] != group:
                continue
            value = getattr(config, name)
            if value is None:
                lines.append(f"# {name} =   # unset")
            else:
                lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
