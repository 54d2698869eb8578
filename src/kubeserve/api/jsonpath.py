"""The Kubernetes JSONPath subset that CRD `additionalPrinterColumns` use, evaluated over plain dicts.

The apiserver evaluates each printer column's `jsonPath` against every custom resource when it builds a
Table (client-go `util/jsonpath` with missing keys allowed), so this module has to agree with it on
what matches, not only on the happy path: a missing key, an index out of range or a filter that
compares incompatible types yields no match rather than an error. Only malformed paths raise.

Supported: `.a.b`, `['a.b']`, `.a[0]`, `.a[-1]`, `.a[1:3]`, `.a[*]`, `.*`, `..name`,
`[?(@.type=='Ready')]`, `[?(@.latestRevision==true)]`, `[?(@.x)]` (exists), the comparison operators
`== != < > <= >=`, single or double quoted strings, numbers, `true`, `false` and `null` in filters, and
an optional `{...}` wrapper or leading `$`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["JSONPath", "compile_path", "evaluate"]


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Recursive:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    """`.*` (every element of a list or value of a map) and `[*]` (lists only, as in client-go)."""

    maps: bool


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None
    single: bool  # `[3]` rather than `[3:4]`


@dataclass(frozen=True)
class _Keys:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Filter:
    left: tuple[_Step, ...]
    op: str  # "exists" or a comparison operator
    right: tuple[_Step, ...] | _Literal | None


_Step: TypeAlias = _Field | _Recursive | _Wildcard | _Slice | _Keys | _Filter

_NAME_STOP = set(".[]()=!<>,@'\" \t\r\n{}")
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> ValueError:
        return ValueError(f"invalid JSONPath {self.text!r} at position {self.pos}: {what}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expect(self, s: str) -> None:
        if not self.text.startswith(s, self.pos):
            raise self.error(f"expected {s!r}")
        self.pos += len(s)

    def steps(self, *, in_filter: bool) -> tuple[_Step, ...]:
        out: list[_Step] = []
        while self.pos < len(self.text):
            c = self.peek()
            if c == ".":
                if self.peek(2) == "..":
                    self.pos += 2
                    out.append(_Recursive(self.name()))
                    continue
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    out.append(_Wildcard(maps=True))
                else:
                    out.append(_Field(self.name()))
            elif c == "[":
                self.pos += 1
                out.append(self.bracket())
            elif in_filter:
                break
            else:
                raise self.error(f"unexpected {c!r}")
        return tuple(out)

    def name(self) -> str:
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c in _NAME_STOP:
                break
            chars.append(c)
            self.pos += 1
        if not chars:
            raise self.error("expected a field name")
        return "".join(chars)

    def bracket(self) -> _Step:
        self.skip_space()
        c = self.peek()
        step: _Step
        if c == "*":
            self.pos += 1
            step = _Wildcard(maps=False)
        elif c == "?":
            self.pos += 1
            self.skip_space()
            self.expect("(")
            step = self.filter()
            self.skip_space()
            self.expect(")")
        elif c and c in "'\"":
            names = [self.string()]
            self.skip_space()
            while self.peek() == ",":
                self.pos += 1
                self.skip_space()
                names.append(self.string())
                self.skip_space()
            step = _Keys(tuple(names))
        else:
            step = self.slice()
        self.skip_space()
        self.expect("]")
        return step

    def slice(self) -> _Slice:
        parts: list[int | None] = []
        while True:
            self.skip_space()
            parts.append(self.integer())
            self.skip_space()
            if self.peek() != ":":
                break
            self.pos += 1
        if len(parts) > 3 or (len(parts) == 1 and parts[0] is None):
            raise self.error("expected an index, a slice, '*', a quoted key or a filter")
        if len(parts) == 1:
            return _Slice(parts[0], None, None, single=True)
        return _Slice(parts[0], parts[1], parts[2] if len(parts) == 3 else None, single=False)

    def integer(self) -> int | None:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        while self.peek().isdigit():
            self.pos += 1
        digits = self.text[start : self.pos]
        if digits in ("", "-"):
            self.pos = start
            return None
        return int(digits)

    def string(self) -> str:
        quote = self.peek()
        if not quote or quote not in "'\"":
            raise self.error("expected a quoted string")
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(chars)
            chars.append(c)
            self.pos += 1
        raise self.error("unterminated string")

    def operand(self) -> tuple[_Step, ...] | _Literal:
        self.skip_space()
        c = self.peek()
        if c == "@":
            self.pos += 1
            return self.steps(in_filter=True)
        if c and c in "'\"":
            return _Literal(self.string())
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in " \t)=!<>":
            self.pos += 1
        word = self.text[start : self.pos]
        keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
        if word in keywords:
            return _Literal(keywords[word])
        try:
            return _Literal(int(word))
        except ValueError:
            pass
        try:
            return _Literal(float(word))
        except ValueError:
            self.pos = start
            raise self.error(f"unrecognised filter operand {word!r}") from None

    def filter(self) -> _Filter:
        left = self.operand()
        if isinstance(left, _Literal):
            raise self.error("a filter must start with '@'")
        self.skip_space()
        op = next((o for o in _COMPARISONS if self.text.startswith(o, self.pos)), None)
        if op is None:
            return _Filter(left, "exists", None)
        self.pos += len(op)
        return _Filter(left, op, self.operand())


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compare(left: Any, op: str, right: Any) -> bool | None:
    """Compare like client-go's template functions: None when the types cannot be compared."""
    if (_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return _ORDER[op](left, right)
    if (isinstance(left, bool) and isinstance(right, bool)) or (left is None and right is None):
        return _ORDER[op](left, right) if op in ("==", "!=") else None
    return None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    ">": lambda a, b: bool(a > b),
    "<=": lambda a, b: bool(a <= b),
    ">=": lambda a, b: bool(a >= b),
}


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _recurse(value: Any, name: str, out: list[Any]) -> None:
    if isinstance(value, dict) and name in value:
        out.append(value[name])
    for child in _children(value):
        _recurse(child, name, out)


def _slice(value: list[Any], s: _Slice) -> list[Any]:
    if s.single:
        index = s.start if s.start is not None else 0
        if index < 0:
            index += len(value)
        return [value[index]] if 0 <= index < len(value) else []
    if s.step == 0:
        return []
    return value[s.start : s.stop : s.step]


def _apply(steps: Sequence[_Step], values: list[Any]) -> list[Any]:
    for step in steps:
        nxt: list[Any] = []
        for value in values:
            if isinstance(step, _Field):
                if isinstance(value, dict) and step.name in value:
                    nxt.append(value[step.name])
            elif isinstance(step, _Keys):
                if isinstance(value, dict):
                    nxt.extend(value[k] for k in step.names if k in value)
            elif isinstance(step, _Wildcard):
                if step.maps or isinstance(value, list):
                    nxt.extend(_children(value))
            elif isinstance(step, _Recursive):
                _recurse(value, step.name, nxt)
            elif isinstance(step, _Slice):
                if isinstance(value, list):
                    nxt.extend(_slice(value, step))
            elif isinstance(value, list):
                nxt.extend(item for item in value if _passes(step, item))
        values = nxt
    return values


def _passes(f: _Filter, item: Any) -> bool:
    lefts = _apply(f.left, [item])
    if f.op == "exists":
        return bool(lefts)
    if len(lefts) != 1:
        return False
    if isinstance(f.right, _Literal):
        right = f.right.value
    else:
        rights = _apply(f.right or (), [item])
        if len(rights) != 1:
            return False
        right = rights[0]
    return _compare(lefts[0], f.op, right) is True


@dataclass(frozen=True)
class JSONPath:
    """A parsed path; `evaluate` returns every match in document order (empty when nothing matches)."""

    source: str
    steps: tuple[_Step, ...]

    def evaluate(self, obj: Any) -> list[Any]:
        return _apply(self.steps, [obj])


@functools.lru_cache(maxsize=512)
def compile_path(path: str) -> JSONPath:
    """Parse `path` once (cached); raises ValueError on bad syntax."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if not text:
        raise ValueError(f"invalid JSONPath {path!r}: empty path")
    if not text.startswith((".", "[")):
        raise ValueError(f"invalid JSONPath {path!r}: a path must start with '.' or '['")
    parser = _Parser(text)
    steps = parser.steps(in_filter=False)
    return JSONPath(path, steps)


def evaluate(path: str, obj: Any) -> list[Any]:
    """Every value `path` selects in `obj`; [] when nothing matches, ValueError when `path` is malformed."""
    return compile_path(path).evaluate(obj)
