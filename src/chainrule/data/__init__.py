"""chainrule.data: data sets and minibatches as plain NumPy arrays.

Nothing here depends on the autodiff engine: loaders return NumPy arrays (float32 features,
int64 class labels or float32 regression targets) and the training loop wraps them in
tensors. The pieces:

- ``Dataset``, ``ArrayDataset``, ``DataLoader``: minibatches, reproducible shuffling and
  exact mid-epoch resume through ``loader.state_dict()``/``load_state_dict()``.
- ``train_val_split``, ``Standardizer``: hold out validation rows; scale features with
  statistics from the training rows only.
- ``Splits`` and ``load_dataset(name)``: "digits" (ships with the package; UCI ML
  hand-written digits via scikit-learn, see ``DIGITS_LICENSE.txt``), "mnist",
  "fashion-mnist" (IDX files, found locally or downloaded and checksummed), the synthetic
  2-D sets "moons", "circles", "spirals", "xor", "blobs", and CSV files.
"""

from chainrule.data.csv_files import load_csv
from chainrule.data.dataset import ArrayDataset, Dataset, Splits
from chainrule.data.digits import load_digits
from chainrule.data.download import cache_dir
from chainrule.data.idx import read_idx, write_idx
from chainrule.data.loader import DataLoader
from chainrule.data.mnist import load_fashion_mnist, load_mnist
from chainrule.data.registry import available_datasets, load_dataset
from chainrule.data.split import train_val_split
from chainrule.data.standardize import Standardizer
from chainrule.data.synthetic import make_blobs, make_circles, make_moons, make_spirals, make_xor

__all__ = [
    "ArrayDataset",
    "DataLoader",
    "Dataset",
    "Splits",
    "Standardizer",
    "available_datasets",
    "cache_dir",
    "load_csv",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spirals",
    "make_xor",
    "read_idx",
    "train_val_split",
    "write_idx",
]
