"""chainrule playground: a live training lab in the browser, driven by the real engine.

``chainrule playground`` serves a page in the spirit of TensorFlow Playground — pick a 2-D
data set, toggle features, shape a network, press play — whose every picture is a view of
a real chainrule run: the page trains through ``run_training`` (what ``chainrule train``
runs), draws the engine's forward pass over the plane, shows the gradient-flow monitor
and ``chainrule diagnose``'s findings as they become true, explains the chain rule at any
unit or weight from the engine's backward pass, keeps its whole state in the URL and
exports a config that ``chainrule train`` trains to the same numbers.

Modules: ``state`` (the settings schema and URL form), ``data`` (points, features, split,
uploads), ``session`` (one tab's run, stepped through a parked training thread), ``views``
(frames), ``explain`` (the chain rule on click), ``export``, ``guard`` (token, Host,
Origin), ``tab`` (the WebSocket protocol), ``app`` (routes), ``server`` (uvicorn).
The web parts need the ``[playground]`` extra (starlette, uvicorn, websockets).
"""

__all__ = ["serve"]


def serve(*args, **kwargs):
    """Run the playground server (see :func:`chainrule.playground.server.serve`)."""
    from chainrule.playground.server import serve as _serve  # keeps uvicorn optional

    return _serve(*args, **kwargs)
