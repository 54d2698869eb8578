"""Reading a container's CRI log files the way `kubectl logs` asks: tail, since, timestamps, limit, follow.

The shim writes one file per run, `<restart-count>.log`, each line `<RFC3339Nano> stdout|stderr F|P <text>`
(P: a partial line, continued by the next entry), and `<n>.exit` when that run ends. `previous` is the run
before the newest one. Following ends when the run's exit file appears and the file is drained, which is
when the kubelet's follow ends too. Parsing and selection are pure; only `read_log`/`follow_log` touch files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_TAIL_WINDOW = 16 * 1024 * 1024  # at most this much of a file's end is read for `tailLines`


class RequestError(Exception):
    """A streaming request that cannot be answered; `code` is the HTTP status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_time: datetime | None = None
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: datetime) -> LogOptions:
        try:
            tail = int(query["tailLines"]) if query.get("tailLines", "") != "" else None
            limit = int(query["limitBytes"]) if query.get("limitBytes", "") != "" else None
            since: datetime | None = None
            if query.get("sinceSeconds", "") != "":
                seconds = int(query["sinceSeconds"])
                if seconds < 1:
                    raise RequestError(400, "sinceSeconds must be greater than 0")
                since = now - timedelta(seconds=seconds)
            elif query.get("sinceTime", "") != "":
                since = parse_timestamp(query["sinceTime"])
                if since is None:
                    raise RequestError(400, f"invalid sinceTime {query['sinceTime']!r}: use RFC 3339")
        except ValueError as exc:
            raise RequestError(400, f"invalid log options: {exc}") from exc
        if tail is not None and tail < 0:
            tail = None  # kubectl sends -1 for "all lines"
        if limit is not None and limit < 1:
            raise RequestError(400, "limitBytes must be greater than 0")
        return cls(follow=_bool(query.get("follow")), previous=_bool(query.get("previous")),
                   timestamps=_bool(query.get("timestamps")), tail_lines=tail, since_time=since, limit_bytes=limit)


def _bool(value: str | None) -> bool:
    return value in ("1", "t", "T", "true", "TRUE", "True")


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    date, dot, rest = text.partition(".")
    if dot:  # trim the fraction to 6 digits, keep the zone
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{date}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    timestamp: str  # as written, RFC 3339 nano
    stream: str
    text: bytes  # without the newline


class EntryParser:
    """CRI lines → entries; P(artial) lines are joined with what follows, up to the F(ull) one."""

    def __init__(self) -> None:
        self._pending: bytes = b""
        self._pending_ts = ""

    def feed_line(self, line: bytes) -> Entry | None:
        line = line.rstrip(b"\n")
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            return None
        timestamp, stream, tag = parts[0].decode(errors="replace"), parts[1].decode(errors="replace"), parts[2]
        text = parts[3] if len(parts) == 4 else b""
        if tag == b"P":
            if not self._pending:
                self._pending_ts = timestamp
            self._pending += text
            return None
        if self._pending:
            timestamp, text = self._pending_ts, self._pending + text
            self._pending = b""
        return Entry(timestamp, stream, text)


def render(entry: Entry, timestamps: bool) -> bytes:
    prefix = entry.timestamp.encode() + b" " if timestamps else b""
    return prefix + entry.text + b"\n"


def select(entries: Iterable[Entry], options: LogOptions) -> list[Entry]:
    """`sinceTime`/`sinceSeconds` then `tailLines`, as the kubelet applies them."""
    chosen = list(entries)
    if options.since_time is not None:
        since = options.since_time
        chosen = [e for e in chosen if (t := parse_timestamp(e.timestamp)) is None or t >= since]
    if options.tail_lines is not None:
        chosen = chosen[-options.tail_lines:] if options.tail_lines else []
    return chosen


class Limit:
    """`limitBytes`: cuts the output after that many bytes."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0

    def take(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[:max(self.left, 0)]
        self.left -= len(data)
        return data


# ---- files ------------------------------------------------------------------------------------------------


def runs(container_dir: Path) -> list[int]:
    """The restart counts that have a log file, oldest first."""
    found = []
    for path in container_dir.glob("*.log"):
        if path.stem.isdigit():
            found.append(int(path.stem))
    return sorted(found)


def choose_run(container_dir: Path, container: str, pod: str, previous: bool) -> int:
    available = runs(container_dir)
    if previous:
        if len(available) < 2:
            raise RequestError(400, f'previous terminated container "{container}" in pod "{pod}" not found')
        return available[-2]
    if not available:
        raise RequestError(400, f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
    return available[-1]


def _lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines of `data` and the unfinished rest."""
    *lines, rest = data.split(b"\n")
    return [line + b"\n" for line in lines], rest


async def follow_entries(
    container_dir: Path, run: int, *, follow: bool, tail_window: int | None = None, poll_interval: float = 0.1,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[list[Entry], None]:
    """The run's entries: first everything already written (or, with `tail_window`, what its last bytes hold),
    then, when following, each batch as it is written, until the run ends (its exit file appears)."""
    log_path = container_dir / f"{run}.log"
    exit_path = container_dir / f"{run}.exit"
    parser = EntryParser()
    with log_path.open("rb") as f:
        skip_first = False
        if tail_window is not None and log_path.stat().st_size > tail_window:
            f.seek(-tail_window, 2)
            skip_first = True  # probably the middle of a line
        lines, rest = _lines(f.read())
        if skip_first and lines:
            lines = lines[1:]
        yield [e for e in (parser.feed_line(line) for line in lines) if e is not None]
        ended = False
        while follow:
            chunk = f.read()
            if chunk:
                lines, rest = _lines(rest + chunk)
                batch = [e for e in (parser.feed_line(line) for line in lines) if e is not None]
                if batch:
                    yield batch
                continue
            if ended or (stop is not None and stop.is_set()):
                return
            # The exit file is written after the last line: one more read after seeing it drains the file.
            ended = exit_path.exists() or not container_dir.exists()
            if not ended:
                await asyncio.sleep(poll_interval)


async def stream_log(container_dir: Path, run: int, options: LogOptions, poll_interval: float = 0.1,
                     stop: asyncio.Event | None = None) -> AsyncGenerator[bytes, None]:
    """The selected log output, then (with `follow`) everything the run writes until it ends."""
    limit = Limit(options.limit_bytes)
    window = _TAIL_WINDOW if options.tail_lines is not None and options.since_time is None else None
    first = True
    async for batch in follow_entries(container_dir, run, follow=options.follow, tail_window=window,
                                      poll_interval=poll_interval, stop=stop):
        chosen = select(batch, options) if first else batch
        first = False
        out = b"".join(render(e, options.timestamps) for e in chosen)
        if out:
            yield limit.take(out)
        if limit.done:
            return
