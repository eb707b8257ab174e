"""A small, safe parser for the expressions that ``chainrule explain`` takes.

Nothing here calls ``eval``: a tokenizer that remembers each token's column feeds a
recursive-descent parser, so every error can point at the character that caused it::

    (x+*y)
       ^ expected a number, a variable, a function call or '(' here, found '*'

Grammar (loosest binding first; the same precedence as Python)::

    program  := [NAME '='] expr (';' [NAME '='] expr)*      q = x + y; f = q * z
    expr     := term (('+' | '-') term)*
    term     := unary (('*' | '/') unary)*
    unary    := ('-' | '+') unary | power                     -x**2 == -(x**2)
    power    := atom ['**' unary]                             right-associative: 2**3**2 == 2**9
    atom     := NUMBER | NAME | NAME '(' [expr (',' expr)*] ')' | '(' expr ')'

``NAME = expr`` statements name an intermediate result (``q = x + y`` in ``q = x + y; f = q * z``);
the last statement is the output. The same tokenizer reads the values given with
``--at`` (numbers and nested ``[...]`` lists) through :func:`parse_assignments`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# name -> (smallest, largest) number of arguments; the evaluator maps them to chainrule ops
FUNCTIONS = {
    "exp": (1, 1),
    "log": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "tanh": (1, 1),
    "sigmoid": (1, 1),
    "relu": (1, 1),
    "max": (1, 2),
    "min": (1, 2),
    "dot": (2, 2),
    "sum": (1, 1),
}


class ExpressionError(ValueError):
    """A user error in an expression: ``message`` is one line. With a column, ``str()`` is
    two lines: the source (the line of it that holds the column) and a caret under the
    problem, followed by the message."""

    def __init__(self, message, source=None, col=None):
        self.message = message
        self.source = source
        self.col = col
        super().__init__(self._render())

    def _render(self):
        if self.source is None or self.col is None:
            return self.message
        # the line that holds the column (a source typed over several lines shows one)
        start = self.source.rfind("\n", 0, self.col) + 1
        end = self.source.find("\n", self.col)
        line = self.source[start : len(self.source) if end < 0 else end]
        where = f" (line {self.source.count(chr(10), 0, start) + 1})" if "\n" in self.source else ""
        return f"{line}\n{' ' * (self.col - start)}^ {self.message}{where}"


# ---------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    col: int  # 0-based position in the source

    def describe(self):
        return "the end of the expression" if self.kind == "end" else repr(self.text)


_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_OPERATORS = ("**", "+", "-", "*", "/", "(", ")", ",", "[", "]", "=", ";")


def tokenize(source):
    """Split ``source`` into tokens, each carrying its column; raise on a stray character."""
    tokens, i, n = [], 0, len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
            continue
        m = _NUMBER.match(source, i)
        if m and (c.isdigit() or c == "."):
            tokens.append(Token("num", m.group(), i))
            i = m.end()
            continue
        m = _NAME.match(source, i)
        if m:
            tokens.append(Token("name", m.group(), i))
            i = m.end()
            continue
        for op in _OPERATORS:
            if source.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            hint = {"^": "; use ** for powers", "@": "; use dot(a, b) for matrix products"}
            raise ExpressionError(f"unexpected character {c!r}{hint.get(c, '')}", source, i)
    tokens.append(Token("end", "", n))
    return tokens


# ---------------------------------------------------------------------- syntax tree
@dataclass(frozen=True)
class Num:
    value: float
    text: str
    col: int


@dataclass(frozen=True)
class Var:
    name: str
    col: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "+"
    operand: object
    col: int


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/", "**"
    left: object
    right: object
    col: int  # the operator's column


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple
    col: int


@dataclass(frozen=True)
class Assign:
    name: str  # None for the unnamed output statement
    expr: object
    col: int


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


def to_source(node, parent_prec=0, right=False):
    """The expression as text with only the parentheses it needs (for headings)."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_source(a) for a in node.args)})"
    if isinstance(node, Unary):
        prec = _PRECEDENCE["neg"]
        text = node.op + to_source(node.operand, prec)
    else:
        prec = _PRECEDENCE[node.op]
        if node.op == "**":  # right-associative: parenthesise a power on the left
            text = f"{to_source(node.left, prec + 1)} ** {to_source(node.right, prec)}"
        else:
            text = f"{to_source(node.left, prec)} {node.op} {to_source(node.right, prec, True)}"
    needs = prec < parent_prec or (right and prec == parent_prec)
    return f"({text})" if needs else text


# ---------------------------------------------------------------------- parser
# Expressions typed on a command line are small. These bounds keep every recursive walk
# (this parser, the evaluator, to_source) far below Python's recursion limit, so text
# such as 3000 '(' or 'x+x+…+x' gets a one-line error instead of a RecursionError.
MAX_NESTING = 100  # brackets, prefix signs and powers inside one another
MAX_DEPTH = 200  # the depth of an expression's tree: a chain of n operators is n deep


class _Parser:
    def __init__(self, source):
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.nesting = 0

    @property
    def tok(self):
        return self.tokens[self.pos]

    def error(self, message, tok=None):
        tok = tok or self.tok
        return ExpressionError(message, self.source, tok.col)

    def take(self):
        t = self.tok
        self.pos += 1
        return t

    def accept(self, text):
        if self.tok.kind == "op" and self.tok.text == text:
            return self.take()
        return None

    def expect(self, text, what):
        t = self.accept(text)
        if t is None:
            raise self.error(f"expected {what}, found {self.tok.describe()}")
        return t

    # program := statement (';' statement)*
    def program(self):
        if self.tok.kind == "end":
            raise self.error("the expression is empty")
        statements = [self.statement()]
        while self.accept(";"):
            if self.tok.kind == "end":  # a trailing ';' is harmless
                break
            statements.append(self.statement())
        if self.tok.kind != "end":
            t = self.tok
            if t.kind == "op" and t.text == ")":
                raise self.error("unmatched ')'")
            raise self.error(
                f"expected an operator or the end of the expression, found {t.describe()}"
            )
        return statements

    def statement(self):
        nxt = self.tokens[self.pos + 1]
        if self.tok.kind == "name" and nxt.kind == "op" and nxt.text == "=":
            name = self.take()
            self.take()
            if name.text in FUNCTIONS:
                raise self.error(f"'{name.text}' is a function and cannot be assigned", name)
            return Assign(name.text, self.expr(), name.col)
        col = self.tok.col
        return Assign(None, self.expr(), col)

    def expr(self):
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take()
            node = Binary(op.text, node, self.term(), op.col)
        return node

    def term(self):
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op = self.take()
            node = Binary(op.text, node, self.unary(), op.col)
        return node

    def unary(self):
        # every way of nesting (brackets, calls, signs, powers) passes through here
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"the expression nests more than {MAX_NESTING} levels deep")
        try:
            if self.tok.kind == "op" and self.tok.text in ("-", "+"):
                op = self.take()
                return Unary(op.text, self.unary(), op.col)
            return self.power()
        finally:
            self.nesting -= 1

    def power(self):
        base = self.atom()
        if self.tok.kind == "op" and self.tok.text == "**":
            op = self.take()
            return Binary("**", base, self.unary(), op.col)  # unary -> power: right-assoc
        return base

    def atom(self):
        t = self.tok
        if t.kind == "num":
            self.take()
            return Num(float(t.text), t.text, t.col)
        if t.kind == "name":
            self.take()
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.call(t)
            return Var(t.text, t.col)
        if self.accept("("):
            if self.tok.kind == "op" and self.tok.text == ")":
                raise self.error("empty parentheses: expected an expression")
            node = self.expr()
            if not self.accept(")"):
                raise self.error(
                    f"expected ')' to close the '(' at column {t.col + 1}, "
                    f"found {self.tok.describe()}"
                )
            return node
        if t.kind == "op" and t.text == "[":
            raise self.error(
                "array literals go in --at (e.g. --at w=[2,-3]), not in the expression"
            )
        raise self.error(
            f"expected a number, a variable, a function call or '(' here, found {t.describe()}"
        )

    def call(self, name):
        if name.text not in FUNCTIONS:
            raise self.error(
                f"unknown function '{name.text}'; known functions: {', '.join(sorted(FUNCTIONS))}",
                name,
            )
        self.take()  # '('
        args = []
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            if not self.accept(")"):
                raise self.error(
                    f"expected ',' or ')' in the call to {name.text}(), found {self.tok.describe()}"
                )
        lo, hi = FUNCTIONS[name.text]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} or {hi}"
            s = "" if want == "1" else "s"
            raise self.error(f"{name.text}() takes {want} argument{s}, got {len(args)}", name)
        return Call(name.text, tuple(args), name.col)


def parse(source):
    """Parse ``source`` into a list of :class:`Assign` statements (the last is the output).

    Raises :class:`ExpressionError` (a ValueError) whose message points at the column.
    """
    if not isinstance(source, str):
        raise TypeError(f"parse: expected a string, got {type(source).__name__}")
    statements = _Parser(source).program()
    for st in statements:
        _check_depth(st.expr, source)
    seen = {}
    for st in statements[:-1]:
        if st.name is None:
            raise ExpressionError(
                "only the last statement may be unnamed; write NAME = expression before ';'",
                source,
                st.col,
            )
    for st in statements:
        if st.name is not None:
            if st.name in seen:
                raise ExpressionError(f"'{st.name}' is assigned twice", source, st.col)
            seen[st.name] = st
    return statements


def parse_expression(source):
    """Parse a single expression (no statements) and return its syntax tree."""
    statements = parse(source)
    if len(statements) != 1 or statements[0].name is not None:
        raise ExpressionError("expected a single expression without '=' or ';'", source, 0)
    return statements[0].expr


def _children(node):
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _check_depth(root, source):
    """Refuse a tree deeper than MAX_DEPTH (walked with a stack, not recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is more than {MAX_DEPTH} operations deep; explain is for "
                "small examples (name intermediate results: q = ...; f = q * ...)",
                source,
                node.col,
            )
        stack.extend((child, depth + 1) for child in _children(node))


def variables(statements):
    """Free variable names in order of first use (names assigned earlier are not free)."""
    out, bound = [], set()

    def walk(node):
        if isinstance(node, Var):
            if node.name not in bound and node.name not in out:
                out.append(node.name)
        elif isinstance(node, Unary):
            walk(node.operand)
        elif isinstance(node, Binary):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Call):
            for a in node.args:
                walk(a)

    for st in statements:
        walk(st.expr)
        if st.name is not None:
            bound.add(st.name)
    return out


# ---------------------------------------------------------------------- --at values
def parse_assignments(text):
    """Parse ``x=-2,y=5,w=[2,-3],W=[[1,2],[3,4]]`` into ``{name: nested list or float}``.

    Values are numbers (optionally negative) or nested bracketed lists of them; commas
    inside brackets belong to the value.
    """
    source = text
    tokens = tokenize(text)
    pos = 0
    out = {}

    def err(message, tok):
        return ExpressionError(message, source, tok.col)

    def value(depth=0):
        nonlocal pos
        t = tokens[pos]
        if t.kind == "op" and t.text == "[":
            if depth >= MAX_NESTING:
                raise err(f"the value nests more than {MAX_NESTING} '[' deep", t)
            pos += 1
            items = []
            if tokens[pos].kind == "op" and tokens[pos].text == "]":
                raise err("empty list: give at least one number", tokens[pos])
            while True:
                items.append(value(depth + 1))
                t = tokens[pos]
                if t.kind == "op" and t.text == ",":
                    pos += 1
                    continue
                if t.kind == "op" and t.text == "]":
                    pos += 1
                    return items
                raise err(f"expected ',' or ']', found {t.describe()}", t)
        sign = 1.0
        while t.kind == "op" and t.text in "+-":
            sign = -sign if t.text == "-" else sign
            pos += 1
            t = tokens[pos]
        if t.kind == "num":
            pos += 1
            return sign * float(t.text)
        if t.kind == "name" and t.text.lower() in ("nan", "inf"):
            pos += 1
            return sign * float(t.text)
        raise err(f"expected a number or '[', found {t.describe()}", t)

    if tokens[0].kind == "end":
        raise ExpressionError("--at is empty: give values as NAME=VALUE,NAME=VALUE")
    while True:
        t = tokens[pos]
        if t.kind != "name":
            raise err(f"expected a variable name, found {t.describe()}", t)
        pos += 1
        eq = tokens[pos]
        if not (eq.kind == "op" and eq.text == "="):
            raise err(f"expected '=' after '{t.text}' (write {t.text}=VALUE)", eq)
        pos += 1
        if t.text in out:
            raise err(f"'{t.text}' is given twice", t)
        out[t.text] = value()
        t = tokens[pos]
        if t.kind == "end":
            return out
        if not (t.kind == "op" and t.text in ",;"):
            raise err(f"expected ',' between values, found {t.describe()}", t)
        pos += 1
