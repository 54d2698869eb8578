"""The balancing policy of the Service data path: least connections, ties broken round-robin.

Pure: the proxy keeps the counts and the cursor, this decides. Least connections suits LLM serving, where
one request can hold a replica for seconds; round-robin among equals spreads a burst of new connections.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


def pick(endpoints: Sequence[str], active: Mapping[str, int], cursor: int,
         exclude: Collection[str] = ()) -> tuple[str | None, int]:
    """The endpoint to try next and the cursor to keep; `None` when every endpoint is excluded."""
    n = len(endpoints)
    best: str | None = None
    best_index = 0
    for step in range(n):
        index = (cursor + step) % n
        candidate = endpoints[index]
        if candidate in exclude:
            continue
        if best is None or active.get(candidate, 0) < active.get(best, 0):
            best, best_index = candidate, index
    if best is None:
        return None, cursor
    return best, best_index + 1
