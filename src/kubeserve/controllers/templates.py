"""KServe's Go-template placeholders in a ServingRuntime's containers, filled from the InferenceService.

A runtime is shared by many InferenceServices, so KServe lets its container say `--served-model-name={{.Name}}`
and fills it in per InferenceService: every string of the merged `kserve-container` that holds both `{{` and
`}}` is executed as a Go `text/template` against the InferenceService's ObjectMeta
(pkg/controller/v1beta1/inferenceservice/utils/placeholder.go). kubeserve evaluates the subset of Go's
template language that such placeholders use, with Go's own results:

- `{{.Name}}`, `{{.Namespace}}`, `{{.UID}}`, `{{.Generation}}`, `{{.GenerateName}}`, `{{.ResourceVersion}}`;
- `{{.Labels.key}}` / `{{.Annotations.key}}` (a key Go can spell as a field; a missing key prints
  `<no value>`, as Go prints a missing map key reached as a field);
- `{{index .Labels "app.kubernetes.io/name"}}` / `{{index .Annotations "…"}}` (a missing key prints "",
  as Go's `index` returns the zero value);
- `{{- … -}}` whitespace trimming and `{{/* comments */}}`.

Anything else (pipelines, functions, unknown fields) is a `PlaceholderError`, as Go's template would fail to
parse or execute it; KServe reports that as the InferenceService's `InvalidPredictorSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubeserve.client import Obj

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_FIELD = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?$")
_INDEX = re.compile(r'^index\s+\.(Labels|Annotations)\s+"((?:[^"\\]|\\.)*)"$')
_COMMENT = re.compile(r"^/\*.*\*/$", re.DOTALL)

# ObjectMeta's fields as Go names them, and where they live in the object's metadata.
_SCALARS = {"Name": "name", "Namespace": "namespace", "UID": "uid", "GenerateName": "generateName",
            "ResourceVersion": "resourceVersion", "Generation": "generation"}
_MAPS = {"Labels": "labels", "Annotations": "annotations"}
_NO_VALUE = "<no value>"


class PlaceholderError(ValueError):
    """A `{{…}}` in a runtime container that Go's template engine would refuse."""


def replace_placeholders(text: str, isvc: Obj) -> str:
    """`text` with each `{{…}}` placeholder filled from the InferenceService's metadata."""
    if "{{" not in text or "}}" not in text:
        return text  # KServe executes only strings holding both delimiters
    meta = isvc.get("metadata") or {}
    out: list[str] = []
    position = 0
    for match in _ACTION.finditer(text):
        literal = text[position:match.start()]
        if match.group(1):
            literal = literal.rstrip()
        out.append(literal)
        if "{{" in literal:
            raise PlaceholderError(f"unclosed action in {text!r}")
        out.append(_evaluate(match.group(2).strip(), meta, text))
        position = match.end()
        if match.group(3):
            rest = text[position:]
            position += len(rest) - len(rest.lstrip())
    tail = text[position:]
    if "{{" in tail:
        raise PlaceholderError(f"unclosed action in {text!r}")
    out.append(tail)
    return "".join(out)


def replace_in(value: Any, isvc: Obj) -> Any:
    """`value` (a container, or any part of one) with placeholders filled in every string it holds."""
    if isinstance(value, str):
        return replace_placeholders(value, isvc)
    if isinstance(value, Mapping):
        return {key: replace_in(item, isvc) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_in(item, isvc) for item in value]
    return value


def _evaluate(action: str, meta: Mapping[str, Any], text: str) -> str:
    if _COMMENT.match(action):
        return ""
    field = _FIELD.match(action)
    if field:
        name, key = field.group(1), field.group(2)
        if name in _SCALARS and key is None:
            return _go_string(meta.get(_SCALARS[name]), name)
        if name in _MAPS:
            values = meta.get(_MAPS[name]) or {}
            if key is None:
                return _go_map(values)
            return str(values[key]) if key in values else _NO_VALUE
        if name in _SCALARS:
            raise PlaceholderError(f"{{{{{action}}}}} in {text!r}: {name} is a string and has no field {key}")
        raise PlaceholderError(f"{{{{{action}}}}} in {text!r}: ObjectMeta has no field {name} (use .Name, "
                               ".Namespace, .Labels.<key>, .Annotations.<key> or index .Labels \"<key>\")")
    index = _INDEX.match(action)
    if index:
        values = meta.get(_MAPS[index.group(1)]) or {}
        key = re.sub(r"\\(.)", r"\1", index.group(2))
        return str(values.get(key, ""))
    raise PlaceholderError(f"{{{{{action}}}}} in {text!r} is not a placeholder kubeserve understands "
                           "(use {{.Name}}, {{.Namespace}}, {{.Labels.<key>}}, {{.Annotations.<key>}} or "
                           "{{index .Annotations \"<key>\"}})")


def _go_string(value: Any, name: str) -> str:
    if value is None:
        return "0" if name == "Generation" else ""  # Go prints a struct field's zero value
    return str(value)


def _go_map(values: Mapping[str, Any]) -> str:
    return "map[" + " ".join(f"{key}:{values[key]}" for key in sorted(values)) + "]"
