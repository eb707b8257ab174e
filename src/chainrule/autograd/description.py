"""What a primitive means, in words: the text part of its registration.

Every primitive carries a :class:`Description` next to its forward and its VJPs (see
:func:`chainrule.autograd.primitive.defprimitive`). The engine never reads it; it is for
the readers of a graph — ``chainrule.explain`` narrates the chain rule with it and draws
the nodes with its symbols — so one registration holds everything about an op.

Templates name the inputs by position and the output by ``{out}``: in
``formula="{0} · {1}"`` and ``local=("{1}", "{0}")`` (``mul``), ``{0}`` and ``{1}`` are
replaced by the inputs' labels (``x``, ``W0``) or, where numbers are substituted, by
their values; ``{g}`` in ``vjp`` is the upstream gradient and ``{name}`` a static
parameter of the op (``{dtype}`` of ``astype``). Where a fixed template cannot say it
(``x²`` for ``x ** 2``), a field may instead be a function of the input labels (see the
field's notes below).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Description:
    """The human-readable description of a primitive (all fields optional).

    Attributes:
        symbol: the label of its node in a picture (``+``, ``×``, ``σ``, ``max``).
        formula: how the forward step reads: a template over the inputs and params
            (``"{0} + {1}"``, ``"reshape({0}, {shape})"``), or a function
            ``formula(args, params) -> str`` of the input labels and the params' texts.
        local: per input, the local derivative ∂out/∂input_i in the notation of the
            chain rule ``∂L/∂x = ∂L/∂out · ∂out/∂x``: a template (``"1/{1}"``), a function
            ``local(args, constants) -> str`` where ``constants[i]`` is the value of a
            constant scalar input (else None), or ``""`` where no short formula exists.
        local_values: per input, the local derivative as a template worth filling with
            numbers when every input is a scalar (``"(1 − {out})·{out}"`` of σ).
        vjp: per input, the vector-Jacobian product ``∇x L = (∂out/∂x)ᵀ ∇out L`` written
            out with ``{g}`` the upstream gradient (``"{g} ⊙ {1}"``).
        domain: why the output may be nan or ±∞ for finite inputs (``log`` of a negative
            number), said when it happens.
        tie: a function ``tie(index, inputs, params) -> mask`` of the raw input arrays,
            true where input ``index`` sits at a point where the derivative is not
            defined and a convention decides what the VJP returns: a tie of ``max``, the
            kink of ``relu`` or ``abs`` at 0, a bound of ``clip``.
        ties: what the VJP does there, in words, as the continuation of the op's name
            (``"routes, but {0} and {1} tie: each gets half the upstream gradient"``);
            the narration says it instead of the pattern's sentence wherever ``tie`` holds.
        elementwise: the local derivative is a plain elementwise factor, so it can be
            shown as the VJP evaluated at an upstream gradient of 1.
        commutative: the inputs may be swapped (a constant may be drawn in the op's node
            whichever side it is on).
        substitute: the forward formula reads well with numbers in place of the names
            (``−2 + 5``), when every input is a scalar.
        params: the static params worth showing after the formula, when they are not
            None or False (None: all of them).
        sentence: what an edge says when the op has no gate pattern (``matmul``: "each
            side gets the upstream gradient times the other side, transposed").
        pattern_text: per input, a sentence that replaces the pattern's generic one
            (``sub``'s second input gets −g).
        display: the op's name in narration when it differs from the registered name
            (``maximum`` is narrated as ``max``).
    """

    symbol: str | None = None
    formula: object = None
    local: tuple = ()
    local_values: tuple = ()
    vjp: tuple = ()
    domain: str | None = None
    tie: object = None
    ties: str | None = None
    elementwise: bool = False
    commutative: bool = False
    substitute: bool = False
    params: tuple | None = None
    sentence: str | None = None
    pattern_text: tuple = ()
    display: str | None = None

    def at(self, field, index):
        """Entry ``index`` of the per-input ``field`` (``local``, ``vjp``, ...), or None."""
        entries = getattr(self, field)
        if index < len(entries) and entries[index]:
            return entries[index]
        return None


FIELDS = frozenset(f.name for f in fields(Description))


def describe(name, **text):
    """A :class:`Description` from keyword fields; an unknown field is named in the error."""
    unknown = sorted(set(text) - FIELDS)
    if unknown:
        raise TypeError(
            f"defprimitive({name!r}): unknown description field {unknown[0]!r}; "
            f"the fields are {', '.join(sorted(FIELDS))}"
        )
    for key in ("local", "local_values", "vjp", "pattern_text"):
        if key in text and isinstance(text[key], str):
            text[key] = (text[key],)  # a one-input op may give its single entry bare
    return Description(**text)
