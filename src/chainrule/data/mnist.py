"""MNIST and Fashion-MNIST: 70,000 28x28 grey images in 10 classes, 60,000 train/10,000 test.

Both come as the same four IDX files::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

each gzip-compressed (``.gz``) or raw. The loader looks for them, file by file, in
``data_dir``, then ``data_dir/<name>``, then the cache folder (``$CHAINRULE_DATA/<name>``
or ``~/.cache/chainrule/<name>``, see ``chainrule.data.download``). Missing files are
downloaded (unless ``download=False``) into ``data_dir`` if given, else the cache, and kept
only if the MD5 of their decompressed content is the published one. Images are flattened to
784 float32 features scaled to [0, 1]; labels are int64.

Sources: MNIST by Y. LeCun, C. Cortes and C. J. C. Burges; Fashion-MNIST by Zalando Research
(H. Xiao, K. Rasul, R. Vollgraf, 2017, MIT licence).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.data.dataset import Splits
from chainrule.data.download import cache_dir, download_file
from chainrule.data.idx import read_idx

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class IdxSource:
    """One IDX data set: where to get it and how to recognise the right files."""

    name: str  # cache sub-folder and registry name
    title: str  # for messages
    mirrors: tuple[str, ...]  # base URLs; each file is mirror + "<file>.gz"
    md5: dict  # file name -> MD5 of the decompressed content
    classes: list | None = None


MNIST = IdxSource(
    name="mnist",
    title="MNIST",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    md5={
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5={
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    classes=[
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
)


def _find(folders: list[Path], filename: str) -> Path | None:
    for folder in folders:
        for candidate in (folder / (filename + ".gz"), folder / filename):
            if candidate.is_file():
                return candidate
    return None


def locate_files(source: IdxSource, data_dir=None, download: bool = True) -> dict[str, Path]:
    """Paths of the four files, downloading the missing ones if allowed."""
    folders = []
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        folders += [data_dir, data_dir / source.name]
    folders.append(cache_dir(source.name))
    target = data_dir if data_dir is not None else cache_dir(source.name)

    paths = {f: _find(folders, f) for f in FILES}
    missing = [f for f, p in paths.items() if p is None]
    if missing and download:
        try:
            for f in missing:
                paths[f] = download_file(f + ".gz", list(source.mirrors), source.md5[f], target)
        except OSError as e:
            missing = [f for f, p in paths.items() if p is None]
            reason = " ".join(str(e).split())  # one line, whatever the OS error said
            message = _where_to_put(source, missing, folders, target, reason)
            raise FileNotFoundError(message) from None
    elif missing:
        raise FileNotFoundError(_where_to_put(source, missing, folders, target, "download=False"))
    return paths


def _where_to_put(source, missing, folders, target, reason) -> str:
    names = ", ".join(f + ".gz" for f in missing)
    searched = ", ".join(os.fspath(f) for f in dict.fromkeys(folders))
    return (
        f"{source.title} files missing ({reason}); searched {searched}. "
        f"Put {names} (gzip or raw) in {target}, or point data_dir / --data-dir at the "
        f"folder that holds them"
    )


def _images_and_labels(source: IdxSource, images_path: Path, labels_path: Path):
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{labels_path}: expected {len(images)} uint8 labels to match {images_path.name}, "
            f"got {labels.dtype} {labels.shape}"
        )
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {int(labels.max())} is outside 0..9")
    X = images.reshape(len(images), -1).astype(np.float32)
    X /= 255.0
    return X, labels.astype(np.int64)


def load_idx_dataset(source: IdxSource, data_dir=None, download: bool = True) -> Splits:
    paths = locate_files(source, data_dir, download)
    X_train, y_train = _images_and_labels(
        source, paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"]
    )
    X_test, y_test = _images_and_labels(
        source, paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"]
    )
    return Splits(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        n_classes=10,
        n_features=X_train.shape[1],
        name=source.name,
        task="classification",
        classes=list(source.classes) if source.classes else None,
    )


def load_mnist(data_dir=None, download: bool = True) -> Splits:
    """MNIST handwritten digits: 60,000 train / 10,000 test, 784 features in [0, 1]."""
    return load_idx_dataset(MNIST, data_dir, download)


def load_fashion_mnist(data_dir=None, download: bool = True) -> Splits:
    """Fashion-MNIST clothing images: same format and sizes as MNIST, 10 garment classes."""
    return load_idx_dataset(FASHION_MNIST, data_dir, download)
