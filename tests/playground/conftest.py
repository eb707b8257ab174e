"""A real playground server on 127.0.0.1 (random port), started as `chainrule playground`."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")


class Server:
    def __init__(self, proc, url):
        self.proc, self.url = proc, url
        parts = urlsplit(url)
        self.port = parts.port
        self.origin = f"http://127.0.0.1:{self.port}"
        self.token = re.search(r"token=([^&]+)", url).group(1)

    def ws(self, token=True, origin=None, host=None, **kw):
        from websockets.sync.client import connect

        uri = f"ws://127.0.0.1:{self.port}/ws" + (f"?token={self.token}" if token else "")
        headers = {}
        if host is not None:
            headers["Host"] = host
        return connect(
            uri,
            origin=origin or self.origin,
            additional_headers=headers,
            max_size=8 * 1024 * 1024,
            open_timeout=10,
            **kw,
        )

    def stop(self):
        """Ctrl-C, as a user would; returns (returncode, stdout, stderr)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, getattr(self, "head", "") + out, err


def start_server(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    head = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        head.append(line)
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"playground did not start: {proc.stderr.read()}")
            continue
        match = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        if match:
            srv = Server(proc, match.group(1))
            srv.head = "".join(head)
            return srv
    proc.kill()
    raise RuntimeError("playground did not print its URL within 60 s")


@pytest.fixture(scope="session")
def server():
    srv = start_server()
    yield srv
    rc, _, err = srv.stop()
    assert rc == 0, err[-4000:]
    assert "Traceback" not in err, err[-4000:]


def recv_frame(ws, timeout=30):
    """Messages until the next frame: (header, body, others)."""
    others = []
    while True:
        msg = ws.recv(timeout=timeout)
        if isinstance(msg, bytes):
            raise AssertionError("a binary message without a frame header")
        data = json.loads(msg)
        if data["type"] == "frame":
            body = ws.recv(timeout=timeout)
            assert isinstance(body, bytes)
            return data, body, others
        if data["type"] == "error":
            raise AssertionError(data["message"])
        others.append(data)


def recv_type(ws, kind, timeout=30):
    while True:
        msg = ws.recv(timeout=timeout)
        if isinstance(msg, bytes):
            continue
        data = json.loads(msg)
        if data["type"] == kind:
            return data
        if data["type"] == "error" and kind != "error":
            raise AssertionError(data["message"])


def configure(ws, **state):
    """Send a config; returns (setup, first frame header, body)."""
    ws.send(json.dumps({"type": "config", "state": state}))
    header, body, others = recv_frame(ws)
    setup = next(m for m in others if m["type"] == "setup")
    return setup, header, body


def step(ws, steps):
    ws.send(json.dumps({"type": "step", "steps": steps}))
    header, body, _ = recv_frame(ws)
    return header, body
