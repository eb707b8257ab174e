"""``serve()``: run the playground on uvicorn until Ctrl-C.

The socket is bound before uvicorn starts, so port 0 (any free port) gives a real port for
the printed URL and the Host check. Ctrl-C (or SIGTERM) shuts the server down: open tabs
are told goodbye by the closing WebSocket, their training threads are ended, uploaded
files are deleted, and ``serve`` returns normally.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import tempfile
import threading

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str, query: str = "") -> str:
    shown = f"[{host}]" if ":" in host else host
    extra = f"&{query}" if query else ""
    return f"http://{shown}:{port}/?token={token}{extra}"


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    lesson: dict | None = None,
    allow_remote: bool = False,
    token: str | None = None,
    log=print,
    ready=None,
) -> int:
    """Serve the playground until interrupted; returns 0.

    ``ready(url)``, if given, is called once the server accepts connections (tests use it
    to learn the port). A host other than the loopback needs ``allow_remote=True``.
    """
    # uvicorn is the [playground] extra's; imported here so the rest of chainrule (and
    # `chainrule --help`) works without it
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise OSError(
            "the playground needs its extra: pip install 'chainrule[playground]'"
        ) from None
    from chainrule.playground.app import create_app

    if not is_local(host):
        if not allow_remote:
            raise ValueError(
                f"--host {host} would let other machines reach the playground; pass "
                "--allow-remote as well if that is what you want"
            )
        log(
            f"warning: listening on {host}: anyone who can reach this address and has the "
            "token can use the playground",
        )
    token = token or secrets.token_urlsafe(24)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="chainrule-playground-") as uploads:
        names = ("localhost",) if is_local(host) else ("localhost", host)
        app = create_app(token, uploads, port=port, host_names=names, lesson=lesson)
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = url_of(shown_host, port, token)
        from uvicorn.config import WS_PROTOCOLS

        # the sans-I/O implementation where uvicorn has it (its older one is deprecated)
        ws = "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "websockets"
        config = uvicorn.Config(
            app,
            log_level="warning",
            ws=ws,
            lifespan="off",
            timeout_graceful_shutdown=3,
            ws_max_size=4 * 1024 * 1024,
            # frames go to this machine: compressing 40 kB of pictures 30 times a second
            # costs more CPU than it saves time
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)

        def announce():
            started = threading.Event()
            while not server.started and not server.should_exit:
                started.wait(0.05)
            if server.started:
                log(f"chainrule playground: {url}")
                log("press Ctrl-C to stop")
                if ready is not None:
                    ready(url)
                if open_browser:
                    import webbrowser  # stdlib; only needed when a browser is opened

                    webbrowser.open(url)

        threading.Thread(target=announce, daemon=True).start()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: we are done
            pass
        finally:
            sock.close()
    log("chainrule playground: stopped")
    sys.stdout.flush()
    return 0
