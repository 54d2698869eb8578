"""Kubernetes object semantics over the revisioned store: the apiserver's generic registry.

Everything an object write means beyond "store these bytes" lives here, independent of HTTP: server-owned
metadata (uid, creationTimestamp, generation, managedFields), status subresources, optimistic concurrency,
no-op detection, finalizers and deletionTimestamp, namespace lifecycle checks, validation and admission,
dry runs. The HTTP handlers decode requests into calls on `Objects`; the garbage collector uses it too.
"""

from __future__ import annotations

import builtins
import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeserve.api import admission, defaults, errors, validation
from kubeserve.api.apply import record_update, server_side_apply
from kubeserve.api.fieldsets import json_copy
from kubeserve.api.kinds import Registry, ResourceKind
from kubeserve.api.names import generate_name_suffix
from kubeserve.api.patch import json_patch, merge_patch, strategic_merge_patch
from kubeserve.api.selectors import FieldSelector, LabelSelector
from kubeserve.apiserver import allocators
from kubeserve.apiserver.request import WriteOptions
from kubeserve.store import Key, KeyExists, KeyNotFound, RevisionConflict, Store

Obj = dict[str, Any]

# Metadata the server owns: what a client sends for these is ignored on update.
_SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")

PATCH_JSON = "application/json-patch+json"
PATCH_MERGE = "application/merge-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC, PATCH_APPLY)


@dataclass
class WriteResult:
    object: Obj
    warnings: list[str] = field(default_factory=list)
    created: bool = False
    deleted: bool = False  # removed from the store (not just marked for deletion)


def now_rfc3339(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Objects:
    """Create, read, update, patch and delete objects of any served kind with Kubernetes semantics."""

    def __init__(
        self, store: Store, registry: Registry, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        service_network: ipaddress.IPv4Network = allocators.SERVICE_RANGE, route_domain: str = "apps.localhost",
    ) -> None:
        self.store = store
        self.service_network = service_network
        self.route_domain = route_domain
        self.registry = registry
        self.clock = clock

    # ---- reads ---------------------------------------------------------------------------------

    def key(self, kind: ResourceKind, namespace: str, name: str) -> Key:
        return Key(kind.group, kind.plural, namespace if kind.namespaced else "", name)

    def get(self, kind: ResourceKind, namespace: str, name: str) -> Obj:
        obj = self.store.get(self.key(kind, namespace, name))
        if obj is None:
            raise not_found(kind, name)
        return obj

    def find(self, kind: ResourceKind, namespace: str, name: str) -> Obj | None:
        return self.store.get(self.key(kind, namespace, name))

    def list(
        self, kind: ResourceKind, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> tuple[builtins.list[Obj], int]:
        labels = LabelSelector.parse(label_selector)
        fields = FieldSelector.parse(field_selector)
        items, revision = self.store.list(kind.group, kind.plural, namespace or None if kind.namespaced else None)
        selected = [
            o for o in items if labels.matches(o.get("metadata", {}).get("labels") or {}) and fields.matches(o)
        ]
        return selected, revision

    # ---- create ----------------------------------------------------------------------------------

    def create(self, kind: ResourceKind, namespace: str, body: Any, opts: WriteOptions) -> WriteResult:
        obj = self._decode_object(kind, body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        self._set_namespace(kind, namespace, meta)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{generate_name_suffix()}"
            else:
                raise errors.invalid(kind.kind, kind.group, "", [errors.Cause(
                    "FieldValueRequired", "Required value: name or generateName is required", "metadata.name")])
        warnings = self._validate(kind, obj, opts)
        meta = obj["metadata"]  # pruning unknown fields replaces the metadata dict with a pruned copy
        if kind.namespaced:
            self._check_namespace_writable(meta["namespace"])
        warnings += self._admit(kind, obj, None)
        defaults.apply_defaults(kind, obj)
        if kind.group == "route.openshift.io" and kind.kind == "Route":
            _generate_route_host(obj, self.route_domain)
        if kind.group == "" and kind.kind == "Service":
            self._check_ips(kind, obj, allocators.allocate(obj, allocators.used_ips(self.list(kind, "")[0]),
                                                                self.service_network))
        now = now_rfc3339(self.clock)
        for server_field in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now
        meta["generation"] = 1
        if kind.has_status:
            obj.pop("status", None)
            defaults.initial_status(kind, obj)
        obj = record_update(None, obj, manager=opts.field_manager, api_version=kind.api_version, now=now)
        if opts.dry_run:
            return WriteResult(obj, warnings, created=True)
        try:
            stored = self.store.create(self.key(kind, meta.get("namespace", ""), meta["name"]), obj)
        except KeyExists as exc:
            raise errors.AlreadyExists(
                f'{kind.qualified_resource} "{meta["name"]}" already exists',
                name=meta["name"], group=kind.group, kind=kind.plural,
            ) from exc
        return WriteResult(stored, warnings, created=True)

    # ---- update / patch ------------------------------------------------------------------------------

    def update(
        self, kind: ResourceKind, namespace: str, name: str, body: Any, opts: WriteOptions, subresource: str = ""
    ) -> WriteResult:
        current = self.get(kind, namespace, name)
        obj = self._decode_object(kind, body)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") not in (None, "", name):
            raise errors.BadRequest(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        self._set_namespace(kind, namespace, meta)
        expected = meta.get("resourceVersion") or None
        return self._write(kind, current, obj, opts, subresource, expected, "update")

    def patch(
        self,
        kind: ResourceKind,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> WriteResult:
        if content_type == PATCH_STRATEGIC and not kind.builtin:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: "
                f"{PATCH_JSON}, {PATCH_MERGE}, {PATCH_APPLY}"
            )
        if content_type == PATCH_APPLY:
            return self._apply(kind, namespace, name, patch, opts, subresource)
        current = self.get(kind, namespace, name)
        expected: str | None = None
        if content_type == PATCH_JSON:
            patched = json_patch(current, patch)
            if patched.get("metadata", {}).get("resourceVersion") != current["metadata"].get("resourceVersion"):
                expected = patched.get("metadata", {}).get("resourceVersion")
        else:
            if not isinstance(patch, dict):
                raise errors.BadRequest("a merge patch must be a JSON object")
            expected = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(
                patch.get("metadata"), dict) else None
            if content_type == PATCH_MERGE:
                patched = merge_patch(current, patch)
            else:
                patched = strategic_merge_patch(current, patch, kind.kind)
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patch must produce an object")
        meta = patched.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        meta["name"] = name
        # a patch cannot move an object: the stored key and metadata.namespace must keep agreeing
        self._set_namespace(kind, namespace, meta)
        return self._write(kind, current, patched, opts, subresource, expected, "patch")

    def _apply(
        self, kind: ResourceKind, namespace: str, name: str, applied: Any, opts: WriteOptions, subresource: str
    ) -> WriteResult:
        if not isinstance(applied, dict):
            raise errors.BadRequest("an apply patch must be a YAML or JSON object")
        if not opts.field_manager:
            raise errors.BadRequest("PATCH, application/apply-patch+yaml: fieldManager is required for apply requests")
        self._check_type_meta(kind, applied, required=True)
        meta = applied.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        if meta.get("name") not in (None, name):
            raise errors.BadRequest(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        self._set_namespace(kind, namespace, meta)
        current = self.find(kind, namespace, name)
        now = now_rfc3339(self.clock)
        merged = server_side_apply(
            current, applied, manager=opts.field_manager, force=opts.force, api_version=kind.api_version,
            now=now, merge_lists_by_key=kind.builtin,
        )
        if current is None:
            create_opts = WriteOptions(opts.dry_run, "", opts.field_validation, opts.force)
            managed = merged.get("metadata", {}).get("managedFields")
            result = self.create(kind, namespace, merged, create_opts)
            # create keeps the managedFields it is given; rewrite only if they were lost on the way, as a
            # second write is a second event (a spurious MODIFIED right after the ADDED) for every watcher
            if managed is not None and not opts.dry_run and result.object["metadata"].get("managedFields") != managed:
                stored = json_copy(result.object)
                stored["metadata"]["managedFields"] = managed
                result.object = self.store.update(
                    self.key(kind, namespace, name), stored,
                    int(result.object["metadata"]["resourceVersion"]),
                )
            return result
        expected = (applied.get("metadata") or {}).get("resourceVersion")
        return self._write(kind, current, merged, opts, subresource, expected, "apply")

    def _write(
        self,
        kind: ResourceKind,
        current: Obj,
        obj: Obj,
        opts: WriteOptions,
        subresource: str,
        expected: str | None,
        operation: str,
    ) -> WriteResult:
        name = current["metadata"]["name"]
        if expected is not None and str(expected) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, name)
        if subresource == "status":
            new = json_copy(current)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        elif subresource in ("", "finalize"):
            new = self._merge_main(kind, current, obj)
        else:
            raise errors.MethodNotAllowed(f"the {subresource} subresource cannot be written this way")
        self._check_type_meta(kind, new, required=False)
        warnings = self._validate(kind, new, opts) if subresource != "status" else self._validate_status(kind, new)
        if subresource == "":
            warnings += self._admit(kind, new, current)
        defaults.apply_defaults(kind, new)
        if kind.group == "" and kind.kind == "Service" and subresource == "":
            self._check_ips(kind, new, self._service_ips_on_update(kind, current, new))
        self._check_finalizers(kind, current, new)
        if _spec_changed(kind, current, new):
            new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if operation != "apply":
            new = record_update(
                current, new, manager=opts.field_manager, api_version=kind.api_version,
                now=now_rfc3339(self.clock), subresource=subresource,
            )
        if _without_managed_times(new) == _without_managed_times(current):
            return WriteResult(current, warnings)  # a no-op write does not bump the resourceVersion
        if opts.dry_run:
            return WriteResult(new, warnings)
        key = self.key(kind, current["metadata"].get("namespace", ""), name)
        rv = int(current["metadata"]["resourceVersion"])
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            try:
                gone = self.store.delete(key, rv)
            except RevisionConflict as exc:
                raise conflict(kind, name) from exc
            return WriteResult(gone, warnings, deleted=True)
        try:
            stored = self.store.update(key, new, rv)
        except RevisionConflict as exc:
            raise conflict(kind, name) from exc
        except KeyNotFound as exc:
            raise not_found(kind, name) from exc
        return WriteResult(stored, warnings)

    def _merge_main(self, kind: ResourceKind, current: Obj, obj: Obj) -> Obj:
        """A main-resource write: the client's object with server-owned metadata (and, for kinds with a
        status subresource, the status) carried over from the stored one."""
        new: Obj = json_copy(obj)
        meta = new.setdefault("metadata", {})
        for key in _SERVER_METADATA:
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        if kind.has_status:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        return new

    # ---- delete ----------------------------------------------------------------------------------

    def delete(
        self,
        kind: ResourceKind,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
        grace_period: int | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        current = self.get(kind, namespace, name)
        meta = current["metadata"]
        if preconditions is not None and not isinstance(preconditions, dict):
            raise errors.BadRequest("DeleteOptions.preconditions must be an object")
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
                raise errors.Conflict(
                    f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": Precondition failed: '
                    f'UID in precondition: {preconditions["uid"]}, UID in object meta: {meta.get("uid")}',
                    name=name, group=kind.group, kind=kind.plural)
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta.get(
                    "resourceVersion"):
                raise conflict(kind, name)
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise errors.BadRequest(
                f'propagationPolicy must be "Background", "Foreground" or "Orphan", not {propagation!r}')
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if kind.kind == "Namespace":
            finalizers = finalizers or []
            spec_finalizers = (current.get("spec") or {}).get("finalizers") or []
            if spec_finalizers or meta.get("deletionTimestamp"):
                return self._mark_deleting(kind, current, finalizers, dry_run, namespace_terminating=True)
        grace = _pod_grace_period(kind, current, grace_period)
        if grace:
            return self._mark_pod_terminating(kind, current, finalizers, grace, dry_run)
        if finalizers:
            return self._mark_deleting(kind, current, finalizers, dry_run)
        if dry_run:
            return WriteResult(current, deleted=True)
        try:
            gone = self.store.delete(self.key(kind, namespace, name), int(meta["resourceVersion"]))
        except (KeyNotFound, RevisionConflict) as exc:
            raise not_found(kind, name) from exc
        return WriteResult(gone, deleted=True)

    def _mark_deleting(
        self, kind: ResourceKind, current: Obj, finalizers: builtins.list[str], dry_run: bool,
        namespace_terminating: bool = False,
    ) -> WriteResult:
        new = json_copy(current)
        meta = new["metadata"]
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now_rfc3339(self.clock)
            meta["deletionGracePeriodSeconds"] = 0
        if finalizers:
            meta["finalizers"] = finalizers
        if namespace_terminating:
            new.setdefault("status", {})["phase"] = "Terminating"
        if new == current or dry_run:
            return WriteResult(new if dry_run else current)
        key = self.key(kind, meta.get("namespace", ""), meta["name"])
        stored = self.store.update(key, new, int(current["metadata"]["resourceVersion"]))
        return WriteResult(stored)

    def _service_ips_on_update(self, kind: ResourceKind, current: Obj, new: Obj) -> builtins.list[errors.Cause]:
        """A Service keeps its ClusterIP; one that gains a ClusterIP type (from ExternalName) gets one, and one
        that becomes ExternalName gives its address back (as kube-apiserver does)."""
        spec = new.get("spec")
        if not isinstance(spec, dict):
            return []
        if spec.get("type") == "ExternalName":
            if spec.get("clusterIP") == (current.get("spec") or {}).get("clusterIP"):
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            return []
        if not (current.get("spec") or {}).get("clusterIP"):
            others = [s for s in self.list(kind, "")[0] if s["metadata"]["uid"] != current["metadata"]["uid"]]
            return allocators.allocate(new, allocators.used_ips(others), self.service_network)
        return allocators.keep_allocated(current, new)

    def _mark_pod_terminating(
        self, kind: ResourceKind, current: Obj, finalizers: builtins.list[str], grace: int, dry_run: bool,
    ) -> WriteResult:
        """Graceful pod deletion: the kubelet stops the containers and then deletes the pod for good.

        As in Kubernetes, a second delete may shorten the grace period but never lengthen it."""
        new = json_copy(current)
        meta = new["metadata"]
        previous = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and previous is not None and previous <= grace:
            return WriteResult(current)
        meta["deletionTimestamp"] = now_rfc3339(lambda: self.clock() + timedelta(seconds=grace))
        meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        if dry_run:
            return WriteResult(new)
        key = self.key(kind, meta.get("namespace", ""), meta["name"])
        return WriteResult(self.store.update(key, new, int(current["metadata"]["resourceVersion"])))

    # ---- helpers ----------------------------------------------------------------------------------

    def _decode_object(self, kind: ResourceKind, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.BadRequest(f"the request body must be a {kind.kind} object, not {type(body).__name__}")
        obj: Obj = json_copy(body)
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.BadRequest("metadata must be an object")
        self._check_type_meta(kind, obj, required=False)
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        return obj

    def _check_type_meta(self, kind: ResourceKind, obj: Obj, *, required: bool) -> None:
        api_version, obj_kind = obj.get("apiVersion"), obj.get("kind")
        if required and (not api_version or not obj_kind):
            raise errors.BadRequest("apiVersion and kind must be set in an applied configuration")
        if obj_kind not in (None, "", kind.kind):
            raise errors.BadRequest(
                f"the kind in the body ({obj_kind}) does not match the kind of the URL ({kind.kind})")
        if api_version not in (None, "") and api_version != kind.api_version:
            group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
            if group != kind.group:
                raise errors.BadRequest(
                    f"the API version in the data ({api_version}) does not match the expected API version "
                    f"({kind.api_version})")

    def _set_namespace(self, kind: ResourceKind, namespace: str, meta: Obj) -> None:
        if not kind.namespaced:
            meta.pop("namespace", None)
            return
        body_ns = meta.get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace or body_ns or "default"

    def _check_namespace_writable(self, namespace: str) -> None:
        ns_kind = self.registry.by_kind("", "v1", "Namespace")
        assert ns_kind is not None
        ns = self.find(ns_kind, "", namespace)
        if ns is None:
            raise errors.NotFound(f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                name=namespace, kind="namespaces")

    def _validate(self, kind: ResourceKind, obj: Obj, opts: WriteOptions) -> builtins.list[str]:
        result = validation.validate(kind, obj)
        warnings: builtins.list[str] = []
        if result.unknown_fields:
            if opts.field_validation == "Strict":
                listed = ", ".join(f'unknown field "{f}"' for f in result.unknown_fields)
                raise errors.BadRequest(
                    f"{kind.kind} in version \"{kind.version}\" cannot be handled as a {kind.kind}: "
                    f"strict decoding error: {listed}")
            if opts.field_validation == "Warn":
                warnings += [f'unknown field "{f}"' for f in result.unknown_fields]
            pruned = validation.prune(kind, obj)
            obj.clear()
            obj.update(pruned)
        if result.errors:
            name = obj.get("metadata", {}).get("name", "")
            raise errors.invalid(kind.kind, kind.group, name, list(result.errors))
        return warnings

    def _validate_status(self, kind: ResourceKind, obj: Obj) -> builtins.list[str]:
        result = validation.validate(kind, obj)
        status_errors = [c for c in result.errors if c.field.startswith("status")]
        if status_errors:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"]["name"], status_errors)
        return []

    def _admit(self, kind: ResourceKind, obj: Obj, old: Obj | None) -> builtins.list[str]:
        def lookup(api_version: str, kind_name: str, namespace: str, name: str) -> Obj | None:
            other = self.registry.by_api_version_kind(api_version, kind_name)
            return self.find(other, namespace, name) if other else None

        review = admission.review(kind.group, kind.kind, obj, old, lookup)
        if review.errors:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"].get("name", ""), list(review.errors))
        return list(review.warnings)

    def _check_ips(self, kind: ResourceKind, obj: Obj, causes: builtins.list[errors.Cause]) -> None:
        if causes:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"].get("name", ""), causes)

    def _check_finalizers(self, kind: ResourceKind, current: Obj, new: Obj) -> None:
        if not current["metadata"].get("deletionTimestamp"):
            return
        added = set(new["metadata"].get("finalizers") or []) - set(current["metadata"].get("finalizers") or [])
        if added:
            raise errors.invalid(kind.kind, kind.group, current["metadata"]["name"], [errors.Cause(
                "FieldValueForbidden",
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers "
                + str(sorted(added)), "metadata.finalizers")])


def _generate_route_host(route: Obj, domain: str) -> None:
    """OpenShift's route host allocation: a Route created without a host (and without a subdomain, which the
    router resolves) gets `<name>-<namespace>.<domain>`, so `kubectl get route -o jsonpath='{.spec.host}'`
    prints it right after the apply."""
    spec = route.get("spec")
    if isinstance(spec, dict) and not spec.get("host") and not spec.get("subdomain") and domain:
        meta = route["metadata"]
        spec["host"] = f"{meta['name']}-{meta['namespace']}.{domain}"


def not_found(kind: ResourceKind, name: str) -> errors.NotFound:
    return errors.NotFound(f'{kind.qualified_resource} "{name}" not found', name=name, group=kind.group,
                           kind=kind.plural)


def conflict(kind: ResourceKind, name: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        name=name, group=kind.group, kind=kind.plural)


def _spec_changed(kind: ResourceKind, old: Obj, new: Obj) -> bool:
    """Generation moves when anything outside metadata (and outside status, when status is a
    subresource) changes: the CRD rule, and for built-ins equivalent to "spec changed"."""
    ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if kind.has_status else set())
    return {k: v for k, v in old.items() if k not in ignored} != {k: v for k, v in new.items() if k not in ignored}


def _without_managed_times(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    managed = [{k: v for k, v in e.items() if k != "time"} for e in obj.get("metadata", {}).get("managedFields", [])]
    return {**obj, "metadata": {**meta, "managedFields": managed}}


def _pod_grace_period(kind: ResourceKind, pod: Obj, requested: int | None) -> int:
    """Seconds a deleted pod gets to stop; 0 means delete now (never scheduled, finished, or forced)."""
    if kind.group != "" or kind.kind != "Pod":
        return 0
    spec = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    return max(int(grace), 0) if isinstance(grace, int) else 30
