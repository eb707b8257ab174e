"""load_csv on small files written here: headers, labels, errors that name line and column."""

import gzip

import numpy as np
import pytest

from chainrule.data import load_csv


def write(tmp_path, text, name="t.csv", gz=False):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


IRIS_LIKE = """sepal,petal,species
5.1,1.4,setosa
4.9,1.3,setosa
6.3,4.9,versicolor
6.0,4.5,versicolor
7.1,5.9,virginica
6.5,5.5,virginica
"""


@pytest.mark.parametrize("gz", [False, True])
def test_string_labels_become_sorted_class_indices(tmp_path, gz):
    path = write(tmp_path, IRIS_LIKE, "iris.csv.gz" if gz else "iris.csv", gz=gz)
    s = load_csv(path, test_fraction=0)
    assert s.task == "classification" and s.name == "iris"
    assert s.classes == ["setosa", "versicolor", "virginica"]
    assert s.n_classes == 3 and s.n_features == 2
    assert s.X_train.dtype == np.float32 and s.y_train.dtype == np.int64
    np.testing.assert_allclose(s.X_train[2], [6.3, 4.9], rtol=1e-6)
    assert s.y_train.tolist() == [0, 0, 1, 1, 2, 2]
    assert s.X_test.shape == (0, 2) and s.y_test.shape == (0,)


def test_label_by_name_or_index_and_custom_delimiter(tmp_path):
    path = write(tmp_path, "y;a;b\n1;2;3\n0;5;6\n1;8;9\n0;1;1\n")
    by_name = load_csv(path, label="y", delimiter=";", test_fraction=0)
    by_index = load_csv(path, label=0, delimiter=";", test_fraction=0)
    by_text = load_csv(path, label="0", delimiter=";", test_fraction=0)  # from a CLI
    for s in (by_name, by_index, by_text):
        np.testing.assert_array_equal(s.X_train[0], [2, 3])
        assert s.y_train.tolist() == [1, 0, 1, 0]
        assert s.classes == [0, 1]


def test_header_inference(tmp_path):
    no_header = write(tmp_path, "1,2,0\n3,4,1\n", "a.csv")
    assert len(load_csv(no_header, test_fraction=0).y_train) == 2
    with_header = write(tmp_path, "x,y,label\n1,2,0\n3,4,1\n", "b.csv")
    assert len(load_csv(with_header, test_fraction=0).y_train) == 2
    forced = write(tmp_path, "0,1,label\n1,2,0\n3,4,1\n", "c.csv")  # numeric column names
    with pytest.raises(ValueError, match=r"line 1, column 3: .*header=True"):
        load_csv(forced, label=0, test_fraction=0)
    assert len(load_csv(forced, header=True, test_fraction=0).y_train) == 2


def test_regression_targets(tmp_path):
    path = write(tmp_path, "x,t\n1,0.5\n2,1.25\n3,2.5\n4,-1\n")
    s = load_csv(path, test_fraction=0)
    assert s.task == "regression" and s.n_classes == 0 and s.classes is None
    assert s.y_train.dtype == np.float32
    np.testing.assert_allclose(s.y_train, [0.5, 1.25, 2.5, -1.0])
    ints = write(tmp_path, "x,t\n1,5\n2,7\n", "ints.csv")
    assert load_csv(ints, test_fraction=0).task == "classification"  # integers: classes
    s = load_csv(ints, task="regression", test_fraction=0)
    assert s.task == "regression" and s.y_train.tolist() == [5.0, 7.0]


def test_numeric_labels_are_remapped_and_kept(tmp_path):
    path = write(tmp_path, "a,y\n0.1,-1\n0.2,1\n0.3,1\n0.4,-1\n")
    s = load_csv(path, test_fraction=0)
    assert s.classes == [-1, 1] and s.y_train.tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,y\n1,2,0\n3,oops,1\n", r"line 3, column 2 \('b'\): not a number: 'oops'"),
        ("a,b,y\n1,2,0\n\n3,,1\n", r"line 4, column 2 \('b'\): missing value"),
        ("a,b,y\n1,nan,0\n", r"line 2, column 2 \('b'\): missing value 'nan'"),
        ("a,b,y\n1,2,0\n1,inf,0\n", r"line 3, column 2 \('b'\): missing value 'inf'"),
        ("1,2,0\n3,4\n", r"line 2: expected 3 fields, found 2"),
        ("a,b,y\n1,2,\n", r"line 2, column 3 \('y'\): missing label"),
        ("a,b,y\n", "no data rows after the header"),
        ("", "no data rows"),
        ("1\n2\n", "at least one feature column"),
    ],
)
def test_bad_cells_are_named_by_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        load_csv(path, test_fraction=0)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_option_errors(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,1\n")
    with pytest.raises(ValueError, match="no label column named 'z'"):
        load_csv(path, label="z")
    with pytest.raises(ValueError, match="out of range"):
        load_csv(path, label=5)
    with pytest.raises(ValueError, match="task"):
        load_csv(path, task="ranking")
    with pytest.raises(ValueError, match="line 2: regression label 'a'"):
        load_csv(write(tmp_path, "a,y\n1,a\n2,b\n", "s.csv"), task="regression")
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        load_csv(tmp_path / "missing.csv")


def test_test_split_is_stratified_and_seeded(tmp_path):
    rows = "".join(f"{i},{i % 3}\n" for i in range(30))
    path = write(tmp_path, "x,y\n" + rows)
    s = load_csv(path, test_fraction=0.2, seed=5)
    assert len(s.y_test) == 6 and np.bincount(s.y_test).tolist() == [2, 2, 2]
    assert sorted(np.concatenate([s.X_train, s.X_test])[:, 0].tolist()) == list(range(30))
    np.testing.assert_array_equal(s.X_train[:, 0] % 3, s.y_train)  # rows keep their labels
    again = load_csv(path, test_fraction=0.2, seed=5)
    np.testing.assert_array_equal(again.X_test, s.X_test)


def test_quoted_fields_and_bom(tmp_path):
    path = write(tmp_path, '\ufeff"a","b","kind"\n"1.5",2,"big, red"\n3,4,small\n')
    s = load_csv(path, test_fraction=0)
    assert s.classes == ["big, red", "small"]
    np.testing.assert_allclose(s.X_train, [[1.5, 2], [3, 4]])
