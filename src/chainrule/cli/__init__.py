"""The ``chainrule`` command: one argparse parser, one module per group of subcommands.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
subcommands and sets ``func(args) -> int`` on each. User errors (``ValueError``,
``OSError``) print one line and exit with status 2 — no traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from chainrule import __version__

# every module listed here exists: a missing one is an error at startup, not a command
# that silently disappears
COMMAND_MODULES = (
    "chainrule.cli.train",  # train, evaluate, predict, info
    "chainrule.cli.explain",  # explain
    "chainrule.cli.diagnose",  # diagnose, gradcheck
    "chainrule.cli.sweep",  # sweep, sweep-report
    "chainrule.cli.export",  # export (ONNX, safetensors, PyTorch)
    "chainrule.cli.playground",  # playground
)


class _Parser(argparse.ArgumentParser):
    """argparse with the command's one-line errors, reading ``--eps -1e-6`` as a value.

    A usage error prints ``chainrule CMD: error: MESSAGE`` and exits 2, like every other
    user error (argparse would dump the whole usage first; ``--help`` still shows it).
    argparse takes a token that starts with "-" for an option unless it matches its
    negative-number pattern, which knows ``-3`` and ``-0.5`` but not ``-1e-6``; a negative
    value then got "expected one argument" instead of the option's own range message.
    Subparsers are built from this class too (``parser_class`` defaults to ours).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^-(?:inf|nan)$", re.IGNORECASE
        )

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chainrule",
        description="Backpropagation made real: train MLPs, see every gradient, check it.",
        epilog="Run 'chainrule COMMAND --help' for a command's options and examples.",
    )
    _add_global_options(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in sub.choices.values():  # `chainrule train --debug` works too
        _add_global_options(command, argparse.SUPPRESS)
    return parser


def _add_global_options(parser, debug_default) -> None:
    """--version and --debug, before or after the command. A command's copy of --debug
    defaults to SUPPRESS, so leaving it out there keeps what was given before it."""
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    parser.add_argument(
        "--debug", action="store_true", default=debug_default, help="show tracebacks for errors"
    )


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `chainrule ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except (ValueError, OSError) as e:
        if args.debug:
            raise
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
