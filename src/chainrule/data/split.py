"""Holding out data: random and stratified train/validation splits.

A stratified split keeps each class's share the same in both parts, which matters for small
or imbalanced sets (digits' 360 test images should not be short of 8s by chance). Class
quotas use largest remainders, so the held-out part has exactly
``round(n * fraction)`` rows whether or not it is stratified.
"""

from __future__ import annotations

import numpy as np

from chainrule.data.seeding import as_generator


def _count(n: int, fraction: float, what: str) -> int:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{what} must be between 0 and 1 (exclusive), got {fraction!r}")
    k = round(n * fraction)
    if n < 2 or k < 1 or k > n - 1:
        raise ValueError(f"{what}={fraction} of {n} rows leaves an empty part; use more data")
    return k


def split_indices(
    y, fraction: float, rng=0, stratify: bool = False, what: str = "val_fraction"
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(keep, held_out)``, each in shuffled order, with
    ``len(held_out) == round(len(y) * fraction)``."""
    y = np.asarray(y)
    n = len(y)
    k = _count(n, fraction, what)
    gen = as_generator(rng)
    if not stratify:
        order = gen.permutation(n)
        return order[k:], order[:k]

    classes, inverse = np.unique(y, return_inverse=True, axis=0 if y.ndim > 1 else None)
    inverse = inverse.reshape(-1)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    # Largest-remainder quotas: floor of each class's exact share, then one more row for
    # the classes with the biggest fractional parts until the total is exactly k.
    exact = np.array([len(m) * k / n for m in members])
    quota = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[: k - quota.sum()]] += 1
    held, kept = [], []
    for m, q in zip(members, quota):
        m = gen.permutation(m)
        held.append(m[:q])
        kept.append(m[q:])
    held_out = gen.permutation(np.concatenate(held))
    keep = gen.permutation(np.concatenate(kept))
    return keep, held_out


def train_val_split(X, y, val_fraction: float, rng=0, stratify: bool = False):
    """Split ``(X, y)`` into ``(X_train, X_val, y_train, y_val)`` (scikit-learn's order).

    ``rng`` is an int seed or a Generator; the same seed gives the same split. With
    ``stratify=True`` every class keeps (to within one row) its share in both parts.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_val_split: X has {len(X)} rows but y has {len(y)}")
    train, val = split_indices(y, val_fraction, rng, stratify)
    return X[train], X[val], y[train], y[val]
