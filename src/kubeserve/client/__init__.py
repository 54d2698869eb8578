"""The one door to cluster state (see `rest`), plus the informer/controller runtime every component uses."""

from kubeserve.client.controller import Controller, EventRecorder, Key, Result, TerminalError, owner_mapper
from kubeserve.client.informer import Informer, object_key
from kubeserve.client.rest import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    ApiClient,
    ClientConfig,
    Obj,
    WatchEvent,
)

__all__ = ["APPLY_PATCH", "JSON_PATCH", "MERGE_PATCH", "STRATEGIC_MERGE_PATCH", "ApiClient", "ClientConfig",
           "Controller", "EventRecorder", "Informer", "Key", "Obj", "Result", "TerminalError", "WatchEvent",
           "object_key", "owner_mapper"]
