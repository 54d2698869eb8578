"""Discovery documents: `/version`, legacy `/api` and `/apis`, and aggregated discovery when asked.

Legacy shapes are the default because kopf sends `Accept: */*` and needs them; the aggregated
`APIGroupDiscoveryList` is returned only when the Accept header names it, with that exact Content-Type,
which cuts kubectl's discovery from a dozen requests to two (notes §3).
"""

from __future__ import annotations

from typing import Any

from kubeserve.api.kinds import Registry, ResourceKind

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUBRESOURCE_KINDS = {
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "log": (None, None, None, ("get",)),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "finalize": (None, None, None, ("update",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "proxy": ("", "v1", "NodeProxyOptions", ("get",)),
}


def version_info() -> dict[str, str]:
    # minor "32" makes the gcloud kubectl dispatcher pick kubectl 1.32 (notes §0.6).
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kubeserve",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def wants_aggregated(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(registry: Registry, group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in registry.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(registry, g) for g in registry.groups() if g],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    if group not in registry.groups() or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(registry, group)}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    kinds = registry.kinds_in(group, version)
    if not kinds:
        return None
    resources: list[dict[str, Any]] = []
    for k in kinds:
        resources.append({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": list(k.verbs),
            **({"shortNames": list(k.short_names)} if k.short_names else {}),
            **({"categories": list(k.categories)} if k.categories else {}),
            "storageVersionHash": "",
        })
        for sub in k.subresources:
            sub_group, sub_version, sub_kind, verbs = _subresource(k, sub)
            entry: dict[str, Any] = {
                "name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced,
                "kind": sub_kind, "verbs": list(verbs),
            }
            if sub_group is not None and (sub_group, sub_version) != (k.group, k.version):
                entry["group"], entry["version"] = sub_group, sub_version
            resources.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _subresource(kind: ResourceKind, sub: str) -> tuple[str | None, str | None, str, tuple[str, ...]]:
    if sub == "status":
        return None, None, kind.kind, ("get", "patch", "update")
    group, version, sub_kind, verbs = _SUBRESOURCE_KINDS[sub]
    return group, version, sub_kind or kind.kind, verbs


def aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    """`APIGroupDiscoveryList` for `/api` (core only) or `/apis` (every named group)."""
    items = []
    for group in registry.groups():
        if (group == "") != core:
            continue
        versions = []
        for version in registry.versions(group):
            resources = []
            for k in registry.kinds_in(group, version):
                entry: dict[str, Any] = {
                    "resource": k.plural,
                    "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
                    "scope": "Namespaced" if k.namespaced else "Cluster",
                    "singularResource": k.singular,
                    "verbs": list(k.verbs),
                }
                if k.short_names:
                    entry["shortNames"] = list(k.short_names)
                if k.categories:
                    entry["categories"] = list(k.categories)
                subs = []
                for sub in k.subresources:
                    sg, sv, skind, verbs = _subresource(k, sub)
                    subs.append({
                        "subresource": sub,
                        "responseKind": {"group": k.group if sg is None else sg,
                                         "version": k.version if sv is None else sv, "kind": skind},
                        "verbs": list(verbs),
                    })
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            versions.append({"version": version, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
