"""The server's door: a token on every request, and only its own Host and Origin.

* **Token.** ``chainrule playground`` makes a random token and puts it in the URL it
  prints, as Jupyter does. Every HTTP request and WebSocket handshake must present it: as
  ``?token=``, as ``Authorization: token …``, or as the cookie the page sets on first
  load (scoped to this host and port, ``SameSite=Strict``, ``HttpOnly``). Anything else
  gets 403.
* **Host.** A page on another site can point its own DNS name at 127.0.0.1 (DNS
  rebinding) and so talk to a local server as if it were same-origin. Its requests carry
  that name in ``Host``, so only ``localhost``, IP literals and the name given with
  ``--host`` are accepted, and only with the server's port.
* **Origin.** Browsers send ``Origin`` with WebSocket handshakes and cross-site posts; it
  must be this server's own ``http://host:port``.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qs


def cookie_name(port: int) -> str:
    """Cookies are per host, not per port: two servers on one machine need two names."""
    return f"chainrule-playground-{port}"


def _split_host(value: str) -> tuple[str, str]:
    if value.startswith("["):  # [::1]:8000
        host, _, rest = value[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = value.rpartition(":")
    return (host, port) if host else (value, "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware refusing requests without the token or from a foreign Host/Origin."""

    def __init__(self, app, token: str, port: int, host_names=("localhost",)):
        self.app = app
        self.token = token
        self.port = port
        self.names = {n.lower() for n in host_names}

    def host_ok(self, value: str | None) -> bool:
        if not value:
            return False
        host, port = _split_host(value.strip().lower())
        if port != str(self.port):
            return False
        return host in self.names or host == "localhost" or _is_ip(host)

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        return origin is None or origin.lower() == f"http://{(host or '').lower()}"

    def token_of(self, scope, headers) -> str | None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("token "):
            return auth[6:].strip()
        if "cookie" in headers:
            cookie = SimpleCookie()
            try:
                cookie.load(headers["cookie"])
            except Exception:  # a malformed cookie header is no token
                return None
            morsel = cookie.get(cookie_name(self.port))
            return morsel.value if morsel else None
        return None

    def why_refused(self, scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if not self.host_ok(host):
            return f"refused: Host {host!r} is not this server"
        if not self.origin_ok(headers.get("origin"), host):
            return f"refused: Origin {headers.get('origin')!r} is not this server"
        token = self.token_of(scope, headers)
        if token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            return "refused: a valid token is required (open the URL chainrule playground printed)"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        reason = self.why_refused(scope)
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            # closing before accepting makes the server answer the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        body = (reason + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
