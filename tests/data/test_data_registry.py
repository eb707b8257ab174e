"""load_dataset dispatch and the bundled digits set."""

import numpy as np
import pytest

from chainrule.data import available_datasets, load_dataset, load_digits


def test_digits_ships_with_the_package_and_has_a_fixed_split():
    s = load_digits()
    assert (s.X_train.shape, s.X_test.shape) == ((1438, 64), (359, 64))
    assert s.X_train.dtype == np.float32 and s.y_train.dtype == np.int64
    assert s.X_train.min() == 0.0 and s.X_train.max() == 1.0
    assert (s.n_classes, s.n_features, s.name, s.task) == (10, 64, "digits", "classification")
    counts = np.bincount(s.y_test)
    assert counts.sum() == 359 and counts.min() >= 35 and counts.max() <= 37  # stratified
    values = np.unique(np.concatenate([s.X_train, s.X_test]) * 16)
    np.testing.assert_allclose(values, np.arange(17), atol=1e-5)  # counts 0..16 scaled
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.y_test, s.y_test)
    np.testing.assert_array_equal(again.X_train, s.X_train)


def test_digits_content_matches_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    from chainrule.data.digits import read_digits

    X, y = read_digits()
    ref = datasets.load_digits()
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError) as info:
        load_dataset("foo")
    message = str(info.value)
    assert message.startswith("unknown data set 'foo'; choose from: digits, mnist, fashion-mnist")
    assert "moons" in message and "\n" not in message
    assert available_datasets()[:3] == ["digits", "mnist", "fashion-mnist"]


def test_unknown_options_are_refused_by_name():
    with pytest.raises(ValueError, match=r"does not take option.* noise"):
        load_dataset("digits", noise=0.1)
    with pytest.raises(ValueError, match="n_sample"):
        load_dataset("moons", n_sample=10)


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor", "blobs"])
def test_synthetic_sets_through_load_dataset(name):
    s = load_dataset(name, n_samples=250, noise=0.05, seed=1)
    assert s.X_train.shape == (200, 2) and s.X_test.shape == (50, 2)
    assert s.name == name and s.task == "classification"
    assert s.n_classes == (3 if name == "blobs" else 2)
    again = load_dataset(name.upper(), n_samples=250, noise=0.05, seed=1)
    np.testing.assert_array_equal(again.X_test, s.X_test)
    other = load_dataset(name, n_samples=250, noise=0.05, seed=2)
    assert not np.array_equal(other.X_test, s.X_test)


def test_generator_specific_options_pass_through():
    s = load_dataset("spirals", n_samples=300, n_classes=3, test_fraction=0.1)
    assert s.n_classes == 3 and len(s.y_test) == 30
    assert load_dataset("blobs", centers=5).n_classes == 5


def test_csv_path_dispatches_to_load_csv(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{-i},{i % 2}\n" for i in range(10)))
    s = load_dataset(str(path), test_fraction=0.2, label="y")
    assert s.name == "points" and s.n_features == 2 and len(s.y_test) == 2
    with pytest.raises(ValueError, match=r"does not take option.* noise"):
        load_dataset(str(path), noise=0.1)


def test_any_existing_file_is_read_as_csv(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("".join(f"{i}\t{i % 2}\n" for i in range(10)))
    s = load_dataset(path, delimiter="\t", test_fraction=0)
    assert s.name == "table" and s.y_train.tolist() == [i % 2 for i in range(10)]
