"""``load_dataset(name)``: one entry point from a name (the CLI's ``--data``) to ``Splits``.

Names are case-insensitive and ``_`` equals ``-`` (``Fashion_MNIST`` is ``fashion-mnist``).
Any other name ending in ``.csv`` or ``.csv.gz``, or naming an existing file, is loaded
with ``load_csv``. Options a loader does not take are refused with their names rather than
ignored, so a typo cannot silently run with defaults.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from chainrule.data.csv_files import load_csv
from chainrule.data.dataset import Splits
from chainrule.data.digits import load_digits
from chainrule.data.mnist import load_fashion_mnist, load_mnist
from chainrule.data.synthetic import GENERATORS, load_synthetic


def _digits(data_dir=None):
    return load_digits()  # ships inside the package: data_dir is not needed


def _synthetic_loader(kind: str):
    make = GENERATORS[kind]

    def load(data_dir=None, n_samples=1000, noise=0.1, seed=0, test_fraction=0.2, **options):
        return load_synthetic(kind, n_samples, noise, seed, test_fraction, **options)

    # what load() accepts, for the option check: the common ones plus the generator's own
    extra = [p for p in inspect.signature(make).parameters if p not in ("n_samples", "noise")]
    load.accepted = {"data_dir", "n_samples", "noise", "seed", "test_fraction", *extra}
    return load


DATASETS = {
    "digits": _digits,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    **{kind: _synthetic_loader(kind) for kind in GENERATORS},
}


def available_datasets() -> list[str]:
    """The names ``load_dataset`` knows (besides paths to CSV files)."""
    return list(DATASETS)


def _accepted(loader) -> set[str]:
    accepted = getattr(loader, "accepted", None)
    if accepted is None:
        accepted = set(inspect.signature(loader).parameters)
    return accepted


def _csv_loader(path: str):
    def load(data_dir=None, **kw):
        return load_csv(path, **kw)

    load.accepted = set(inspect.signature(load_csv).parameters) - {"path"} | {"data_dir"}
    return load


def load_dataset(name: str, data_dir=None, **kw) -> Splits:
    """Load the data set called ``name`` (or a CSV file path) as train/test ``Splits``.

    ``data_dir`` is where MNIST-style files are looked for and downloaded to; ``kw`` are the
    loader's own options (``download=False``; ``n_samples``, ``noise``, ``seed`` for the
    synthetic sets; ``label``, ``task``, ``test_fraction`` … for CSV files).
    """
    key = str(name).strip().lower().replace("_", "-")
    if key in DATASETS:
        loader = DATASETS[key]
    elif key.endswith((".csv", ".csv.gz")) or Path(str(name)).expanduser().is_file():
        loader = _csv_loader(str(name))
    else:
        choices = ", ".join(DATASETS)
        raise ValueError(
            f"unknown data set {name!r}; choose from: {choices}, or a path to a .csv file"
        )
    unknown = sorted(set(kw) - _accepted(loader))
    if unknown:
        raise ValueError(
            f"data set {key!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(_accepted(loader) - {'data_dir'})) or 'none'}"
        )
    return loader(data_dir=data_dir, **kw)
