"""Execute the tutorial notebooks in place, so the stored copies carry their outputs.

    python docs/tutorials/execute.py            # all of them
    python docs/tutorials/execute.py 01_*.ipynb  # some

The notebooks are stored executed: GitHub, nbviewer and the documentation site then
show the step-through pages, graphs and charts without running anything. CI executes
them again from scratch (tests/tutorials), so a failing cell or a wrong number fails
the build whatever the stored outputs say. Run this after editing a notebook; it
prints each one's run time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT = 120  # seconds per cell


def execute(path: Path) -> float:
    """Run ``path`` top to bottom in a fresh kernel and write it back; returns seconds."""
    import nbformat
    from nbclient import NotebookClient

    from chainrule.files import atomic_write

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps: re-running gives a clean diff
    )
    client.execute()
    seconds = time.perf_counter() - start
    atomic_write(path, nbformat.writes(nb) + "\n")
    return seconds


def main(argv: list[str]) -> int:
    paths = [HERE / a for a in argv] if argv else sorted(HERE.glob("[0-9]*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
