"""The first checkpoint format, an ``.npz`` archive: still read, written on request.

chainrule 0.1 wrote every checkpoint as one ``numpy.savez`` archive: each array an entry
``a0``, ``a1``, …, and the structure of interop/tree.py as a JSON document in the entry
``__chainrule__`` (a ``uint8`` array). Those files keep loading (``--resume`` continues
them bit for bit). ``cr.save(obj, "x.npz")`` still writes one, for a reader that is an
older chainrule; every other name gets safetensors.

The archive is opened with ``numpy.load(allow_pickle=False)`` and every entry is read in
full before anything is returned, so the zip CRCs catch flipped bits in the data and a
missing end record catches truncation. (Zip headers carry fields no CRC covers — a file
time, for instance — which is one reason the default format became safetensors with a
checksum over every byte.)
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib

import numpy as np

from chainrule.interop.tree import CheckpointError

FORMAT = "chainrule-checkpoint"
VERSION = 1
META_KEY = "__chainrule__"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip file; an empty zip file


def write(f, arrays: dict, structure) -> None:
    """Write ``arrays`` (name -> array) and ``structure`` as an npz archive into ``f``."""
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": structure}, allow_nan=False)
    entries = dict(arrays)
    entries[META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    np.savez(f, **entries)


def read(path: str):
    """``(arrays, structure)`` of an npz checkpoint; raises CheckpointError (without the
    file name) for anything that is not a complete chainrule archive."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise CheckpointError("a single .npy array, not a chainrule checkpoint")
            if META_KEY not in archive.files:
                raise CheckpointError("no chainrule metadata entry (not a chainrule checkpoint)")
            # read every entry now: the zip CRC check runs as each is read in full
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except CheckpointError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # an entry of Python objects: never unpickled, so unreadable
            raise CheckpointError(
                "an entry holds pickled Python objects, which chainrule never loads"
            ) from None
        raise _unreadable(e) from None
    except _ZIP_ERRORS as e:
        raise _unreadable(e) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("metadata is not a chainrule checkpoint's")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"unsupported checkpoint version {meta.get('version')!r}")
    return arrays, meta.get("root")


# what zipfile and numpy raise on damaged archives (found by the Hypothesis tests: a
# flipped flag byte makes a member "encrypted" (RuntimeError) or compressed by an
# unknown method (NotImplementedError); a flipped method byte makes it deflated (zlib))
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    UnicodeDecodeError,
)


def _unreadable(e: Exception) -> CheckpointError:
    detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return CheckpointError(f"truncated or corrupted archive: {detail}")


__all__ = ["FORMAT", "META_KEY", "VERSION", "ZIP_MAGIC", "read", "write"]
