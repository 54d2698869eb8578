"""Service ClusterIP allocation, as kube-apiserver does it on Service create.

The service range is loopback (`127.96.0.0/16`), so every ClusterIP is an address the gateway can
listen on without configuring an interface. Allocation scans the stored Services (one node, a few
hundred Services at most): no bitmap to keep in step with the store.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from kubeserve.api import errors

Obj = dict[str, Any]

SERVICE_RANGE = ipaddress.IPv4Network("127.96.0.0/16")  # the default; `ApiServerSettings.service_network`
FIRST_OFFSET = 10  # .1 to .9 are kept for well-known Services, as kube does for .1
HEADLESS = "None"


class RangeFull(Exception):
    pass


def used_ips(services: Iterable[Obj]) -> set[str]:
    out: set[str] = set()
    for service in services:
        spec = service.get("spec") or {}
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
            if isinstance(ip, str) and ip and ip != HEADLESS:
                out.add(ip)
    return out


def next_free(used: set[str], network: ipaddress.IPv4Network = SERVICE_RANGE) -> str:
    start = int(network.network_address) + FIRST_OFFSET
    end = int(network.broadcast_address)
    for value in range(start, end):
        candidate = str(ipaddress.IPv4Address(value))
        if candidate not in used:
            return candidate
    raise RangeFull(f"the service IP range {network} is full")


def _requested(spec: Obj) -> str:
    ip = spec.get("clusterIP")
    if not ip:
        ips = spec.get("clusterIPs") or []
        ip = ips[0] if ips and isinstance(ips[0], str) else ""
    return str(ip or "")


def allocate(service: Obj, used: set[str], network: ipaddress.IPv4Network = SERVICE_RANGE) -> list[errors.Cause]:
    """Fill in `spec.clusterIP(s)`, `ipFamilies` and `ipFamilyPolicy` on a new Service, in place; the causes
    of a 422 when the user asked for an address that cannot be theirs."""
    spec = service.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return []
    requested = _requested(spec)
    if requested and requested != HEADLESS:
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            return [errors.Cause("FieldValueInvalid", f'Invalid value: "{requested}": must be a valid IP address, '
                                 '(e.g. 127.96.0.20), or "None" for a headless Service', "spec.clusterIP")]
        if address not in network or address in (network.network_address, network.broadcast_address):
            return [errors.Cause("FieldValueInvalid", f'Invalid value: "{requested}": failed to allocate IP '
                                 f"{requested}: the provided IP ({requested}) is not in the valid range. The range "
                                 f"of valid IPs is {network}", "spec.clusterIP")]
        if requested in used:
            return [errors.Cause("FieldValueInvalid", f'Invalid value: "{requested}": failed to allocate IP '
                                 f"{requested}: provided IP is already allocated", "spec.clusterIP")]
    elif not requested:
        try:
            requested = next_free(used, network)
        except RangeFull as exc:
            return [errors.Cause("FieldValueInvalid", f"Internal error: {exc}", "spec.clusterIP")]
    spec["clusterIP"] = requested
    spec["clusterIPs"] = [requested]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    return []


def keep_allocated(current: Obj, new: Obj) -> list[errors.Cause]:
    """On update: carry the allocated fields over when the client left them out (as kube-apiserver does, so
    a PUT without clusterIP keeps it); refuse to change them."""
    old_spec = current.get("spec") or {}
    spec = new.get("spec")
    if not isinstance(spec, dict) or not old_spec.get("clusterIP") or spec.get("type") == "ExternalName":
        return []
    if not spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    elif not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    for name in ("ipFamilies", "ipFamilyPolicy"):
        if name not in spec and name in old_spec:
            spec[name] = old_spec[name]
    if spec["clusterIP"] != old_spec["clusterIP"]:
        return [errors.Cause("FieldValueInvalid", f'Invalid value: "{spec["clusterIP"]}": field is immutable',
                             "spec.clusterIP")]
    if spec["clusterIPs"][:1] != [old_spec["clusterIP"]]:
        return [errors.Cause("FieldValueInvalid", f'Invalid value: "{spec["clusterIPs"][0]}": may not change '
                             "once set", "spec.clusterIPs[0]")]
    return []
