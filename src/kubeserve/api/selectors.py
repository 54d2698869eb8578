"""Label and field selectors, parsed and matched the way apimachinery does it.

`labelSelector` and `fieldSelector` arrive on every list and watch (kubectl `-l`, `kubectl wait`,
`kubectl describe`'s event lookup, kopf, the MCP server), and Deployments, ReplicaSets and Services
carry selectors of their own. Parsing follows `k8s.io/apimachinery/pkg/labels` (same tokens, same
value rules, same error wording) so that a bad selector is a 400 a client recognises, and `str()`
renders the canonical form (requirements sorted by key, `in (a,b)` values sorted) that printers and
error messages show. Field selectors follow `pkg/fields`: comma-separated `field=value`,
`field==value` or `field!=value` terms over dotted paths; the field's value is compared as a string,
and a missing field compares as "".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeserve.api.errors import BadRequest

__all__ = ["FieldRequirement", "FieldSelector", "LabelSelector", "Requirement"]

# --------------------------------------------------------------------------------------------------
# Validation (apimachinery util/validation: qualified names and label values)

_NAME_FMT = "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(f"^{_NAME_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
    "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN_RE.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return _NAME_MSG
    return None


def _check_key(key: str) -> None:
    problem = _key_problem(key)
    if problem:
        raise ValueError(f'key: Invalid value: "{key}": {problem}')


def _check_value(index: int, value: str) -> None:
    if len(value) > 63:
        raise ValueError(f'values[{index}]: Invalid value: "{value}": must be no more than 63 characters')
    if not _VALUE_RE.match(value):
        raise ValueError(f'values[{index}]: Invalid value: "{value}": {_VALUE_MSG}')


# --------------------------------------------------------------------------------------------------
# Label selectors

_OPERATORS = ("in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt")
_BINARY = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term. `operator` is one of in, notin, =, ==, !=, exists, !, gt, lt."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """Validate like `labels.NewRequirement`; raises ValueError with the apimachinery wording."""
        vals = tuple(sorted(set(values)))
        _check_key(key)
        problem = ""
        if operator in ("in", "notin"):
            problem = "" if vals else "for 'in', 'notin' operators, values set can't be empty"
        elif operator in ("=", "==", "!="):
            problem = "" if len(vals) == 1 else "exact-match compatibility requires one single value"
        elif operator in ("exists", "!"):
            problem = "values set must be empty for exists and does not exist" if vals else ""
        elif operator in ("gt", "lt"):
            if len(vals) != 1 or not re.fullmatch(r"[-+]?\d+", vals[0]):
                problem = "for 'Gt', 'Lt' operators, the value must be an integer"
        else:
            raise ValueError(f'operator: Unsupported value: "{operator}": supported values: {_OPERATORS}')
        if problem:
            raise ValueError(f"values: Invalid value: {list(vals)}: {problem}")
        if operator not in ("gt", "lt"):
            for i, v in enumerate(vals):
                _check_value(i, v)
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("in", "=", "=="):
            return self.key in labels and labels[self.key] in self.values
        if op in ("notin", "!="):
            return self.key not in labels or labels[self.key] not in self.values
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except (KeyError, ValueError):
            return False
        return have > want if op == "gt" else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        rendered = {"in": " in ", "notin": " notin ", "gt": ">", "lt": "<"}.get(op, op)
        joined = ",".join(self.values)
        if op in ("in", "notin"):
            return f"{self.key}{rendered}({joined})"
        return f"{self.key}{rendered}{joined}"


_SPECIAL = set("=!(),<>")
_WHITESPACE = set(" \t\r\n")


def _tokens(text: str) -> list[str]:
    """Split like the apimachinery lexer: operators, parentheses, commas and identifiers; "" ends."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif c in _SPECIAL:
            two = text[i : i + 2]
            if two in ("==", "!="):
                out.append(two)
                i += 2
            else:
                out.append(c)
                i += 1
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
                j += 1
            out.append(text[i:j])
            i = j
    out.append("")
    return out


def _is_identifier(tok: str) -> bool:
    return bool(tok) and tok[0] not in _SPECIAL


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> str:
        return self.toks[self.pos]

    def take(self) -> str:
        tok = self.toks[self.pos]
        if self.pos < len(self.toks) - 1:
            self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok = self.peek()
            if tok == "":
                return reqs
            if not (_is_identifier(tok) or tok == "!"):
                raise ValueError(f"found '{tok}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except ValueError as e:
                raise ValueError(f"unable to parse requirement: {e}") from None
            tok = self.take()
            if tok == "":
                return reqs
            if tok != ",":
                raise ValueError(f"found '{tok}', expected: ',' or 'end of string'")
            nxt = self.peek()
            if not (_is_identifier(nxt) or nxt == "!"):
                raise ValueError(f"found '{nxt}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok = self.take()
        negated = tok == "!"
        if negated:
            tok = self.take()
        if not _is_identifier(tok):
            raise ValueError(f"found '{tok}', expected: identifier")
        key = tok
        _check_key(key)
        if negated or self.peek() in ("", ","):
            # `!key` is unary: whatever follows it is the caller's to reject.
            return Requirement.new(key, "!" if negated else "exists")
        op = self.take()
        if op in ("in", "notin"):
            return Requirement.new(key, op, self.values())
        if op in ("=", "==", "!=", ">", "<"):
            value = self.exact_value()
            return Requirement.new(key, {">": "gt", "<": "lt"}.get(op, op), [value])
        raise ValueError(f"found '{op}', expected: {_BINARY}")

    def exact_value(self) -> str:
        if self.peek() in ("", ","):
            return ""
        tok = self.take()
        if _is_identifier(tok):
            return tok
        raise ValueError(f"found '{tok}', expected: identifier")

    def values(self) -> list[str]:
        tok = self.take()
        if tok != "(":
            raise ValueError(f"found '{tok}' expected: '('")
        values: list[str] = []
        if self.peek() == ")":
            self.take()
            return [""]
        while True:
            tok = self.take()
            if _is_identifier(tok):
                values.append(tok)
                nxt = self.take()
                if nxt == ")":
                    return values
                if nxt != ",":
                    raise ValueError(f"found '{nxt}', expected: ',' or ')'")
                if self.peek() == ")":
                    self.take()
                    return [*values, ""]
            elif tok == ",":
                values.append("")
                if self.peek() == ")":
                    self.take()
                    return values
            else:
                raise ValueError(f"found '{tok}', expected: ',', ')' or identifier")


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of label requirements. `nothing` is the selector that matches no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the `labelSelector` query syntax; raises `errors.BadRequest` when it is malformed."""
        if not text or not text.strip():
            return cls()
        try:
            reqs = _LabelParser(text).parse()
        except ValueError as e:
            raise BadRequest(str(e)) from None
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Convert a `metav1.LabelSelector` (matchLabels + matchExpressions), as LabelSelectorAsSelector does.

        None selects nothing and {} selects everything, exactly like Kubernetes.
        """
        if selector is None:
            return cls(nothing=True)
        reqs: list[Requirement] = []
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        try:
            for key, value in (selector.get("matchLabels") or {}).items():
                reqs.append(Requirement.new(str(key), "=", [str(value)]))
            for expr in selector.get("matchExpressions") or []:
                operator = str(expr.get("operator", ""))
                if operator not in ops:
                    raise ValueError(f'"{operator}" is not a valid label selector operator')
                values = [str(v) for v in expr.get("values") or []]
                reqs.append(Requirement.new(str(expr.get("key", "")), ops[operator], values))
        except ValueError as e:
            raise BadRequest(str(e)) from None
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """True when the selector matches every object."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# --------------------------------------------------------------------------------------------------
# Field selectors

# Field labels whose value is not at the dotted path of the same name.
_FIELD_ALIASES: dict[tuple[str, str], str] = {
    ("Event", "source"): "source.component",
}


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if c == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    terms.append("".join(current))
    return terms


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: {value[i : i + 2]}")
            out.append(value[i + 1])
            i += 2
            continue
        if c in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {c}")
        out.append(c)
        i += 1
    return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _field_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return repr(value)  # maps and lists never equal a selector value


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string a field selector compares for `field` on `obj` ("" when the path is missing)."""
    path = _FIELD_ALIASES.get((str(obj.get("kind", "")), field), field)
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return ""
        cur = cur[part]
    return _field_string(cur)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" (also for "=="), or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.field) == self.value
        return equal if self.operator == "=" else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{_escape(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of `field=value` / `field!=value` terms over an object's dotted paths."""

    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the `fieldSelector` query syntax; raises `errors.BadRequest` when it is malformed."""
        if not text or not text.strip():
            return cls()
        reqs: list[FieldRequirement] = []
        for term in sorted(t.strip() for t in _split_terms(text)):
            if not term:
                continue
            match = re.search(r"!=|==|=", term)
            if match is None:
                raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
            field = term[: match.start()].strip()
            if not field:
                raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
            try:
                value = _unescape(term[match.end() :].strip())
            except ValueError as e:
                raise BadRequest(str(e)) from None
            reqs.append(FieldRequirement(field, "!=" if match.group() == "!=" else "=", value))
        return cls(tuple(reqs))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def exact(self, field: str) -> str | None:
        """The value `field` must equal, if the selector pins it (for index lookups such as metadata.name)."""
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)
