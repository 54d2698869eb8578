"""The revisioned object store behind the embedded API server (embedded mode only).

Only this package touches `sqlite3`. See `types.Store` for the contract every implementation keeps.
"""

from kubeserve.store.errors import Compacted, KeyExists, KeyNotFound, RevisionConflict, StoreError
from kubeserve.store.sqlite import SqliteStore
from kubeserve.store.types import Event, EventType, Key, Listener, Store

__all__ = [
    "Compacted",
    "Event",
    "EventType",
    "Key",
    "KeyExists",
    "KeyNotFound",
    "Listener",
    "RevisionConflict",
    "SqliteStore",
    "Store",
    "StoreError",
]
