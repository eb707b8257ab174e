"""The IDX file format of MNIST and Fashion-MNIST: read (gzip or raw) and write.

An IDX file is a 4-byte magic number — two zero bytes, a type code, the number of
dimensions — then one big-endian uint32 per dimension, then the values, big-endian, in
row-major order. Everything is checked against the header (magic, type, exact size), so a
truncated download or a wrong file fails here with one line instead of as a reshape error
(or worse, silently wrong images) later.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from chainrule.files import atomic_write

# type code -> big-endian NumPy dtype (LeCun's table)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"


def decompress_if_gzip(data: bytes, name: str = "data") -> bytes:
    """``data`` gunzipped if it starts with the gzip magic, else unchanged.

    Sniffing the content instead of trusting the ``.gz`` suffix accepts raw files that kept
    the suffix and gzip files that lost it (browsers do both).
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{name}: corrupt or truncated gzip data ({e})") from None


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode decompressed IDX bytes into an array of native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{name}: not an IDX file (bad magic {data[:4].hex() or 'empty'})")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{name}: wrong size for an IDX file of shape {shape}: "
            f"expected {expected} bytes, got {len(data)}"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw."""
    with open(path, "rb") as f:
        data = f.read()
    name = os.fspath(path)
    return parse_idx(decompress_if_gzip(data, name), name)


def encode_idx(array) -> bytes:
    """The IDX bytes of ``array`` (the inverse of ``parse_idx``)."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise ValueError(f"encode_idx: no IDX type for a {array.ndim}-D {array.dtype} array")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    return header + array.astype(IDX_DTYPES[code], copy=False).tobytes()


def write_idx(path: str | os.PathLike, array, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it if ``compress`` (default: path ends in .gz)."""
    data = encode_idx(array)
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)
