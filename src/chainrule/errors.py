"""The exceptions chainrule raises for misuse, each with a one-line message.

They subclass the built-in exceptions users already catch (``ValueError``,
``RuntimeError``), so ``except ValueError`` keeps working.
"""


class ShapeError(ValueError):
    """Operand shapes do not fit an op; the message names the op and every shape."""


class GraphError(RuntimeError):
    """The graph cannot be walked: freed by an earlier backward, or misused."""
