"""``chainrule sweep`` and ``chainrule sweep-report``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

from chainrule.sweep import load_results, load_spec, run_sweep
from chainrule.sweep.progress import Progress
from chainrule.sweep.report import summary, table, write_report

SWEEP_EPILOG = """\
examples:
  chainrule sweep examples/sweep_digits.toml                 # local pool, all cores
  chainrule sweep examples/sweep_digits.toml --workers 2 --out sweeps/d
  chainrule sweep examples/sweep_mnist.toml --executor ray --address auto
  chainrule sweep examples/sweep_mnist.toml --executor ray --address 10.0.0.5:6379
  chainrule sweep-report sweeps/d                            # the table again

Killed? Run the same command again: finished trials are kept and not rerun. The folder
(--out, default sweeps/<spec name>) holds sweep.json, trials.jsonl (one line per finished
trial), report.txt (the ranked table), best.toml (the best trial as a `chainrule train
--config` file) and plots.png (the metric against each hyperparameter; needs matplotlib).
The spec format is in docs/sweep.md.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="hyperparameter sweep over chainrule train options (local pool or Ray)",
        description="Run (or resume) the hyperparameter sweep described by SPEC.toml.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec: [sweep], [base], [search]")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="where trials run (default: the spec's, else local)",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT|local",
        help="Ray cluster to join (default auto; local starts one here)",
    )
    p.add_argument(
        "--trials",
        default=None,
        metavar="N",
        help="number of trials (overrides the spec; grid: a cap)",
    )
    p.add_argument(
        "--workers",
        default=None,
        metavar="N",
        help="trials at a time (default: local cores; ray: CPUs / threads)",
    )
    p.add_argument(
        "--threads",
        default=None,
        metavar="N",
        help="BLAS threads (Ray: CPUs) per trial (default: cores / workers)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="sweep folder (default sweeps/<spec name>); reused to resume",
    )
    p.add_argument(
        "--trial-timeout",
        default=None,
        metavar="SECONDS",
        help="stop a trial running longer (recorded as timeout) and go on (default: no limit)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="run failed and timed-out trials again"
    )
    p.add_argument("--top", default="20", metavar="N", help="rows of the final table (0: all)")
    p.add_argument("--no-plots", action="store_true", help="do not write plots.png")
    p.add_argument("--quiet", action="store_true", help="no live progress, only the table")
    p.set_defaults(func=run_sweep_command)

    r = subparsers.add_parser(
        "sweep-report",
        help="print the ranked table of a sweep folder (and rewrite best.toml, plots)",
        description="Re-print the ranked table of a finished or running sweep.",
    )
    r.add_argument("folder", metavar="DIR")
    r.add_argument("--top", default="20", metavar="N", help="rows (0: all)")
    r.add_argument("--no-plots", action="store_true", help="do not write plots.png")
    r.set_defaults(func=report_command)


# Numeric options arrive as text and are checked here rather than by argparse ``type=``:
# a rejected ``type=`` makes argparse print the whole usage, where every other user error
# of the command is one line naming the option and the value (the CLI's rule).
def _count(args, option: str, minimum: int = 1) -> int | None:
    text = getattr(args, option.lstrip("-").replace("-", "_"))
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{option} must be {what}, got {text!r}")
    return value


def _seconds(args, option: str) -> float | None:
    text = getattr(args, option.lstrip("-").replace("-", "_"))
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{option} must be a positive number of seconds, got {text!r}")
    return value


def run_sweep_command(args) -> int:
    trials, workers = _count(args, "--trials"), _count(args, "--workers")
    threads, top = _count(args, "--threads"), _count(args, "--top", minimum=0)
    trial_timeout = _seconds(args, "--trial-timeout")
    spec = load_spec(args.spec)  # every spec error surfaces here, before any trial
    out = args.out or os.path.join("sweeps", os.path.splitext(os.path.basename(args.spec))[0])
    if trials is not None:
        spec = dataclasses.replace(spec, trials=trials)
    progress = Progress(spec.n_trials, spec.metric, spec.mode, quiet=args.quiet)
    result = run_sweep(
        spec,
        out,
        executor=args.executor,
        address=args.address,
        workers=workers,
        threads=threads,
        trial_timeout=trial_timeout,
        retry_failed=args.retry_failed,
        progress=progress,
        log=None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True)),
    )
    _print_report(result, top, not args.no_plots)
    if result.all_failed:  # nothing to show for it: scripts and CI must see a failure
        print(
            f"chainrule sweep: every trial failed ({len(result.records)} of "
            f"{len(result.records)}); the errors are listed above",
            file=sys.stderr,
        )
        return 1
    return 0


def report_command(args) -> int:
    top = _count(args, "--top", minimum=0)  # before reading the folder, as for sweep
    _print_report(load_results(args.folder), top, not args.no_plots)
    return 0


def _print_report(result, top: int, plots: bool) -> None:
    written = write_report(result, plots=plots)
    print(summary(result))
    print()
    print(table(result, top=top or None))
    print()
    if "best" in written:
        print(
            f"best configuration: {written['best']}  (chainrule train --config {written['best']})"
        )
    if plots:
        note = written.get("plots")
        print(f"plots: {note}" if note and note.endswith(".png") else note)
    print(f"all trials: {os.path.join(result.folder, 'trials.jsonl')}")
