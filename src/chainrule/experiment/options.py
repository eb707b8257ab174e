"""Declaring and converting the options of a config: ``option()`` makes a dataclass field
that carries its kind, help, group, choices and accepted spellings; ``convert()`` turns
a value from TOML, a dict or the command line into that kind, or raises one line.

The declarations hold what used to be special cases by field name: how a choice is
spelled (``spelling``), old names still accepted (``aliases``), choices that take a scale
(``scaled``: ``normal:0.01``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import field

KINDS = ("bool", "int", "float", "str", "int_list", "float_list")


class OptionCombinationError(ValueError):
    """Options that are each valid but do not go together (``nesterov`` without momentum,
    ``early_stopping`` without a validation split). A sweep can only judge these per
    trial, so it tells them from single-option errors by this class."""


class EmptyEntry(ValueError):
    """A list written with an empty entry: ``64,,32`` or ``64,``."""


def split_list(text: str) -> list[str]:
    """The entries of a list typed as text: ``"64,32"``, ``"64, 32"`` and ``"64 32"`` are
    ``["64", "32"]``, ``""`` is ``[]``. An empty entry (``"64,,32"``, ``"64,"``) raises
    :class:`EmptyEntry` rather than being dropped: it is a typo, and dropping it would
    silently build another network."""
    text = text.strip()
    if not text:
        return []
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise EmptyEntry(text)
    return [item for part in parts for item in part.split()]


def lower(text: str) -> str:
    return text.lower()


def dashed(text: str) -> str:
    return text.lower().replace("_", "-")


def underscored(text: str) -> str:
    return text.lower().replace("-", "_")


def option(
    default,
    help: str,
    group: str,
    kind: str,
    choices=None,
    metavar=None,
    nullable=False,
    spelling: Callable[[str], str] = lower,
    aliases: dict | None = None,
    scaled: tuple = (),
):
    """A config field.

    Args:
        kind: bool, int, float, str, int_list or float_list.
        choices: the canonical values of a ``str`` option, or None for any string.
        nullable: the field also accepts None (unset) and defaults to it.
        spelling: maps what a user typed to the canonical spelling before the choice is
            checked (default: lower case; e.g. ``dashed`` turns ``cross_entropy`` into
            ``cross-entropy``).
        aliases: old names still accepted, ``{old: canonical}``.
        scaled: choices that take a number after a colon (``normal:0.01``).
    """
    if kind not in KINDS:  # a schema error, caught when the module is imported
        raise AssertionError(f"option kind {kind!r} is not one of {KINDS}")
    meta = dict(help=help, group=group, kind=kind, choices=choices, metavar=metavar)
    meta.update(nullable=nullable, spelling=spelling, aliases=dict(aliases or {}), scaled=scaled)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def convert(f: dataclasses.Field, value, what: str):
    """``value`` (from TOML or the command line) as the field's type, or ValueError."""
    meta = f.metadata
    kind = meta["kind"]
    if value is None:
        if meta["nullable"]:
            return None
        raise ValueError(f"{what} cannot be empty")
    try:
        if kind == "bool":
            # only a real boolean: TOML has true/false, the command line has --x/--no-x;
            # a string ("yes", "false") is a typo that must not be read as a guess
            if not isinstance(value, bool):
                raise ValueError
            out = value
        elif kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        elif kind == "float":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
        elif kind == "str":
            if not isinstance(value, str):
                raise ValueError
            out = value
        elif kind in ("int_list", "float_list"):
            item = int if kind == "int_list" else float
            if isinstance(value, str):
                parts = split_list(value)
            elif isinstance(value, (list, tuple)):
                parts = list(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parts = [value]
            else:
                raise ValueError
            out = []
            for p in parts:
                if isinstance(p, bool) or (item is int and isinstance(p, float)):
                    raise ValueError
                out.append(item(p))
        else:  # pragma: no cover - a schema error
            raise AssertionError(f"unknown kind {kind}")
    except EmptyEntry:
        raise ValueError(
            f"{what}: empty entry in {value!r} (two commas in a row, or one at an "
            "end); write the list without gaps, e.g. 64,32"
        ) from None
    except (TypeError, ValueError):
        expected = {
            "int_list": "a comma-separated list of integers",
            "float_list": "a comma-separated list of numbers",
            "bool": "true or false (a boolean, without quotes)",
            "int": "an integer",
            "float": "a finite number",
            "str": "a string",
        }[kind]
        raise ValueError(f"{what} must be {expected}, got {value!r}") from None
    choices = meta["choices"]
    if choices is not None:
        out = meta["spelling"](out)
        out = meta["aliases"].get(out, out)
        head, colon, scale = out.partition(":")
        if colon and head in meta["scaled"]:
            try:
                float(scale)
            except ValueError:
                raise ValueError(f"{what}: bad scale in {value!r} (e.g. {head}:0.01)") from None
            return out
        if out not in choices:
            raise ValueError(f"{what}: invalid choice {value!r}; choose from: {', '.join(choices)}")
    return out
