"""Where downloaded data sets live, and how files get there safely.

The cache folder for data set ``name`` is ``$CHAINRULE_DATA/<name>`` when that variable is
set, else ``$XDG_CACHE_HOME/chainrule/<name>``, else ``~/.cache/chainrule/<name>``.

A download is only written after its checksum (MD5 of the *decompressed* content, so any
gzip encoding of the right data is accepted) matches, and then atomically: a temporary file
in the destination folder, then ``os.replace``. A crash or a bad mirror therefore never
leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from chainrule.data.idx import decompress_if_gzip
from chainrule.files import atomic_write

TIMEOUT_S = 60


def cache_dir(name: str) -> Path:
    """The per-data-set cache folder (not created here)."""
    root = os.environ.get("CHAINRULE_DATA")
    if root:
        return Path(root).expanduser() / name
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "chainrule" / name


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class ChecksumError(ValueError):
    """A download arrived but its content is not the expected file."""


def fetch(url: str, expected_md5: str) -> bytes:
    """GET ``url`` and return its bytes if the decompressed content has ``expected_md5``.

    Raises ``OSError`` (``urllib.error.URLError`` is one) when the URL cannot be read and
    ``ChecksumError`` when the content is wrong.
    """
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        data = response.read()
    try:
        content = decompress_if_gzip(data, url)
    except ValueError as e:
        raise ChecksumError(str(e)) from None
    got = md5_hex(content)
    if got != expected_md5:
        raise ChecksumError(
            f"checksum mismatch for {url}: expected MD5 {expected_md5}, got {got}; nothing saved"
        )
    return data


def download_file(filename: str, mirrors: list[str], expected_md5: str, folder: Path) -> Path:
    """Fetch ``filename`` (a ``.gz`` name) from the first mirror that serves the right
    content and store it atomically in ``folder``; return its path.

    Raises ``ChecksumError`` if some mirror answered with wrong content and none with the
    right one, else ``OSError`` with the last network error.
    """
    checksum_error: ChecksumError | None = None
    network_error: Exception | None = None
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            data = fetch(url, expected_md5)
        except ChecksumError as e:
            checksum_error = e
            continue
        except (OSError, http.client.HTTPException, ValueError) as e:
            network_error = e
            continue
        path = folder / filename
        if not data.startswith(b"\x1f\x8b") and path.suffix == ".gz":
            path = path.with_suffix("")  # the mirror served it uncompressed
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        return path
    if checksum_error is not None:
        raise checksum_error
    reason = getattr(network_error, "reason", None) or network_error
    raise OSError(f"could not download {filename}: {reason}")
