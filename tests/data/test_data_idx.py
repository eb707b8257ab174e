"""The IDX reader/writer on tiny files built here with struct."""

import gzip
import struct

import numpy as np
import pytest

from chainrule.data import read_idx, write_idx
from chainrule.data.idx import encode_idx, parse_idx


def idx_bytes(code, shape, payload):
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape) + payload


def test_reads_hand_built_ubyte_file(tmp_path):
    raw = idx_bytes(0x08, (2, 2, 3), bytes(range(12)))
    (tmp_path / "a-idx3-ubyte").write_bytes(raw)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        a = read_idx(tmp_path / name)
        assert a.dtype == np.uint8 and a.shape == (2, 2, 3)
        assert a[1, 0, 2] == 8


def test_big_endian_types_are_decoded():
    raw = idx_bytes(0x0B, (3,), struct.pack(">3h", -2, 300, 7))
    np.testing.assert_array_equal(parse_idx(raw), [-2, 300, 7])
    raw = idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -0.25))
    a = parse_idx(raw)
    assert a.dtype == np.float32 and a.dtype.isnative
    np.testing.assert_array_equal(a, [1.5, -0.25])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_then_read_round_trip(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) * 5).astype(dtype)
    for name in ("x.idx", "x.idx.gz"):
        write_idx(tmp_path / name, a)
        b = read_idx(tmp_path / name)
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "x.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_gzip_is_detected_by_content_not_suffix(tmp_path):
    data = encode_idx(np.arange(5, dtype=np.uint8))
    (tmp_path / "labels.gz").write_bytes(data)  # raw despite the suffix
    (tmp_path / "labels").write_bytes(gzip.compress(data))  # gzip without it
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), np.arange(5))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), np.arange(5))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "bad magic"),
        (b"\x00\x00", "bad magic"),
        (b"PK\x03\x04rest", "bad magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", "bad magic"),  # unknown type code
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(0x08, (4, 2), bytes(7)), "expected 20 bytes, got 19"),
        (idx_bytes(0x08, (4, 2), bytes(9)), "expected 20 bytes, got 21"),
    ],
)
def test_corrupt_files_give_one_line_errors(tmp_path, data, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(0x08, (100,), bytes(100)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert "\n" not in str(info.value)


def test_encode_refuses_unsupported_dtypes():
    with pytest.raises(ValueError, match="no IDX type"):
        encode_idx(np.zeros(3, dtype=np.int64))
