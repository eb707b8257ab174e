"""Checkpoints as safetensors files: readable by every tool, checked on every load.

A safetensors file is an 8-byte little-endian header length, a JSON header (each
tensor's dtype, shape and byte range, plus a ``__metadata__`` table of strings) and the
raw little-endian tensor bytes — no code, nothing to unpickle. ``safetensors.numpy.load_file``
and ``safetensors.torch.load_file`` read chainrule's files directly.

chainrule adds three metadata entries:

    format      "chainrule-checkpoint"
    structure   the JSON document of interop/tree.py (what was saved around the tensors)
    sha256      the SHA-256 of the whole file, computed with this field's value replaced
                by 64 zeros

safetensors itself checks that the header parses and the byte ranges tile the data, but
not the bytes themselves: a flipped bit in a weight would load silently. The digest
covers every byte of the file — header, padding and data — so any change to a chainrule
checkpoint is reported before anything is returned.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from chainrule.interop.tree import CheckpointError

FORMAT = "chainrule-checkpoint"
VERSION = "2"
_DIGEST_KEY = "sha256"
_PLACEHOLDER = "0" * 64
# keys whose presence marks a file as chainrule's (so a damaged one is not read as foreign)
_OWN_KEYS = ("format", "structure", _DIGEST_KEY)
MAGIC_LENGTH = 8


def _digest_field(value: str) -> bytes:
    # serde_json (inside safetensors) writes compact JSON: no space after the colon
    return f'"{_DIGEST_KEY}":"{value}"'.encode()


def to_bytes(tensors: dict, structure) -> bytearray:
    """The safetensors file holding ``tensors`` (name -> array) and ``structure``."""
    from safetensors.numpy import save

    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "structure": json.dumps(structure, allow_nan=False, separators=(",", ":")),
        _DIGEST_KEY: _PLACEHOLDER,
    }
    raw = bytearray(save({k: _little_endian(v) for k, v in tensors.items()}, metadata=metadata))
    end = MAGIC_LENGTH + int.from_bytes(raw[:MAGIC_LENGTH], "little")
    field = _digest_field(_PLACEHOLDER)
    at = raw.find(field, MAGIC_LENGTH, end)
    if at < 0:  # pragma: no cover - only if safetensors changed its JSON layout
        raise RuntimeError("cr.save: cannot place the checksum in the safetensors header")
    digest = hashlib.sha256(raw).hexdigest()
    raw[at : at + len(field)] = _digest_field(digest)
    return raw


def _little_endian(array: np.ndarray) -> np.ndarray:
    if not array.flags.c_contiguous:  # (not ascontiguousarray: it makes 0-d arrays 1-d)
        array = array.copy(order="C")
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


def read_header(raw: bytes) -> dict:
    """The JSON header of the safetensors file ``raw``; CheckpointError if there is none."""
    if len(raw) < MAGIC_LENGTH:
        raise CheckpointError(f"truncated: {len(raw)} bytes, not even a header length")
    n = int.from_bytes(raw[:MAGIC_LENGTH], "little")
    if n > len(raw) - MAGIC_LENGTH:
        raise CheckpointError(
            f"truncated or not a safetensors file: the header length says {n:,} bytes, "
            f"the file has {len(raw) - MAGIC_LENGTH:,} after it"
        )
    try:
        header = json.loads(raw[MAGIC_LENGTH : MAGIC_LENGTH + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError("corrupted: the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError("corrupted: the safetensors header is not a JSON object")
    return header


def from_bytes(raw: bytes):
    """``(tensors, metadata)`` of a safetensors file; ``metadata`` is None for a file that
    chainrule did not write (a plain state dict from another tool). A chainrule file is
    checked completely — length, checksum, structure — before anything is returned."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    header = read_header(raw)
    metadata = header.get("__metadata__")
    own = isinstance(metadata, dict) and any(k in metadata for k in _OWN_KEYS)
    if own:
        _check_length(header, raw)
        _check_digest(metadata, raw)
        if metadata.get("format") != FORMAT:
            raise CheckpointError("metadata is not a chainrule checkpoint's")
        if metadata.get("version") != VERSION:
            raise CheckpointError(f"unsupported checkpoint version {metadata.get('version')!r}")
    try:
        tensors = load(raw)
    except SafetensorError as e:
        raise CheckpointError(f"not a valid safetensors file: {e}") from None
    except TypeError as e:  # a dtype NumPy has no equivalent for (bfloat16)
        raise CheckpointError(f"holds a tensor NumPy cannot represent: {e}") from None
    if not own:
        return tensors, None
    try:
        structure = json.loads(metadata["structure"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError("corrupted: its structure entry is missing or not JSON") from None
    return tensors, structure


def _check_length(header: dict, raw: bytes) -> None:
    """Truncation is named as such (rather than as a checksum mismatch)."""
    ends = [
        v["data_offsets"][-1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and v.get("data_offsets")
    ]
    start = MAGIC_LENGTH + int.from_bytes(raw[:MAGIC_LENGTH], "little")
    need = max([e for e in ends if isinstance(e, int)], default=0)
    have = len(raw) - start
    if have < need:
        raise CheckpointError(f"truncated: {have:,} of {need:,} bytes of tensor data")


def _check_digest(metadata: dict, raw: bytes) -> None:
    digest = metadata.get(_DIGEST_KEY)
    if not isinstance(digest, str) or len(digest) != 64:
        raise CheckpointError("corrupted: its checksum entry is missing or malformed")
    field = _digest_field(digest)
    end = MAGIC_LENGTH + int.from_bytes(raw[:MAGIC_LENGTH], "little")
    at = raw.find(field, MAGIC_LENGTH, end)
    if at < 0:
        raise CheckpointError("corrupted: its checksum entry is malformed")
    # hash the file as it was before the digest was written in (no copy of the file)
    view = memoryview(raw)
    h = hashlib.sha256(view[:at])
    h.update(_digest_field(_PLACEHOLDER))
    h.update(view[at + len(field) :])
    if h.hexdigest() != digest:
        raise CheckpointError("corrupted: the SHA-256 checksum does not match its contents")


def is_safetensors(raw_prefix: bytes) -> bool:
    """Whether bytes start like a safetensors file: a header length then ``{``."""
    return len(raw_prefix) > MAGIC_LENGTH and raw_prefix[MAGIC_LENGTH : MAGIC_LENGTH + 1] == b"{"


__all__ = ["FORMAT", "VERSION", "from_bytes", "is_safetensors", "read_header", "to_bytes"]
