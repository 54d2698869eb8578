"""SQLite implementation of the `Store` contract, modelled on kine (k3s's etcd-on-SQL shim).

The API server needs etcd's guarantees (one global revision, compare-and-swap writes, a replayable
change log for watches, compaction that turns stale watches into 410) without running etcd. kine shows
that an append-only log whose row id *is* the revision gives all of that; we add a materialised
`objects` table so gets and lists read current state directly instead of grouping the log.

One process owns the file and one thread uses the store, so the next revision is tracked in memory
and watch fan-out is a plain synchronous callback after COMMIT; no polling, no cross-process locking.
"""

from __future__ import annotations

import builtins
import itertools
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from kubeserve.store.errors import Compacted, KeyExists, KeyNotFound, RevisionConflict
from kubeserve.store.types import Event, EventType, Key, Listener

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    grp TEXT NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL
);
-- events_since reads one resource's tail of the log; without this it would scan every kind's history.
CREATE INDEX IF NOT EXISTS log_resource ON log (grp, resource, revision);
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (grp, resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Literal-typed values for the strings we read back from the `type` column.
_EVENT_TYPES: dict[str, EventType] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "DELETED": "DELETED"}


def _dumps(obj: Any) -> str:
    # allow_nan=False: NaN/Infinity are not JSON and would poison every later read by a real client.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _loads(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(text))


def _stamped_text(obj: dict[str, Any], revision: int) -> str:
    """The JSON of `obj` with `metadata.resourceVersion` set, leaving `obj` itself untouched."""
    meta = obj.get("metadata", {})
    if not isinstance(meta, dict):
        raise TypeError("metadata must be an object")
    # Copy only the two levels we change; serialising is what deep-copies the rest. Callers get the
    # body back through json.loads, so what they hold is exactly what a later get() returns.
    return _dumps({**obj, "metadata": {**meta, "resourceVersion": str(revision)}})


class SqliteStore:
    """A `Store` in one SQLite file (or ":memory:"). Not safe for use from several threads at once."""

    def __init__(self, path: str | Path) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves so a write and its revision
        # are one unit; the sqlite3 module's implicit transactions would split or delay them.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL fsyncs the WAL on every COMMIT, so an acknowledged write survives power loss, not only
        # a process kill (NORMAL in WAL mode may lose the last transactions on power loss).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._listeners: dict[int, Listener] = {}
        self._listener_ids = itertools.count()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'compacted'").fetchone()
        self._compacted: int = row[0] if row else 0
        # Compaction may have emptied the log, so the log's MAX alone can go backwards on reopen;
        # the compacted revision and the objects' revisions are lower bounds that survive it.
        row = self._db.execute(
            "SELECT MAX(COALESCE((SELECT MAX(revision) FROM log), 0),"
            " COALESCE((SELECT MAX(revision) FROM objects), 0))"
        ).fetchone()
        self._revision: int = max(row[0], self._compacted)

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    # ----------------------------------------------------------------------------------------- reads

    def get(self, key: Key) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT value FROM objects WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
            (key.group, key.resource, key.namespace, key.name),
        ).fetchone()
        return None if row is None else _loads(row[0])

    def list(
        self, group: str, resource: str, namespace: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        # Both queries are prefixes of the primary key, so the index serves the filter and the order.
        if namespace is None:
            rows = self._db.execute(
                "SELECT value FROM objects WHERE grp = ? AND resource = ? ORDER BY namespace, name",
                (group, resource),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT value FROM objects WHERE grp = ? AND resource = ? AND namespace = ? ORDER BY name",
                (group, resource, namespace),
            ).fetchall()
        # A single thread uses the store, so no write can land between the SELECT and this read.
        return [_loads(r[0]) for r in rows], self._revision

    def events_since(
        self, revision: int, group: str, resource: str, namespace: str | None = None
    ) -> builtins.list[Event]:  # `list` here would name our method, not the type
        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        sql = "SELECT revision, type, namespace, name, value FROM log WHERE grp = ? AND resource = ?"
        args: tuple[Any, ...] = (group, resource)
        if namespace is not None:
            sql += " AND namespace = ?"
            args += (namespace,)
        sql += " AND revision > ? ORDER BY revision"
        return [
            Event(_EVENT_TYPES[t], Key(group, resource, ns, name), _loads(value), rev)
            for rev, t, ns, name, value in self._db.execute(sql, (*args, revision))
        ]

    # ---------------------------------------------------------------------------------------- writes

    def create(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        text = _stamped_text(obj, self._revision + 1)

        def write(rev: int) -> str:
            try:
                self._db.execute(
                    "INSERT INTO objects (grp, resource, namespace, name, revision, value)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (key.group, key.resource, key.namespace, key.name, rev, text),
                )
            except sqlite3.IntegrityError:
                raise KeyExists(f"{key} already exists") from None
            return text

        return self._commit("ADDED", key, write)

    def update(self, key: Key, obj: dict[str, Any], expected_revision: int | None = None) -> dict[str, Any]:
        text = _stamped_text(obj, self._revision + 1)

        def write(rev: int) -> str:
            self._check_live(key, expected_revision)
            self._db.execute(
                "UPDATE objects SET revision = ?, value = ?"
                " WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
                (rev, text, key.group, key.resource, key.namespace, key.name),
            )
            return text

        return self._commit("MODIFIED", key, write)

    def delete(self, key: Key, expected_revision: int | None = None) -> dict[str, Any]:
        def write(rev: int) -> str:
            last = self._check_live(key, expected_revision)
            self._db.execute(
                "DELETE FROM objects WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
                (key.group, key.resource, key.namespace, key.name),
            )
            return _stamped_text(_loads(last), rev)

        return self._commit("DELETED", key, write)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        token = next(self._listener_ids)
        self._listeners[token] = listener

        def unsubscribe() -> None:
            # Keyed by token, not by the function, so subscribing one callable twice needs two calls.
            self._listeners.pop(token, None)

        return unsubscribe

    def compact(self, keep: int) -> int:
        if keep < 0:
            raise ValueError("keep must be >= 0")
        target = self._revision - keep
        if target <= self._compacted:
            return self._compacted
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # A range delete on the rowid: each call only touches rows written since the last one.
            self._db.execute("DELETE FROM log WHERE revision <= ?", (target,))
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('compacted', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (target,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._compacted = target
        return target

    def close(self) -> None:
        self._db.close()

    # --------------------------------------------------------------------------------------- helpers

    def _check_live(self, key: Key, expected_revision: int | None) -> str:
        row = self._db.execute(
            "SELECT revision, value FROM objects"
            " WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
            (key.group, key.resource, key.namespace, key.name),
        ).fetchone()
        if row is None:
            raise KeyNotFound(f"{key} not found")
        if expected_revision is not None and row[0] != expected_revision:
            raise RevisionConflict(f"{key} is at revision {row[0]}, not {expected_revision}")
        return str(row[1])

    def _commit(self, kind: EventType, key: Key, write: Callable[[int], str]) -> dict[str, Any]:
        """Run `write` (which returns the body to log) and the log insert as one transaction."""
        rev = self._revision + 1
        self._db.execute("BEGIN IMMEDIATE")
        try:
            value = write(rev)
            self._db.execute(
                "INSERT INTO log (revision, type, grp, resource, namespace, name, value)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rev, kind, key.group, key.resource, key.namespace, key.name, value),
            )
            self._db.execute("COMMIT")
        except BaseException:
            # Any failure, ours or SQLite's, leaves the revision counter and both tables untouched.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._revision = rev
        if self._listeners:
            # Listeners share one decoded copy (they must not mutate it); the caller gets its own.
            event = Event(kind, key, _loads(value), rev)
            for listener in list(self._listeners.values()):
                try:
                    listener(event)
                except Exception:
                    log.exception("store listener %r failed on revision %d", listener, rev)
        return _loads(value)
