"""Parsing a request URL into what it addresses (the apiserver's RequestInfo), and its query options.

Pure functions: the handlers call these first and then deal only in `RequestInfo` and `ListOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeserve.api import errors
from kubeserve.api.kinds import Registry, ResourceKind


@dataclass(frozen=True)
class RequestInfo:
    kind: ResourceKind
    namespace: str  # "" for cluster-scoped kinds and for all-namespaces collections
    name: str  # "" for collections
    subresource: str  # "" for the main resource
    proxy_path: str = ""  # what follows `nodes/{name}/proxy/`, for the node proxy

    @property
    def is_collection(self) -> bool:
        return not self.name


def parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool, which is what real clients' spellings assume (`watch=True`, `1`)."""
    if value is None:
        return False
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("", "0", "f", "F", "FALSE", "false", "False"):
        return False
    raise errors.BadRequest(f"invalid boolean value {value!r}: use true or false")


def parse_resource_path(registry: Registry, path: str) -> RequestInfo:
    """Resolve `/api/v1/...` or `/apis/G/V/...` to a kind, namespace, name and subresource.

    Raises NotFound with the apiserver's wording for anything that is not a served resource.
    """
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found()
    if not rest:
        raise _not_found()

    namespace = ""
    # `namespaces/{ns}/{plural}...` is a scope prefix only when a resource follows that is not one of
    # the Namespace kind's own subresources; `/api/v1/namespaces/x/status` is the Namespace status.
    scoped = rest[0] == "namespaces" and len(rest) >= 3
    if scoped and (group != "" or rest[2] not in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]

    plural = rest[0]
    kind = registry.by_resource(group, version, plural)
    if kind is None:
        raise _not_found()
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    proxy_path = ""
    if subresource == "proxy" and kind.kind == "Node":
        proxy_path, rest = "/".join(rest[3:]), rest[:3]
    if len(rest) > 3:
        raise _not_found()
    if namespace and not kind.namespaced:
        raise _not_found()
    if subresource and subresource not in kind.subresources:
        raise _not_found()
    if kind.namespaced and name and not namespace:
        raise _not_found()
    return RequestInfo(kind=kind, namespace=namespace, name=name, subresource=subresource, proxy_path=proxy_path)


def _not_found() -> errors.NotFound:
    return errors.NotFound("the server could not find the requested resource")


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    watch: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    timeout_seconds: int | None = None
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    limit: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListOptions:
        timeout = query.get("timeoutSeconds")
        send_initial = query.get("sendInitialEvents")
        limit = query.get("limit")
        try:
            timeout_seconds = int(timeout) if timeout not in (None, "") else None
            limit_value = int(limit) if limit not in (None, "") else 0
        except ValueError as exc:
            raise errors.BadRequest(f"invalid integer query parameter: {exc}") from exc
        return cls(
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            watch=parse_bool(query.get("watch")),
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=query.get("resourceVersionMatch", ""),
            timeout_seconds=timeout_seconds,
            allow_bookmarks=parse_bool(query.get("allowWatchBookmarks")),
            send_initial_events=None if send_initial is None else parse_bool(send_initial),
            limit=limit_value,
        )


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict, Warn, Ignore (the apiserver's default is Warn)
    force: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> WriteOptions:
        dry_run_values = [v for k, v in _multi(query, "dryRun")]
        for value in dry_run_values:
            if value != "All":
                raise errors.BadRequest(f'unsupported dryRun value {value!r}: the only supported value is "All"')
        validation = query.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.BadRequest(
                f'fieldValidation must be one of "Strict", "Warn" or "Ignore", not {validation!r}'
            )
        return cls(
            dry_run=bool(dry_run_values),
            field_manager=query.get("fieldManager", ""),
            field_validation=validation,
            force=parse_bool(query.get("force")),
        )


def _multi(query: Mapping[str, str], key: str) -> list[tuple[str, str]]:
    getall = getattr(query, "getall", None)
    if getall is not None:
        return [(key, v) for v in getall(key, [])]
    return [(key, query[key])] if key in query else []
