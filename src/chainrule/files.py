"""Files the library writes and the TOML it reads: one way to do each.

``atomic_write(path, data)`` is how every file chainrule produces is written — run
folders (config, metrics, checkpoints, plots), ``predict --output``, sweep stores and
reports, explain pages. The bytes go to a temporary file next to ``path``, are flushed
and fsync'd, then ``os.replace``'d over it, so a crash or a full disk leaves either the
old file or the new one, never half of one. The new file gets the permissions any
program's file gets: ``0o666`` less the umask (``0o644`` under the usual ``022``), or,
when it replaces a file, that file's permissions.

``read_toml(path)`` reads a TOML document with one-line errors naming the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Callable
from typing import BinaryIO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the backport (a declared dependency there)
    import tomli as tomllib

# a new file's mode before the umask: what open(path, "w") asks the kernel for
_NEW_FILE_MODE = 0o666


def atomic_write(path, data: bytes | str | Callable[[BinaryIO], object]) -> None:
    """Write ``data`` to ``path`` atomically, honouring the umask.

    ``data`` is ``bytes``, a ``str`` (written as UTF-8), or a function ``write(f)`` that
    writes into the binary file object ``f`` (e.g. ``lambda f: np.savez(f, **arrays)`` or
    ``lambda f: fig.savefig(f, format="png")``). On any failure the temporary file is
    removed and ``path`` is untouched.

    Why not ``tempfile.mkstemp``: it creates the file with mode ``0o600`` whatever the
    umask, so every file renamed from it was private (issue 17). ``os.open`` with
    ``0o666`` lets the kernel apply the umask, as for any other new file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if isinstance(data, str):
        data = data.encode("utf-8")
    keep_mode = _existing_mode(path)
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        if keep_mode is not None:
            os.fchmod(fd, keep_mode)
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)  # make the rename itself durable


def _existing_mode(path: str) -> int | None:
    """The permission bits of the file ``path`` replaces, or None for a new file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _create_temporary(folder: str, name: str) -> tuple[int, str]:
    """A new, empty file ``.NAME.XXXXXXXX.tmp`` in ``folder``, created exclusively."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:  # another writer drew the same name: draw again
            continue
    raise FileExistsError(f"cannot create a temporary file next to {name} in {folder}")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to fsync a folder; the data is synced
        pass
    finally:
        os.close(fd)


def read_toml(path, what: str = "TOML file") -> dict:
    """The table in the TOML file ``path``.

    Raises ``FileNotFoundError`` (``"WHAT not found: PATH"``) or ``ValueError``
    (``"PATH: invalid TOML: ..."``) with one line naming the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a folder, not a {what}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: invalid TOML: not UTF-8 text ({e.reason})") from None


__all__ = ["atomic_write", "read_toml"]
