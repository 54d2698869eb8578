"""Store errors. The API server translates each into a Kubernetes `Status` with the resource's names.

    StoreError
    ├── KeyExists          create of a key that is live
    ├── KeyNotFound        update/delete of a key that is not live
    ├── RevisionConflict   update/delete with an expected revision that is not the live one
    └── Compacted          events asked for from before the compacted revision (watch → 410 Expired)
"""

from __future__ import annotations


class StoreError(Exception):
    pass


class KeyExists(StoreError):
    pass


class KeyNotFound(StoreError):
    pass


class RevisionConflict(StoreError):
    pass


class Compacted(StoreError):
    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} is compacted (oldest kept is {compacted})")
        self.requested = requested
        self.compacted = compacted
