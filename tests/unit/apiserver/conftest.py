"""Fixtures shared by the API server's unit tests: an in-memory store, closed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeserve.store import SqliteStore


@pytest.fixture
def store() -> Iterator[SqliteStore]:
    s = SqliteStore(":memory:")
    yield s
    s.close()
