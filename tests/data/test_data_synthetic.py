"""The synthetic 2-D generators: shapes, balance, determinism and the geometry of each set."""

import numpy as np
import pytest

from chainrule.data import make_blobs, make_circles, make_moons, make_spirals, make_xor

GENERATORS = [make_moons, make_circles, make_spirals, make_xor, make_blobs]


@pytest.mark.parametrize("make", GENERATORS)
def test_shape_dtype_balance_and_seed(make):
    X, y = make(n_samples=101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(n_samples=101, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make(n_samples=101, noise=0.1, seed=4)[0], X)
    assert np.abs(X).max() < 2.0
    assert not np.array_equal(y, np.sort(y))  # rows are shuffled


@pytest.mark.parametrize("make", GENERATORS)
def test_argument_checks(make):
    with pytest.raises(ValueError, match="n_samples"):
        make(n_samples=1)
    with pytest.raises(ValueError, match="noise"):
        make(n_samples=10, noise=-1.0)


def test_noise_free_geometry():
    X, y = make_circles(400, noise=0.0)
    r = np.linalg.norm(X, axis=1)
    assert r[y == 1].max() <= 0.5 + 1e-6 and r[y == 0].min() >= 0.7 - 1e-6

    X, y = make_xor(400, noise=0.0)
    assert np.all((X[:, 0] * X[:, 1] > 0) == (y == 1))
    assert np.abs(X).min() >= 0.06 - 1e-6

    X, y = make_moons(400, noise=0.0)
    # upper arc: unit circle around (-0.5, -0.25); lower arc: around (0.5, 0.25)
    d0 = np.linalg.norm(X[y == 0] - [-0.5, -0.25], axis=1)
    d1 = np.linalg.norm(X[y == 1] - [0.5, 0.25], axis=1)
    np.testing.assert_allclose(d0, 1.0, atol=1e-5)
    np.testing.assert_allclose(d1, 1.0, atol=1e-5)

    X, y = make_spirals(300, noise=0.0, n_classes=3)
    assert sorted(np.bincount(y).tolist()) == [100, 100, 100]
    assert np.linalg.norm(X, axis=1).max() < 1.0


def test_blobs_centres_and_spread():
    centers = np.array([[0.0, 0.0], [5.0, 5.0]])
    X, y = make_blobs(2000, noise=0.5, seed=0, centers=centers)
    for c in (0, 1):
        np.testing.assert_allclose(X[y == c].mean(axis=0), centers[c], atol=0.06)
        np.testing.assert_allclose(X[y == c].std(axis=0), 0.5, atol=0.05)
    X, y = make_blobs(60, seed=0, centers=4, n_features=3)
    assert X.shape == (60, 3) and y.max() == 3


def test_noise_moves_points():
    X0, _ = make_moons(200, noise=0.0, seed=0)
    X1, _ = make_moons(200, noise=0.2, seed=0)
    assert 0.1 < np.abs(X1 - X0).mean() < 0.3
