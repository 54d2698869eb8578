"""Schema validation and pruning of objects against `kubeserve.api.schemas`, worded as the apiserver words it.

`validate(kind, obj)` walks the object along the kind's structural schema and returns a `Validation`:

* `errors`: one `Cause` per problem, with the reason and message of the apiserver's field errors
  (CRD schema validation via kube-openapi, plus `ValidateObjectMeta` for names, labels and annotations):
  `Invalid value: "string": spec.predictor.minReplicas in body must be of type integer: "string"`,
  `Required value`, `Unsupported value: "x": supported values: "edge", "passthrough", "reencrypt"`, ...
* `unknown_fields`: paths such as `spec.predictor.foo` or `spec.containers[0].imagee` that the schema does
  not know (nothing is reported under `x-kubernetes-preserve-unknown-fields`). The API server turns these
  into a strict-decoding error (fieldValidation=Strict), warnings (Warn) or nothing (Ignore).

`prune(kind, obj)` returns a copy without the unknown fields (and without nulls at known fields), which is
what the apiserver stores. Both take plain JSON data (dicts, lists, str, int, float, bool, None).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import Cause
from .kinds import ResourceKind
from .schemas import schema_for
from .schemas._build import INT_OR_STRING, PRESERVE, QUANTITY_PATTERN, Schema

INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"


@dataclass(frozen=True)
class Validation:
    """The outcome of `validate`: field errors (422 Invalid) and unknown field paths (strict decoding)."""

    errors: tuple[Cause, ...] = ()
    unknown_fields: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def go_value(value: Any) -> str:
    """A bad value as `field.Error` prints it: strings quoted, numbers and booleans bare."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_type(value: Any) -> str:
    """The OpenAPI type name of a JSON value, as kube-openapi reports it in type errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_ok(expected: str, value: Any) -> bool:
    actual = json_type(value)
    if actual == expected:
        return True
    if expected == "number":
        return actual == "integer"
    return expected == "integer" and actual == "number" and float(value).is_integer()


class _Walker:
    def __init__(self) -> None:
        self.errors: list[Cause] = []
        self.unknown: list[str] = []

    def invalid(self, field: str, value: Any, detail: str, reason: str = INVALID) -> None:
        self.errors.append(Cause(reason, f"Invalid value: {go_value(value)}: {detail}", field))

    def type_error(self, field: str, path: str, expected: str, value: Any) -> None:
        actual = json_type(value)
        detail = f'{path} in body must be of type {expected}: "{actual}"'
        self.errors.append(Cause(TYPE_INVALID, f'Invalid value: "{actual}": {detail}', field))

    def value(self, schema: Schema, value: Any, path: str, field: str | None = None) -> None:
        """Check `value` at `path`; errors name `field` (a map's path for its values) or `path`."""
        if value is None:
            return  # the apiserver drops nulls of non-nullable fields before validating
        where = field if field is not None else path
        if schema.get(INT_OR_STRING):
            self._int_or_string(schema, value, path, where)
            return
        expected = schema.get("type")
        if isinstance(expected, str) and not _type_ok(expected, value):
            self.type_error(where, path, expected, value)
            return
        if isinstance(value, dict):
            self._object(schema, value, path)
        elif isinstance(value, list):
            self._array(schema, value, path, where)
        else:
            self._scalar(schema, value, path, where)

    def _int_or_string(self, schema: Schema, value: Any, path: str, where: str) -> None:
        quantity = schema.get("pattern") is QUANTITY_PATTERN
        allowed = (str, int, float) if quantity else (str, int)
        if isinstance(value, bool) or not isinstance(value, allowed):
            self.type_error(where, path, "integer,string", value)
            return
        self._scalar(schema, value if isinstance(value, str) or not quantity else str(value), path, where)

    def _object(self, schema: Schema, value: dict[str, Any], path: str) -> None:
        props: dict[str, Schema] = schema.get("properties") or {}
        for name in schema.get("required", ()):
            if value.get(name) is None and "default" not in props.get(name, {}):
                self.errors.append(Cause(REQUIRED, "Required value", _child(path, name)))
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key)
            if sub is not None:
                self.value(sub, item, _child(path, key))
            elif isinstance(extra, dict):
                self.value(extra, item, _child(path, key), field=path)
            elif not schema.get(PRESERVE) and extra is not True:
                self.unknown.append(_child(path, key))

    def _array(self, schema: Schema, value: list[Any], path: str, where: str) -> None:
        max_items, min_items = schema.get("maxItems"), schema.get("minItems")
        if max_items is not None and len(value) > max_items:
            self.errors.append(
                Cause(TOO_MANY, f"Too many: {len(value)}: must have at most {max_items} items", where)
            )
        if min_items is not None and len(value) < min_items:
            self.invalid(where, value, f"{path} in body should have at least {min_items} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                self.value(items, item, f"{path}[{i}]")

    def _scalar(self, schema: Schema, value: Any, path: str, where: str) -> None:
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            supported = ", ".join(json.dumps(str(v), ensure_ascii=False) for v in enum)
            self.errors.append(
                Cause(
                    NOT_SUPPORTED,
                    f"Unsupported value: {go_value(value)}: supported values: {supported}",
                    where,
                )
            )
            return
        if isinstance(value, str):
            max_len, min_len = schema.get("maxLength"), schema.get("minLength")
            if max_len is not None and len(value.encode()) > max_len:
                unit = "byte" if max_len == 1 else "bytes"
                self.errors.append(Cause(TOO_LONG, f"Too long: may not be more than {max_len} {unit}", where))
            if min_len is not None and len(value) < min_len:
                self.invalid(where, value, f"{path} in body should be at least {min_len} chars long")
            pattern = schema.get("pattern")
            if pattern is not None and not re.search(pattern, value):
                self.invalid(where, value, f"{path} in body should match '{pattern}'")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None and value < low:
                self.invalid(where, value, f"{path} in body should be greater than or equal to {low}")
            if high is not None and value > high:
                self.invalid(where, value, f"{path} in body should be less than or equal to {high}")


# ---- ObjectMeta: names, labels, annotations (apimachinery ValidateObjectMeta) ------------------------

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = _DNS_LABEL + r"(\." + _DNS_LABEL + r")*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not re.fullmatch(_DNS_SUBDOMAIN, value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric "
                "character",
                _DNS_SUBDOMAIN,
                "example.com",
            )
        )
    return errs


def dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_DNS_LABEL, value):
        if re.fullmatch(_DNS_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            errs.append(
                _regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character",
                    _DNS_LABEL,
                    "my-name",
                    "123-abc",
                )
            )
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_DNS1035_LABEL, value):
        errs.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL,
                "my-name",
                "abc-123",
            )
        )
    return errs


def qualified_name(value: str) -> list[str]:
    """`IsQualifiedName`: label and annotation keys, `[prefix/]name`."""
    name_msg = (
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character"
    )
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(name_msg, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        errs += (
            ["prefix part must be non-empty"]
            if not prefix
            else ["prefix part " + m for m in dns1123_subdomain(prefix)]
        )
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not re.fullmatch(_QUALIFIED_NAME, name):
        errs.append("name part " + _regex_error(name_msg, _QUALIFIED_NAME, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not re.fullmatch(_LABEL_VALUE, value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def _name_rule(kind: ResourceKind) -> Any:
    if kind.group == "" and kind.kind == "Namespace":
        return dns1123_label
    if kind.group == "" and kind.kind == "Service":
        return dns1035_label
    return dns1123_subdomain


def _validate_meta(kind: ResourceKind, meta: Any, walker: _Walker) -> None:
    if not isinstance(meta, dict):
        if meta is None:
            walker.errors.append(
                Cause(REQUIRED, "Required value: name or generateName is required", "metadata.name")
            )
        return
    name = meta.get("name")
    if isinstance(name, str) and name:
        for msg in _name_rule(kind)(name):
            walker.invalid("metadata.name", name, msg)
    elif name is None and not meta.get("generateName"):
        walker.errors.append(
            Cause(REQUIRED, "Required value: name or generateName is required", "metadata.name")
        )
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, val in labels.items():
            for msg in qualified_name(key):
                walker.invalid("metadata.labels", key, msg)
            for msg in label_value(val) if isinstance(val, str) else ():
                walker.invalid("metadata.labels", val, msg)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            for msg in qualified_name(key.lower()):
                walker.invalid("metadata.annotations", key, msg)


def validate(kind: ResourceKind, obj: dict[str, Any]) -> Validation:
    """Check a whole object of `kind` against its schema and the ObjectMeta rules."""
    walker = _Walker()
    if not isinstance(obj, dict):
        walker.type_error("", "body", "object", obj)
        return Validation(tuple(walker.errors))
    walker.value(schema_for(kind), obj, "")
    _validate_meta(kind, obj.get("metadata"), walker)
    pod_spec, where = _pod_spec(kind, obj)
    if pod_spec is not None:
        _validate_pod_names(pod_spec, where, walker)
    return Validation(tuple(walker.errors), tuple(walker.unknown))


# Where a kind carries a PodSpec: container and volume names become file and directory names on the node, so
# they must be DNS-1123 labels, as Kubernetes requires.
_POD_SPEC_PATHS = {"Pod": ("spec",), "Deployment": ("spec", "template", "spec"),
                   "ReplicaSet": ("spec", "template", "spec")}


def _pod_spec(kind: ResourceKind, obj: dict[str, Any]) -> tuple[Any, str]:
    path = _POD_SPEC_PATHS.get(kind.kind) if kind.group in ("", "apps") else None
    value: Any = obj
    for key in path or ():
        value = value.get(key) if isinstance(value, dict) else None
    return (value if path and isinstance(value, dict) else None), ".".join(path or ())


def _validate_pod_names(spec: dict[str, Any], where: str, walker: _Walker) -> None:
    for field in ("initContainers", "containers", "volumes"):
        for index, item in enumerate(spec.get(field) or []):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                for message in dns1123_label(name):
                    walker.invalid(f"{where}.{field}[{index}].name", name, message)


def _prune(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = bool(schema.get(PRESERVE)) or extra is True
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                if item is not None:
                    out[key] = _prune(sub, item)
            elif keep:
                out[key] = _copy(item)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [_prune(items, v) if isinstance(items, dict) else _copy(v) for v in value]
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def prune(kind: ResourceKind, obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `obj` without the fields its schema does not know (and nulls at known fields)."""
    pruned = _prune(schema_for(kind), obj)
    return pruned if isinstance(pruned, dict) else {}
