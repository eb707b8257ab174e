"""The server, against the real running process on 127.0.0.1: the token, Host and Origin
checks, uploads, independent sessions, freed sessions and a clean Ctrl-C."""

import base64
import json
import os
import socket
import time

import httpx
import numpy as np
import pytest

from .conftest import configure, recv_type, start_server, step


def raw_handshake(server, host, origin=None, token=True):
    """The status line of a WebSocket handshake with exactly these headers."""
    path = "/ws" + (f"?token={server.token}" if token else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(200).split(b"\r\n")[0].decode()


def test_every_http_request_needs_the_token(server):
    base = server.origin
    for path in ("/", "/static/main.js", "/static/playground.css", "/api/schema", "/api/status"):
        r = httpx.get(base + path)
        assert r.status_code == 403, path
        assert "token" in r.text
        assert httpx.get(base + path, params={"token": "wrong"}).status_code == 403
        assert httpx.get(base + path, params={"token": server.token}).status_code == 200, path
        auth = {"Authorization": f"token {server.token}"}
        assert httpx.get(base + path, headers=auth).status_code == 200
    assert httpx.post(base + "/api/upload", content=b"a,b,c\n1,2,0\n").status_code == 403


def test_the_page_sets_a_cookie_that_then_stands_for_the_token(server):
    with httpx.Client(base_url=server.origin) as client:
        r = client.get("/", params={"token": server.token})
        assert r.status_code == 200 and "chainrule playground" in r.text
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/static/main.js").status_code == 200  # the cookie alone
    assert httpx.get(server.origin + "/static/main.js").status_code == 403


def test_websocket_needs_the_token(server):
    assert " 403 " in raw_handshake(server, f"127.0.0.1:{server.port}", token=False) + " "
    assert " 101 " in raw_handshake(server, f"127.0.0.1:{server.port}") + " "
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as e:
        server.ws(token=False)
    assert e.value.response.status_code == 403


def test_foreign_host_and_origin_are_refused(server):
    port = server.port
    auth = {"token": server.token}
    # DNS rebinding: a foreign name pointed at 127.0.0.1 reaches us with its own Host
    r = httpx.get(server.origin + "/", params=auth, headers={"Host": f"evil.example:{port}"})
    assert r.status_code == 403 and "Host" in r.text
    assert (
        httpx.get(server.origin + "/", params=auth, headers={"Host": "127.0.0.1:1"}).status_code
        == 403
    )
    ok = httpx.get(server.origin + "/", params=auth, headers={"Host": f"localhost:{port}"})
    assert ok.status_code == 200
    r = httpx.post(
        server.origin + "/api/upload",
        params=auth,
        content=b"a,b,c\n1,2,0\n",
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403 and "Origin" in r.text
    assert " 403 " in raw_handshake(server, f"evil.example:{port}") + " "
    assert " 403 " in raw_handshake(server, f"127.0.0.1:{port}", origin="http://evil.example") + " "
    assert " 101 " in raw_handshake(server, f"127.0.0.1:{port}", origin=server.origin) + " "


def upload(server, body: bytes, name="data.csv"):
    return httpx.post(
        server.origin + "/api/upload",
        params={"token": server.token, "name": name},
        content=body,
        headers={"Origin": server.origin},
    )


def test_uploads_are_checked_like_the_cli_reads_csv(server):
    r = upload(server, b"a,b,label\n1,2,x\n3,oops,y\n", "bad.csv")
    assert r.status_code == 400
    assert r.json()["error"] == "bad.csv: line 3, column 2 ('b'): not a number: 'oops'"
    r = upload(server, b"a,b,label\n1,2,x\n3,4\n", "short.csv")
    assert r.json()["error"] == "short.csv: line 3: expected 3 fields, found 2"
    r = upload(server, b"a,b,label\n1,,x\n", "hole.csv")
    assert r.json()["error"] == "hole.csv: line 2, column 2 ('b'): missing value"
    r = upload(server, b"a,label\n1,x\n2,y\n", "narrow.csv")
    assert r.status_code == 400 and "two numeric feature columns" in r.json()["error"]
    r = upload(server, b"\xff\xfe\x00", "binary.csv")
    assert r.status_code == 400 and "not UTF-8" in r.json()["error"]
    big = b"a,b,label\n" + b"1.0,2.0,0\n" * 250_000  # 2.5 MB: over the 2 MB limit
    r = upload(server, big, "big.csv")
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert "/tmp" not in json.dumps(r.json())


def test_an_uploaded_csv_trains_with_its_chosen_columns(server):
    rng = np.random.default_rng(0)
    rows = ["id,p,q,r,kind"]
    for i in range(120):
        p, q, r = rng.normal(size=3)
        rows.append(f"{i},{p:.5f},{q:.5f},{r:.5f},{'yes' if p + r > 0 else 'no'}")
    info = upload(server, ("\n".join(rows) + "\n").encode(), "mine.csv").json()
    assert info["columns"] == ["id", "p", "q", "r", "kind"] and info["rows"] == 120
    assert info["task"] == "classification"
    with server.ws() as ws:
        setup, header, _ = configure(ws, data="csv", upload=info["id"], cx=1, cy=3, label=4)
        assert setup["axis_names"] == ["p", "r"] and setup["classes"] == ["no", "yes"]
        points = np.array([p[:2] for p in setup["points"]])
        expect = np.array(
            [[float(c) for c in (line.split(",")[1], line.split(",")[3])] for line in rows[1:]]
        )
        np.testing.assert_allclose(points, expect.astype(np.float32), rtol=1e-6)
        header, _ = step(ws, 60)
        assert header["losses"]["test_accuracy"] > 0.8  # p + r > 0 is learnable from (p, r)


def _run(server, steps, **state):
    with server.ws() as ws:
        configure(ws, **state)
        header, body = step(ws, steps)
    return header, body


def test_two_tabs_train_independently(server):
    a_state = dict(data="xor", layers=[4], act="relu", init="he", lr=0.1, seed=1)
    b_state = dict(data="moons", layers=[3, 3], opt="adam", lr=0.01, seed=2)
    alone_a = _run(server, 40, **a_state)
    with server.ws() as a, server.ws() as b:
        configure(a, **a_state)
        configure(b, **b_state)
        for _ in range(4):  # interleaved: each tab's steps are its own
            ha, body_a = step(a, 10)
            hb, _ = step(b, 7)
        assert ha["step"] == 40 and hb["step"] == 28
        assert ha["weights"] == alone_a[0]["weights"]
        assert body_a == alone_a[1]
        assert len(hb["weights"][0]["W"]) == 3
        status = httpx.get(server.origin + "/api/status", params={"token": server.token})
        assert status.json()["sessions"] >= 2


def test_a_closed_tabs_session_is_freed(server):
    def sessions():
        r = httpx.get(server.origin + "/api/status", params={"token": server.token})
        return r.json()["sessions"]

    before = sessions()
    with server.ws() as ws:
        configure(ws, data="circles")
        assert sessions() == before + 1
    deadline = time.monotonic() + 10
    while sessions() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions() == before


def test_bad_settings_get_one_line_errors(server):
    with server.ws() as ws:
        ws.send(json.dumps({"type": "config", "state": {"lr": "fast"}}))
        assert recv_type(ws, "error")["message"] == "playground: lr must be a number, got 'fast'"
        ws.send(json.dumps({"type": "config", "state": {"layrs": "4"}}))
        assert "unknown setting 'layrs'" in recv_type(ws, "error")["message"]
        ws.send(json.dumps({"type": "step"}))
        assert recv_type(ws, "error")["message"] == "step: send a config first"


def test_ctrl_c_stops_cleanly_with_a_tab_open():
    srv = start_server()
    with srv.ws() as ws:
        configure(ws, data="spirals", layers=[8, 8])
        ws.send(json.dumps({"type": "play"}))
        ws.recv(timeout=10)
        rc, out, err = srv.stop()
    assert rc == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    assert "stopped" in out


def test_another_host_needs_an_explicit_flag():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip().startswith("chainrule playground: error: --host 0.0.0.0")
    assert "--allow-remote" in r.stderr and "Traceback" not in r.stderr
    srv = start_server("--host", "0.0.0.0", "--allow-remote")
    rc, out, _ = srv.stop()
    assert rc == 0 and "warning: listening on 0.0.0.0" in out


def test_a_bad_lesson_is_one_line_on_the_command_line():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "playground", "--no-browser", "--lesson", "lr=fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        "chainrule playground: error: playground: lr must be a number, got 'fast'"
    )
