"""View updates per second of `chainrule playground` on one core.

One view update is what the page gets while playing: ``speed`` optimizer steps of the real
run (``run_training``'s loop, parked between steps), then a frame — the engine's forward
pass over a 50×50 grid with every hidden unit's output, the losses on the whole train and
test split, the weights, the gradient-flow monitor's numbers and (every 25 steps) the
diagnosis — encoded as JSON plus the picture bytes.

Two measurements, each on 2-8-8-1 (the "plane" regression set: one output) and 2-8-8-2
(circles, two classes), several steps between updates:

* ``in-process``: ``Session.advance`` + ``FrameMaker.frame`` + ``json.dumps`` in a loop —
  what the server's worker thread does per update;
* ``server``: the real server (``chainrule playground`` in a subprocess) playing, as
  after a press of the page's play button, with a WebSocket client counting the frames it
  receives. The server paces itself to at most 30 updates/s, so the wall rate tops out
  at 30; updates per CPU-second of the server show the head room.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/playground_rate.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/playground_rate.py --seconds 5

Two rates per row: updates per second of wall time, and updates per CPU-second (the
process's user + system time, all threads): on a machine shared with other work the wall
rate shows the load, the CPU rate what one core of our own gives.

The in-process loop and the server each run pinned to one core (``os.sched_setaffinity``,
``taskset``), BLAS on one thread; the WebSocket client, standing in for the browser, runs
on another core when there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CASES = [  # (name, state)
    ("2-8-8-1 plane (regression)", {"data": "plane", "layers": [8, 8], "lr": 0.03}),
    ("2-8-8-2 circles", {"data": "circles", "layers": [8, 8], "lr": 0.03}),
]


def pin_one_core():
    """Pin this process to one core; returns (that core, another core for the WebSocket
    client, or None when there is only one)."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    return cores[0], (cores[1] if len(cores) > 1 else None)


def in_process(state, steps, seconds):
    from chainrule.playground.session import Session
    from chainrule.playground.state import validate
    from chainrule.playground.tab import clean
    from chainrule.playground.views import FrameMaker

    session = Session(validate(state))
    frames = FrameMaker(session)
    for _ in range(5):  # warm up
        session.advance(steps)
        frames.frame()
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        session.advance(steps)
        header, _ = frames.frame()
        json.dumps(clean(header), allow_nan=False)
        n += 1
    rate = n / (time.perf_counter() - start)
    cpu_rate = n / (time.process_time() - cpu)
    session.close()
    return rate, cpu_rate


def start_server(core):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "chainrule", "playground", "--no-browser", "--port", "0"]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    for line in proc.stdout:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        if m:
            return proc, int(m.group(1)), m.group(2)
    raise RuntimeError("chainrule playground did not print its URL")


def cpu_seconds(pid) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_server(port, token, state, steps, seconds, pid):
    from websockets.sync.client import connect

    def frame(ws):
        while True:
            msg = ws.recv(timeout=60)
            if isinstance(msg, str) and json.loads(msg)["type"] == "frame":
                return ws.recv(timeout=60)

    with connect(
        f"ws://127.0.0.1:{port}/ws?token={token}",
        origin=f"http://127.0.0.1:{port}",
        max_size=8 * 1024 * 1024,
    ) as ws:
        ws.send(json.dumps({"type": "config", "state": {**state, "speed": steps}}))
        frame(ws)
        ws.send(json.dumps({"type": "play"}))  # what the page's play button sends
        for _ in range(5):
            frame(ws)
        n, start, cpu = 0, time.perf_counter(), cpu_seconds(pid)
        while time.perf_counter() - start < seconds:
            frame(ws)
            n += 1
        rate = n / (time.perf_counter() - start)
        cpu_rate = n / max(cpu_seconds(pid) - cpu, 1e-9)
        ws.send(json.dumps({"type": "pause"}))
        return rate, cpu_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--steps", default="1,5,10", help="optimizer steps per update")
    parser.add_argument("--no-server", action="store_true", help="skip the WebSocket loop")
    args = parser.parse_args()
    steps_list = [int(s) for s in args.steps.split(",")]

    core, client_core = pin_one_core()
    from common import blas_info

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except ModuleNotFoundError:
        pass
    print(f"BLAS: {blas_info()}")
    print(f"pinned to core {core}; grid 50×50; one update = N optimizer steps + one frame\n")
    rows = []
    for name, state in CASES:
        for steps in steps_list:
            rate, cpu_rate = in_process(state, steps, args.seconds)
            rows.append((name, steps, "in-process", rate, cpu_rate))
            print(
                f"{name:28s} {steps:3d} steps/update  in-process  {rate:7.1f} updates/s "
                f"(per CPU-second: {cpu_rate:7.1f})"
            )
    if not args.no_server:
        proc, port, token = start_server(core)  # the server gets the measured core
        if client_core is not None:  # the client plays the browser, on another core
            os.sched_setaffinity(0, {client_core})
        try:
            for name, state in CASES:
                for steps in steps_list:
                    rate, cpu_rate = over_server(port, token, state, steps, args.seconds, proc.pid)
                    rows.append((name, steps, "server", rate, cpu_rate))
                    print(
                        f"{name:28s} {steps:3d} steps/update  server      {rate:7.1f} updates/s "
                        f"(per CPU-second of the server: {cpu_rate:7.1f})"
                    )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    print("\n| network | steps per update | measured | updates/s (wall) | updates per CPU-second |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, steps, where, rate, cpu_rate in rows:
        print(f"| {name} | {steps} | {where} | {rate:.1f} | {cpu_rate:.1f} |")


if __name__ == "__main__":
    main()
