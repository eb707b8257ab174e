"""Synthetic 2-D classification sets, in the spirit of TensorFlow Playground.

Two inputs are what you can *see*: a decision boundary over the plane shows what each
hidden layer buys (a linear model fails on all of these except blobs; xor needs one hidden
layer; spirals need several). Every generator takes ``n_samples``, ``noise`` (standard
deviation of Gaussian noise added to the coordinates after the labels are fixed) and
``seed`` (int or Generator), returns ``(X, y)`` as float32 ``(n, 2)`` and int64 ``(n,)``,
has balanced classes and shuffled rows, and puts the points roughly inside [-1.5, 1.5]^2.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.data.dataset import Splits
from chainrule.data.seeding import as_generator
from chainrule.data.split import split_indices


def _check(n_samples: int, noise: float, n_classes: int = 2) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < n_classes:
        raise ValueError(f"n_samples must be an int >= {n_classes}, got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")


def _class_sizes(n: int, k: int) -> list[int]:
    """``n`` split into ``k`` sizes differing by at most one."""
    return [n // k + (c < n % k) for c in range(k)]


def _finish(parts: list[np.ndarray], noise: float, gen: np.random.Generator):
    """Stack the per-class point sets, label them by position, add noise, shuffle."""
    X = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), c, dtype=np.int64) for c, p in enumerate(parts)])
    # always draw the noise, so one seed gives the same points and order at any noise level
    X = X + noise * gen.standard_normal(X.shape)
    order = gen.permutation(len(X))
    return X[order].astype(np.float32), y[order]


def make_moons(n_samples: int = 200, noise: float = 0.1, seed=0):
    """Two interleaving half circles: class 0 the upper arc, class 1 the lower one."""
    _check(n_samples, noise)
    gen = as_generator(seed)
    n0, n1 = _class_sizes(n_samples, 2)
    t0, t1 = gen.uniform(0, math.pi, n0), gen.uniform(0, math.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    shift = np.array([-0.5, -0.25])  # centre the pair on the origin
    return _finish([upper + shift, lower + shift], noise, gen)


def make_circles(n_samples: int = 200, noise: float = 0.1, seed=0):
    """A disc (class 1, radius < 0.5) inside a ring (class 0, radius 0.7..1), as in the
    Playground's "circle" set. Points are uniform over each area."""
    _check(n_samples, noise)
    gen = as_generator(seed)
    n_ring, n_disc = _class_sizes(n_samples, 2)

    def annulus(n, r_min, r_max):
        r = np.sqrt(gen.uniform(r_min**2, r_max**2, n))  # sqrt: uniform density in area
        t = gen.uniform(0, 2 * math.pi, n)
        return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)

    return _finish([annulus(n_ring, 0.7, 1.0), annulus(n_disc, 0.0, 0.5)], noise, gen)


def make_spirals(
    n_samples: int = 200, noise: float = 0.1, seed=0, n_classes: int = 2, turns: float = 1.75
):
    """``n_classes`` interleaved spiral arms (the Playground's "spiral" has two, 1.75 turns).

    Arm ``c`` is the curve ``r = s``, ``angle = 2π (turns·s + c / n_classes)`` for ``s`` in
    [0, 1), sampled evenly; more turns or classes make it harder.
    """
    _check(n_samples, noise, n_classes)
    gen = as_generator(seed)
    arms = []
    for c, n in enumerate(_class_sizes(n_samples, n_classes)):
        s = np.arange(n) / n
        angle = 2 * math.pi * (turns * s + c / n_classes)
        arms.append(np.stack([s * np.sin(angle), s * np.cos(angle)], axis=1))
    return _finish(arms, noise, gen)


def make_xor(n_samples: int = 200, noise: float = 0.1, seed=0, padding: float = 0.06):
    """Points in [-1, 1]^2, class 1 where x·y > 0 (first and third quadrants).

    As in the Playground, points are pushed ``padding`` away from the axes so the classes
    are separable before noise; no straight line separates them, one hidden layer does.
    """
    _check(n_samples, noise)
    gen = as_generator(seed)
    parts = []
    for c, n in enumerate(_class_sizes(n_samples, 2)):
        p = gen.uniform(padding, 1.0, size=(n, 2))  # first quadrant, then flip signs
        flip_x = gen.random(n) < 0.5
        # class 1: same signs (x·y > 0); class 0: opposite signs
        sx = np.where(flip_x, -1.0, 1.0)
        sy = sx if c == 1 else -sx
        parts.append(p * np.stack([sx, sy], axis=1))
    return _finish(parts, noise, gen)


def make_blobs(
    n_samples: int = 200,
    noise: float = 0.1,
    seed=0,
    centers=3,
    n_features: int = 2,
    center_box: tuple[float, float] = (-1.0, 1.0),
):
    """Gaussian blobs, one per class, with standard deviation ``noise``.

    ``centers`` is the number of classes (centres drawn uniformly from ``center_box`` in
    each of ``n_features`` dimensions) or an explicit ``(k, n_features)`` array of centres.
    """
    gen = as_generator(seed)
    if isinstance(centers, int) and not isinstance(centers, bool):
        _check(n_samples, noise, centers)
        centers = gen.uniform(*center_box, size=(centers, n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or len(centers) < 1:
            raise ValueError(f"centers must be an int or a (k, d) array, got shape {centers.shape}")
        _check(n_samples, noise, len(centers))
    sizes = _class_sizes(n_samples, len(centers))
    parts = [np.repeat(center[None, :], n, axis=0) for center, n in zip(centers, sizes)]
    return _finish(parts, noise, gen)


GENERATORS = {
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
    "xor": make_xor,
    "blobs": make_blobs,
}


def load_synthetic(
    kind: str,
    n_samples: int = 1000,
    noise: float = 0.1,
    seed=0,
    test_fraction: float = 0.2,
    **options,
) -> Splits:
    """A generated set as ``Splits``: ``n_samples`` points, stratified ``test_fraction``
    held out with the same ``seed``; ``options`` go to the generator (e.g. ``n_classes``
    for spirals, ``centers`` for blobs)."""
    make = GENERATORS[kind]
    X, y = make(n_samples=n_samples, noise=noise, seed=seed, **options)
    train, test = split_indices(y, test_fraction, seed, stratify=True, what="test_fraction")
    return Splits(
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        n_classes=int(y.max()) + 1,
        n_features=X.shape[1],
        name=kind,
        task="classification",
    )


# --- regression surfaces ------------------------------------------------------------------
# Two targets over the plane, as in the Playground's regression sets: points uniform in
# [-1, 1]^2, float32 targets, ``noise`` the standard deviation of Gaussian noise added to
# the target (not the coordinates: the surface is what a regression should recover).


def _surface(n_samples: int, noise: float, seed, f):
    _check(n_samples, noise, 1)
    gen = as_generator(seed)
    X = gen.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = f(X[:, 0], X[:, 1]) + noise * gen.standard_normal(n_samples)
    return X.astype(np.float32), y.astype(np.float32)


def make_plane(n_samples: int = 200, noise: float = 0.1, seed=0):
    """A tilted plane, ``y = (x₁ + x₂) / 2``: a linear model fits it exactly."""
    return _surface(n_samples, noise, seed, lambda a, b: 0.5 * (a + b))


GAUSSIAN_BUMPS = (  # (centre x₁, centre x₂, height): two peaks, two pits
    (-0.5, 0.5, 1.0),
    (0.5, -0.5, 1.0),
    (0.5, 0.5, -1.0),
    (-0.5, -0.5, -1.0),
)


def make_gaussian_surface(n_samples: int = 200, noise: float = 0.1, seed=0, width: float = 0.3):
    """A sum of four Gaussian bumps of standard deviation ``width``,
    ``y = Σ_c h_c exp(−‖x − μ_c‖² / (2·width²))`` (see ``GAUSSIAN_BUMPS``): needs hidden
    units."""

    def f(a, b):
        return sum(
            h * np.exp(-((a - cx) ** 2 + (b - cy) ** 2) / (2 * width**2))
            for cx, cy, h in GAUSSIAN_BUMPS
        )

    return _surface(n_samples, noise, seed, f)
