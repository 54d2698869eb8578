"""KServe's Go-template placeholders, filled from an InferenceService's metadata with Go's own results."""

from __future__ import annotations

import pytest

from kubeserve.controllers.templates import PlaceholderError, replace_in, replace_placeholders

ISVC = {
    "metadata": {
        "name": "granite-model",
        "namespace": "models",
        "uid": "1234-abcd",
        "generation": 3,
        "labels": {"team": "ml", "app.kubernetes.io/name": "granite"},
        "annotations": {"openshift.io/display-name": "Granite 3.1", "owner": "alice"},
    }
}


@pytest.mark.parametrize(("text", "expected"), [
    ("--served-model-name={{.Name}}", "--served-model-name=granite-model"),
    ("{{ .Name }}", "granite-model"),
    ("{{.Namespace}}/{{.Name}}", "models/granite-model"),
    ("{{.UID}}", "1234-abcd"),
    ("gen-{{.Generation}}", "gen-3"),
    ("{{.Labels.team}}", "ml"),
    ("{{.Annotations.owner}}", "alice"),
    ('{{index .Labels "app.kubernetes.io/name"}}', "granite"),
    ('{{ index .Annotations "openshift.io/display-name" }}', "Granite 3.1"),
    # Go prints a missing map key reached as a field as <no value>, and index gives the zero value.
    ("{{.Labels.missing}}", "<no value>"),
    ('{{index .Labels "missing"}}', ""),
    ("{{.Labels}}", "map[app.kubernetes.io/name:granite team:ml]"),
    ("a {{- .Name -}} b", "agranite-modelb"),
    ("x{{/* a comment */}}y", "xy"),
    # Only strings holding both delimiters are templates.
    ("--model=/mnt/models", "--model=/mnt/models"),
    ("{{ no close", "{{ no close"),
    ("only }} close", "only }} close"),
    ("", ""),
])
def test_placeholders(text: str, expected: str) -> None:
    assert replace_placeholders(text, ISVC) == expected


@pytest.mark.parametrize("text", [
    "{{.Spec}}",                      # ObjectMeta has no such field
    "{{.Name.first}}",                # a string has no fields
    "{{ .Name | printf \"%s\" }}",    # pipelines are not placeholders
    "{{ .Name }} and {{ .Name",        # unclosed action
    "{{ }}",                          # empty action
    '{{index .Spec "x"}}',
])
def test_placeholders_go_would_refuse(text: str) -> None:
    with pytest.raises(PlaceholderError):
        replace_placeholders(text, ISVC)


def test_missing_metadata_gives_go_zero_values() -> None:
    bare = {"metadata": {"name": "m"}}
    assert replace_placeholders("{{.Namespace}}|{{.Generation}}|{{index .Labels \"a\"}}", bare) == "|0|"


def test_replace_in_fills_every_string_of_a_container() -> None:
    container = {
        "name": "kserve-container",
        "command": ["python", "-m", "server", "--name={{.Name}}"],
        "args": ["--served-model-name={{.Name}}", "--port=8080"],
        "env": [{"name": "NS", "value": "{{.Namespace}}"}, {"name": "PORT", "value": "8080"}],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
        "ports": [{"containerPort": 8080}],
    }
    out = replace_in(container, ISVC)
    assert out["command"][-1] == "--name=granite-model"
    assert out["args"] == ["--served-model-name=granite-model", "--port=8080"]
    assert out["env"][0] == {"name": "NS", "value": "models"}
    assert out["ports"] == [{"containerPort": 8080}]
    assert container["args"][0] == "--served-model-name={{.Name}}"  # the input is not modified
