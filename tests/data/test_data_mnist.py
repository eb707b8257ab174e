"""MNIST/Fashion-MNIST loading: local files, the cache, downloads (urllib faked), real data."""

import gzip
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import cache_dir, load_dataset, load_fashion_mnist, load_mnist
from chainrule.data.download import atomic_write, md5_hex
from chainrule.data.idx import encode_idx
from chainrule.data.mnist import FASHION_MNIST, FILES, MNIST, IdxSource, load_idx_dataset

REAL_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def tiny_mnist(n_train=5, n_test=3, seed=0):
    """The four IDX files' decompressed bytes for a tiny random MNIST look-alike."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return arrays, {name: encode_idx(a) for name, a in arrays.items()}


def write_files(folder, contents, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never read or fill the real cache; never touch the network."""
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "cache"))

    def no_network(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def check_tiny(splits, arrays):
    assert splits.X_train.shape == (5, 784) and splits.X_test.shape == (3, 784)
    assert splits.X_train.dtype == np.float32 and splits.y_train.dtype == np.int64
    np.testing.assert_allclose(
        splits.X_train, arrays["train-images-idx3-ubyte"].reshape(5, 784) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(splits.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert 0.0 <= splits.X_test.min() and splits.X_test.max() <= 1.0
    assert (splits.n_classes, splits.n_features, splits.task) == (10, 784, "classification")


@pytest.mark.parametrize("gz", [True, False])
def test_loads_from_data_dir_gzip_or_raw(tmp_path, gz):
    arrays, contents = tiny_mnist()
    write_files(tmp_path / "d", contents, gz=gz)
    splits = load_mnist(tmp_path / "d")
    check_tiny(splits, arrays)
    assert splits.name == "mnist"


def test_finds_named_subfolder_and_cache(tmp_path):
    arrays, contents = tiny_mnist()
    write_files(tmp_path / "root" / "mnist", contents)
    check_tiny(load_mnist(tmp_path / "root"), arrays)
    write_files(tmp_path / "cache" / "fashion-mnist", contents, gz=False)
    splits = load_dataset("Fashion_MNIST")
    check_tiny(splits, arrays)
    assert splits.classes[0] == "T-shirt/top" and len(splits.classes) == 10


def test_cache_dir_locations(monkeypatch, tmp_path):
    assert cache_dir("mnist") == tmp_path / "cache" / "mnist"
    monkeypatch.delenv("CHAINRULE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("mnist") == tmp_path / "xdg" / "chainrule" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "chainrule" / "mnist"


def test_inconsistent_files_are_refused(tmp_path):
    _, contents = tiny_mnist()
    contents["train-labels-idx1-ubyte"] = encode_idx(np.zeros(4, np.uint8))
    write_files(tmp_path / "a", contents)
    with pytest.raises(ValueError, match="expected 5 uint8 labels"):
        load_mnist(tmp_path / "a")
    _, contents = tiny_mnist()
    contents["t10k-images-idx3-ubyte"] = encode_idx(np.zeros((3, 27, 28), np.uint8))
    write_files(tmp_path / "b", contents)
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28\)"):
        load_mnist(tmp_path / "b")
    _, contents = tiny_mnist()
    contents["t10k-labels-idx1-ubyte"] = encode_idx(np.array([1, 10, 2], np.uint8))
    write_files(tmp_path / "c", contents)
    with pytest.raises(ValueError, match=r"label 10 is outside 0\.\.9"):
        load_mnist(tmp_path / "c")


def test_truncated_file_is_a_one_line_error(tmp_path):
    _, contents = tiny_mnist()
    contents["train-images-idx3-ubyte"] = contents["train-images-idx3-ubyte"][:-10]
    write_files(tmp_path / "d", contents)
    with pytest.raises(ValueError, match="wrong size") as info:
        load_mnist(tmp_path / "d")
    assert "\n" not in str(info.value)


def test_missing_files_without_download_say_where_to_put_them(tmp_path):
    _, contents = tiny_mnist()
    del contents["t10k-labels-idx1-ubyte"]
    write_files(tmp_path / "d", contents)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path / "d", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "train-images" not in message
    assert str(tmp_path / "d") in message and "--data-dir" in message


def test_no_network_gives_the_one_line_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert "\n" not in message
    assert "network is unreachable" in message
    for name in FILES:
        assert name + ".gz" in message
    assert str(tmp_path / "cache" / "mnist") in message and "--data-dir" in message
    assert not (tmp_path / "cache" / "mnist").exists()


class FakeServer:
    """Stands in for urllib.request.urlopen: serves bytes by URL, records requests."""

    def __init__(self, files, failing_hosts=()):
        self.files = files
        self.failing_hosts = failing_hosts
        self.requested = []

    def __call__(self, url, timeout=None):
        self.requested.append(url)
        if any(host in url for host in self.failing_hosts):
            raise urllib.error.URLError("connection refused")
        name = url.rsplit("/", 1)[1]
        if name not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return io.BytesIO(self.files[name])


def tiny_source(contents, mirrors=("https://a.example/mnist/", "https://b.example/mnist/")):
    md5 = {name: md5_hex(data) for name, data in contents.items()}
    return IdxSource(name="tiny", title="Tiny", mirrors=mirrors, md5=md5)


def served(contents):
    return {name + ".gz": gzip.compress(data) for name, data in contents.items()}


def test_download_verifies_and_caches_atomically(tmp_path, monkeypatch):
    arrays, contents = tiny_mnist()
    server = FakeServer(served(contents), failing_hosts=("a.example",))
    monkeypatch.setattr(urllib.request, "urlopen", server)
    splits = load_idx_dataset(tiny_source(contents), download=True)
    check_tiny(splits, arrays)
    folder = tmp_path / "cache" / "tiny"
    assert sorted(os.listdir(folder)) == sorted(name + ".gz" for name in FILES)  # no temp files
    assert "https://b.example/mnist/train-images-idx3-ubyte.gz" in server.requested
    # the second load is served from the cache: no request at all
    server.requested.clear()
    check_tiny(load_idx_dataset(tiny_source(contents)), arrays)
    assert server.requested == []


def test_download_goes_to_data_dir_when_given(tmp_path, monkeypatch):
    arrays, contents = tiny_mnist()
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer(served(contents)))
    check_tiny(load_idx_dataset(tiny_source(contents), data_dir=tmp_path / "mine"), arrays)
    assert len(os.listdir(tmp_path / "mine")) == 4
    assert not (tmp_path / "cache" / "tiny").exists()


def test_bad_checksum_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    _, contents = tiny_mnist()
    _, other = tiny_mnist(seed=1)  # same sizes, different pixels
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer(served(other)))
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        load_idx_dataset(tiny_source(contents))
    assert "\n" not in str(info.value)
    folder = tmp_path / "cache" / "tiny"
    assert not folder.exists() or os.listdir(folder) == []


def test_corrupt_gzip_download_counts_as_bad_checksum(tmp_path, monkeypatch):
    _, contents = tiny_mnist()
    files = served(contents)
    files = {name: data[: len(data) // 2] for name, data in files.items()}
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer(files))
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        load_idx_dataset(tiny_source(contents))
    folder = tmp_path / "cache" / "tiny"
    assert not folder.exists() or os.listdir(folder) == []


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "file.gz"
    target.parent.mkdir()  # download_file makes the folder; the writer only writes

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"data")
    assert os.listdir(tmp_path / "out") == []
    monkeypatch.undo()
    atomic_write(target, b"data")
    assert target.read_bytes() == b"data"


def decompressed_md5(path):
    with gzip.open(path) as f:
        return md5_hex(f.read())


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason="no ../shared/data/mnist")
def test_real_mnist(tmp_path, monkeypatch):
    for name in FILES:
        assert decompressed_md5(REAL_MNIST / (name + ".gz")) == MNIST.md5[name]
    splits = load_mnist(REAL_MNIST)
    assert splits.X_train.shape == (60000, 784) and splits.X_test.shape == (10000, 784)
    assert splits.X_train.dtype == np.float32
    assert splits.X_train.min() == 0.0 and splits.X_train.max() == 1.0
    assert np.bincount(splits.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert splits.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]

    # the download path with the real MD5 table: a fake mirror serving the real files
    files = {name + ".gz": (REAL_MNIST / (name + ".gz")).read_bytes() for name in FILES}
    server = FakeServer(files)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    downloaded = load_mnist()
    assert server.requested[0] == MNIST.mirrors[0] + "train-images-idx3-ubyte.gz"
    np.testing.assert_array_equal(downloaded.y_train, splits.y_train)
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(files)


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="no Debian dataset-fashion-mnist")
def test_real_fashion_mnist():
    for name in FILES:
        assert decompressed_md5(REAL_FASHION / (name + ".gz")) == FASHION_MNIST.md5[name]
    splits = load_fashion_mnist(REAL_FASHION)
    assert splits.X_train.shape == (60000, 784) and splits.X_test.shape == (10000, 784)
    assert splits.X_test.min() == 0.0 and splits.X_test.max() == 1.0
    assert np.bincount(splits.y_train).tolist() == [6000] * 10
    assert np.bincount(splits.y_test).tolist() == [1000] * 10
    assert splits.name == "fashion-mnist" and splits.classes[9] == "Ankle boot"
