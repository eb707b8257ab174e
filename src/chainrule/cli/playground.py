"""``chainrule playground``: the live training lab in the browser (see docs/playground.md)."""

from __future__ import annotations

EPILOG = """\
examples:
  chainrule playground                          # opens the browser on a free port
  chainrule playground --no-browser --port 8765
  chainrule playground --lesson 'data=xor&layers=2&act=relu&hide=network'
  chainrule playground --config xor.toml         # an export, or any chainrule train config

The printed URL carries a token; every request must present it (the page keeps it in a
cookie). Stop the server with Ctrl-C.
"""


def register(subparsers) -> None:
    import argparse

    p = subparsers.add_parser(
        "playground",
        help="train a network live in the browser, driven by the real engine",
        description="Start a local web server with a TensorFlow-Playground-like page that "
        "trains chainrule networks live: data sets, features, network, optimizer, the "
        "decision boundary, every unit, the gradient flow with diagnoses, the chain rule at "
        "any unit or weight, shareable links and export to chainrule train.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host other than the loopback (other machines can then reach it)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="start from a TOML file: a playground export or a chainrule train config",
    )
    p.add_argument(
        "--lesson", metavar="QUERY", help="start from a lesson link or its query (data=xor&...)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from chainrule.playground.state import from_query

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    lesson = None
    if args.config and args.lesson:
        raise ValueError("give --config or --lesson, not both")
    if args.config:
        from chainrule.playground.export import lesson_from_config

        lesson = lesson_from_config(args.config)
    elif args.lesson:
        lesson = from_query(args.lesson)
    # the server and its dependencies (the [playground] extra) load only for this command
    from chainrule.playground.server import serve

    return serve(
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        lesson=lesson,
        allow_remote=args.allow_remote,
    )
