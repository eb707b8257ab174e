"""``cr.compile``: capture a training step once, replay it as straight-line NumPy, and
print it as readable code (``step.source()``).

Modules: :mod:`.capture` (record one eager run), :mod:`.known_calls` (what is replayed
whole: optimizer, clipping, schedules, random draws), :mod:`.plan` (two captures become
one program), :mod:`.guards` (what a replay checks first), :mod:`.replay` (the generated
function), :mod:`.optimizer_step` (the update for small models), :mod:`.source` (the readable
NumPy view, with :mod:`.names`, :mod:`.templates`, :mod:`.calls_text`,
:mod:`.kernel_text`), :mod:`.refusals` (what is refused and the messages), :mod:`.step`
(the decorator and its cache). See ``docs/compile.md``.
"""

from chainrule.compile.refusals import CaptureError
from chainrule.compile.step import CompiledStep, compile

__all__ = ["CaptureError", "CompiledStep", "compile"]
