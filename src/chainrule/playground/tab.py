"""One browser tab over its WebSocket: messages in, frames out.

The page sends JSON messages::

    {"type": "config", "state": {...}}      (re)build data, network and run; paused
    {"type": "play"} / {"type": "pause"}    train continuously / stop
    {"type": "step", "steps": 1}            run a few optimizer steps, then one frame
    {"type": "reset"}                       the same state from step 0
    {"type": "speed", "steps": 5}           optimizer steps between view updates
    {"type": "explain", "what": "unit", "layer": 1, "unit": 0, "example": 3}
    {"type": "explain", "what": "weight", "layer": 1, "to": 0, "from": 1, "example": 3}
    {"type": "export"}

and receives ``setup`` (once per run), ``frame`` (a JSON header followed by one binary
message with the pictures, see :mod:`chainrule.playground.views`), ``explanation``,
``export`` and ``error`` (one line). Everything that touches the model runs on a worker
thread, one at a time per tab, while the training thread is parked; the event loop never
blocks, so many tabs stay responsive.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

from starlette.websockets import WebSocketDisconnect, WebSocketState

from chainrule.playground import explain, export
from chainrule.playground.session import Session
from chainrule.playground.state import SCHEMA, validate
from chainrule.playground.views import FrameMaker

FRAME_INTERVAL = 1 / 30  # the page asks for no more than 30 updates per second


def clean(value):
    """JSON-ready: NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


class Tab:
    """The server side of one tab: its session, its player loop, its lock."""

    def __init__(self, websocket, uploads, registry):
        self.ws = websocket
        self.uploads = uploads
        self.registry = registry
        self.session = None
        self.frames = None
        self.lock = asyncio.Lock()
        self.player = None
        self.playing = False
        key = SCHEMA["speed"]
        self.speed = key.default
        self.speed_range = (key.low, key.high)

    async def send(self, message: dict):
        try:
            text = json.dumps(message, allow_nan=False)
        except ValueError:  # a NaN somewhere (a diverged run): the slow, careful way
            text = json.dumps(clean(message), allow_nan=False)
        await self.ws.send_text(text)

    async def error(self, message: str):
        await self.send({"type": "error", "message": message})

    # --- the loop --------------------------------------------------------------------
    async def run(self):
        self.registry.add(self)
        try:
            while True:
                try:
                    message = json.loads(await self.ws.receive_text())
                except json.JSONDecodeError as e:
                    await self.error(f"bad message: {e}")
                    continue
                if not isinstance(message, dict):
                    await self.error("bad message: expected a JSON object")
                    continue
                try:
                    await self.handle(message)
                except (ValueError, OSError) as e:
                    if not self.connected:
                        break
                    await self.error(str(e))
        except WebSocketDisconnect:
            pass
        except Exception:
            if self.connected:  # a real bug: let the server log it
                raise
            # else the tab closed while we were sending: nothing to report to anyone
        finally:
            await self.close()

    @property
    def connected(self) -> bool:
        return (
            self.ws.client_state == WebSocketState.CONNECTED
            and self.ws.application_state == WebSocketState.CONNECTED
        )

    async def close(self):
        await self.stop_playing()
        if self.session is not None:
            session, self.session = self.session, None
            await asyncio.to_thread(session.close)
        self.registry.discard(self)

    async def handle(self, message: dict):
        kind = message.get("type")
        if kind == "config":
            await self.configure(message.get("state") or {})
        elif self.session is None:
            await self.error(f"{kind}: send a config first")
        elif kind == "play":
            if self.player is None or self.player.done():
                self.playing = True
                self.player = asyncio.create_task(self.play())
        elif kind == "pause":
            await self.stop_playing()
            await self.send_frame(force_findings=True)
        elif kind == "step":
            await self.stop_playing()
            await self.advance(_int(message.get("steps", 1), "steps", 1, 10_000))
        elif kind == "reset":
            await self.configure(self.session.state)
        elif kind == "speed":
            low, high = self.speed_range
            self.speed = _int(message.get("steps"), "speed", int(low), int(high))
        elif kind == "explain":
            await self.explain(message)
        elif kind == "export":
            async with self.lock:
                text = await asyncio.to_thread(export.export, self.session)
            await self.send({"type": "export", **text})
        else:
            await self.error(f"unknown message type {kind!r}")

    async def configure(self, values: dict):
        await self.stop_playing()
        state = validate(values)
        self.speed = state["speed"]
        async with self.lock:
            old, self.session, self.frames = self.session, None, None
            if old is not None:
                await asyncio.to_thread(old.close)
            session = await asyncio.to_thread(Session, state, self.uploads)
            self.session = session
            self.frames = await asyncio.to_thread(FrameMaker, session)
            setup = self.frames.setup()
        await self.send(setup)
        await self.send_frame(force_findings=True)

    async def advance(self, steps: int, force_findings: bool = True):
        async with self.lock:
            session, frames = self.session, self.frames

            def work():
                session.advance(steps)
                return frames.frame(force_findings)

            header, body = await asyncio.to_thread(work)
        await self.send(header)
        await self.ws.send_bytes(body)
        return header

    async def send_frame(self, force_findings: bool = False):
        await self.advance(0, force_findings)

    async def play(self):
        """Train ``speed`` steps, show a frame, repeat, at most 30 frames a second."""
        try:
            while self.playing and self.session is not None and self.session.running:
                start = time.perf_counter()
                await self.advance(self.speed, force_findings=False)
                await asyncio.sleep(max(0.0, FRAME_INTERVAL - (time.perf_counter() - start)))
            if self.playing:  # training ended by itself (NaN): the page's play button resets
                await self.send({"type": "stopped"})
        except Exception as e:
            if not self.connected:
                return  # the tab went away mid-update
            if not isinstance(e, (ValueError, OSError)):
                raise
            await self.error(str(e))
        finally:
            self.playing = False

    async def stop_playing(self):
        """Stop the player after its current update. It is never cancelled mid-update: a
        cancelled wait would leave the training thread running while the next message
        reads the model."""
        self.playing = False
        if self.player is not None:
            await asyncio.shield(self.player)
        self.player = None

    async def explain(self, message: dict):
        await self.stop_playing()
        what = message.get("what")
        example = _int(message.get("example", 0), "example", -1, 10**9)
        layer = _int(message.get("layer"), "layer", 1, 100)
        async with self.lock:
            if example == -1:  # "the one it gets most wrong"
                example = await asyncio.to_thread(explain.hardest_example, self.session)
            if what == "unit":
                unit = _int(message.get("unit"), "unit", 0, 10**6)
                result = await asyncio.to_thread(
                    explain.explain_unit, self.session, layer, unit, example
                )
            elif what == "weight":
                to = _int(message.get("to"), "to", 0, 10**6)
                frm = _int(message.get("from"), "from", 0, 10**6)
                result = await asyncio.to_thread(
                    explain.explain_weight, self.session, layer, to, frm, example
                )
            else:
                raise ValueError(f"explain: what must be 'unit' or 'weight', got {what!r}")
        result["step"] = self.session.step
        await self.send({"type": "explanation", **result})


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value!r}")
    return int(value)
