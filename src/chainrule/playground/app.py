"""The ASGI application: the page, its assets, uploads and the live WebSocket.

Routes (all behind :class:`~chainrule.playground.guard.Guard`)::

    GET  /                the page (sets the token cookie when ?token= is given)
    GET  /static/...      its JavaScript modules and CSS, shipped in the package
    GET  /api/schema      every setting with its default and range (the controls)
    GET  /api/status      {"sessions": number of open tabs}
    POST /api/upload      a CSV body (?name=file.csv): checked by load_csv, kept for the
                          server's lifetime; answers {"id", "columns", "rows", "task"}
    WS   /ws              one tab's session (see chainrule.playground.tab)
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from chainrule.playground.data import Uploads
from chainrule.playground.guard import Guard, cookie_name
from chainrule.playground.state import schema_json
from chainrule.playground.tab import Tab

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 2_000_000


class _Registry(set):
    """The open tabs (a set of Tab); its size is what /api/status reports."""


def create_app(token: str, uploads_dir, port: int = 0, host_names=("localhost",), lesson=None):
    """The playground app, wrapped in its :class:`Guard` (``guard.app`` is the Starlette
    app). ``lesson`` is an initial state (a dict) the page starts from when its URL
    carries none (``chainrule playground --config`` / ``--lesson``)."""
    uploads = Uploads(uploads_dir, max_bytes=MAX_UPLOAD_BYTES)
    tabs = _Registry()

    async def index(request):
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        lesson_json = json.dumps(lesson or {}).replace("</", "<\\/")
        html = html.replace("{{LESSON}}", lesson_json)
        response = HTMLResponse(html, headers={"cache-control": "no-store"})
        if request.query_params.get("token"):
            response.set_cookie(
                cookie_name(guard.port),
                token,
                httponly=True,
                samesite="strict",
                path="/",
            )
        return response

    async def schema(request):
        return JSONResponse(schema_json())

    async def status(request):
        return JSONResponse({"sessions": len(tabs)})

    async def upload(request):
        name = request.query_params.get("name") or "upload.csv"
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > uploads.max_bytes:
            return _refuse(
                413,
                f"upload: {name} is {int(declared):,} bytes; the limit is {uploads.max_bytes:,}",
            )
        body = bytearray()
        async for chunk in request.stream():  # count what arrives, whatever was declared
            body += chunk
            if len(body) > uploads.max_bytes:
                return _refuse(
                    413, f"upload: {name} is larger than the limit of {uploads.max_bytes:,} bytes"
                )
        try:
            info = uploads.add(name, bytes(body))
        except ValueError as e:
            return _refuse(400, str(e))
        return JSONResponse(info)

    async def websocket(ws):
        await ws.accept()
        await Tab(ws, uploads, tabs).run()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/schema", schema),
            Route("/api/status", status),
            Route("/api/upload", upload, methods=["POST"]),
            WebSocketRoute("/ws", websocket),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
    )
    app.state.tabs = tabs
    guard = Guard(app, token, port, host_names)  # outermost: nothing runs before it
    return guard


def _refuse(status: int, message: str):
    return JSONResponse({"error": message}, status_code=status)
