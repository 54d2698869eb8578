"""The gateway's balancing policy: which ready replica of a model gets the next request.

Pure: the proxy passes the clock in and reports what happened; this module does no I/O and has no globals.
One `Balancer` per upstream pool is the clean shape, but one for a whole gateway also works: outstanding
counts are per endpoint, prefix hashes are seeded with the model name, and affinity pointing at an endpoint
not offered to this request is ignored; only round-robin's single cursor then rotates across pools jointly.

API, in the order the proxy uses it::

    key = routing_key(body, headers, session_header="x-session-id")   # once per request
    ep = balancer.pick(endpoints, key, now, exclude=tried)            # None: no endpoint left to try
    balancer.started(ep)                                              # same tick as pick: no await between
    balancer.finished(ep, now, ok)                 # exactly once per started; True when ep got ejected now
    balancer.connect_failed(ep, now)               # a failed connection not counted by started (L4 paths)
    balancer.forget(endpoints)                                        # when the ready set changes

Every `started` is ended by exactly one `finished`; a started attempt whose connection failed ends with
`finished(ok=False)` alone (adding `connect_failed` would count the failure twice). `ok=False` is for what
says the replica is unwell (connection refused or reset, timeout, a 5xx it produced), never a client's 4xx.

Policies (`BalancerSettings.policy`):

- ``prefix`` (the default for LLM runtimes). vLLM keeps the KV cache of prompt prefixes it has seen
  (automatic prefix caching, 16-token blocks), so a request whose prompt starts like an earlier one is much
  cheaper to prefill on the replica that served the earlier one. The prompt is cut into fixed-size character
  blocks (256 characters, roughly 64 tokens: several vLLM blocks, so a match means real cached work) whose
  hashes are chained, so block i's hash names the whole prefix up to it. A bounded LRU remembers which
  endpoint last served each block hash. The endpoint holding the longest matching prefix wins while its
  outstanding count stays within `min outstanding + max(prefix_slack, prefix_slack_ratio * min)`; otherwise
  the least-outstanding endpoint does (and now holds that prefix too). Multi-turn chats match because each
  turn's prompt repeats the whole conversation so far.
- ``least-request``: least outstanding requests, ties round-robin.
- ``round-robin``: plain rotation, no affinity of any kind (the baseline the benchmark compares against).

Session affinity (``prefix`` and ``least-request``): a request carrying the session header (default
``x-session-id``, case-insensitive) goes to the endpoint its session used last, whatever its load, while that
endpoint is offered, not ejected and not excluded. A client that names a session asks for stickiness.

Passive health: `eject_after` consecutive failures eject an endpoint for `eject_base_s`, doubling with each
ejection up to `eject_max_s`. When an ejection expires the endpoint is on probation: one more failure ejects it
again (for twice as long), one success clears its record. A success never lifts an ejection in progress: a
long stream that began earlier says nothing about new connections. When every candidate is ejected they are
used anyway (like Envoy's panic mode): a pool-wide ejection usually has a shared cause, and an attempt gives
the client a real answer where refusing would only give it our guess.

Draining: `forget` drops the affinity state of endpoints that left the ready set at once, so no new request
follows a prefix or session to them, but keeps their outstanding counts until their in-flight requests end.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Policy = Literal["prefix", "least-request", "round-robin"]
POLICIES: tuple[Policy, ...] = ("prefix", "least-request", "round-robin")
DEFAULT_SESSION_HEADER = "x-session-id"
BLOCK_CHARS = 256
MAX_BLOCKS = 128  # 32k characters: enough for long system prompts and conversations, bounded hashing cost


@dataclass(frozen=True)
class RoutingKey:
    """What a request offers for affinity: its session id and the chained hashes of its prompt's blocks."""

    session: str | None = None
    blocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class BalancerSettings:
    policy: str = "prefix"  # one of POLICIES; a str because it comes from flags and env, checked below
    eject_after: int = 3
    eject_base_s: float = 10.0
    eject_max_s: float = 300.0
    prefix_slack: int = 2
    prefix_slack_ratio: float = 0.5
    max_prefix_entries: int = 50_000
    max_sessions: int = 50_000

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"balancer policy {self.policy!r} is unknown: use one of {', '.join(POLICIES)}")
        for name in ("eject_after", "max_prefix_entries", "max_sessions"):
            if getattr(self, name) < 1:
                raise ValueError(f"balancer setting {name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.eject_base_s <= self.eject_max_s:
            raise ValueError(f"balancer settings need 0 < eject_base_s <= eject_max_s, got "
                             f"{self.eject_base_s} and {self.eject_max_s}")
        if self.prefix_slack < 0 or self.prefix_slack_ratio < 0:
            raise ValueError("balancer settings prefix_slack and prefix_slack_ratio must not be negative")


def routing_key(body: Mapping[str, Any] | None, headers: Mapping[str, str],
                session_header: str = DEFAULT_SESSION_HEADER, *,
                block_chars: int = BLOCK_CHARS, max_blocks: int = MAX_BLOCKS) -> RoutingKey:
    """The routing key of an OpenAI completions or chat body (v2 infer is translated to completions first).

    Only full blocks are hashed: vLLM caches only full KV blocks, and a partial block could never match a
    longer prompt. The model name seeds the chain, since different models (and LoRA adapters) share no cache.
    """
    session = _header(headers, session_header) or None
    text = prompt_text(body) if body is not None else None
    if not text:
        return RoutingKey(session=session)
    seed = str(body.get("model", "")) if body is not None else ""
    # surrogatepass: JSON may decode to lone surrogates, which must hash rather than raise.
    digest = hashlib.blake2b(seed.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    blocks: list[int] = []
    # Cut in characters, not bytes, so a multi-byte character never straddles two blocks.
    for i in range(min(len(text) // block_chars, max_blocks)):
        chunk = text[i * block_chars:(i + 1) * block_chars].encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(digest + chunk, digest_size=8).digest()
        blocks.append(int.from_bytes(digest, "big"))
    return RoutingKey(session=session, blocks=tuple(blocks))


def prompt_text(body: Mapping[str, Any]) -> str | None:
    """The prompt as one deterministic string, in the order the model sees it; None when there is none."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return "".join(_message_text(m) for m in messages if isinstance(m, Mapping))
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        # A batch goes to one replica as one request, so all its prompts make one key; token ids hash as text.
        return "\x1e".join(p if isinstance(p, str) else _canonical(p) for p in prompt)
    return None


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, Mapping) and p.get("type") == "text" else _canonical(p)
                 for p in content]
        text = "".join(str(p) for p in parts)
    elif content is None:
        text = ""
    else:
        text = str(content)
    extra = {k: message[k] for k in ("name", "tool_calls", "tool_call_id") if k in message}
    # Unit separators keep role and content apart; tool calls etc. are canonical JSON so equal means equal.
    return f"{message.get('role', '')}\x1f{text}\x1f{_canonical(extra) if extra else ''}\x1e"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value.strip() if value else ""


@dataclass
class _Health:
    outstanding: int = 0
    failures: int = 0  # consecutive
    ejections: int = 0  # since the last success: sets the next ejection's length and the probation
    ejected_until: float = 0.0


@dataclass
class Balancer:
    """Balancing state of one upstream pool; see the module docstring for the policy."""

    settings: BalancerSettings = field(default_factory=BalancerSettings)
    _health: dict[str, _Health] = field(default_factory=dict, init=False)
    _prefixes: OrderedDict[int, str] = field(default_factory=OrderedDict, init=False)
    _sessions: OrderedDict[str, str] = field(default_factory=OrderedDict, init=False)
    _cursor: int = field(default=0, init=False)

    def pick(self, endpoints: Sequence[str], key: RoutingKey, now: float,
             exclude: Collection[str] = ()) -> str | None:
        """The endpoint for this request (recorded as holding its prefix and session); None if none is left."""
        offered = [e for e in endpoints if e not in exclude]
        if not offered:
            return None
        healthy = [e for e in offered if not self.ejected(e, now)]
        candidates = healthy or offered  # all ejected: use them anyway (see the module docstring)
        if self.settings.policy == "round-robin":
            return self._rotate(endpoints, set(candidates))
        chosen = self._session_endpoint(key, candidates)
        if chosen is None and self.settings.policy == "prefix":
            chosen = self._prefix_endpoint(key, candidates)
        if chosen is None:
            chosen = self._least(endpoints, set(candidates))
        self._remember(key, chosen)
        return chosen

    def started(self, endpoint: str) -> None:
        self._health.setdefault(endpoint, _Health()).outstanding += 1

    def finished(self, endpoint: str, now: float, ok: bool) -> bool:
        """End a request; True when this failure ejected the endpoint (for the ejections metric)."""
        health = self._health.get(endpoint)
        if health is None:  # forgotten while idle: nothing to account
            return False
        health.outstanding = max(0, health.outstanding - 1)
        if not ok:
            return self._failed(health, now)
        health.failures = 0
        health.ejections = 0
        return False

    def connect_failed(self, endpoint: str, now: float) -> bool:
        """A failed connection that `started` did not count (e.g. TLS passthrough); True when it ejected."""
        return self._failed(self._health.setdefault(endpoint, _Health()), now)

    def forget(self, endpoints_still_present: Iterable[str]) -> None:
        """Drop the state of endpoints that left the pool; in-flight counts stay until their requests end."""
        present = set(endpoints_still_present)
        for endpoint in [e for e in self._health if e not in present]:
            if self._health[endpoint].outstanding == 0:
                del self._health[endpoint]
            else:  # draining: a comeback must not inherit an old ejection, only the real load
                self._health[endpoint] = _Health(outstanding=self._health[endpoint].outstanding)
        _drop(self._prefixes, present)
        _drop(self._sessions, present)

    def ejected(self, endpoint: str, now: float) -> bool:
        health = self._health.get(endpoint)
        return health is not None and health.ejected_until > now

    def outstanding(self, endpoint: str) -> int:
        health = self._health.get(endpoint)
        return health.outstanding if health is not None else 0

    def _failed(self, health: _Health, now: float) -> bool:
        health.failures += 1
        if health.ejected_until > now:  # in-flight requests failing during an ejection do not extend it
            return False
        on_probation = health.ejections > 0
        if not on_probation and health.failures < self.settings.eject_after:
            return False
        exponent = min(health.ejections, 32)  # the cap applies long before; this only keeps the float finite
        health.ejected_until = now + min(self.settings.eject_max_s, self.settings.eject_base_s * 2.0 ** exponent)
        health.ejections += 1
        health.failures = 0
        return True

    # -- the policy --------------------------------------------------------------------------------------

    def _session_endpoint(self, key: RoutingKey, candidates: Sequence[str]) -> str | None:
        if key.session is None:
            return None
        endpoint = self._sessions.get(key.session)
        return endpoint if endpoint in candidates else None

    def _prefix_endpoint(self, key: RoutingKey, candidates: Sequence[str]) -> str | None:
        if not key.blocks:
            return None
        least = min(self.outstanding(e) for e in candidates)
        limit = least + max(self.settings.prefix_slack, self.settings.prefix_slack_ratio * least)
        seen: set[str] = set()
        # Deepest block first: the first hit on an endpoint is the longest prefix it holds.
        for block in reversed(key.blocks):
            endpoint = self._prefixes.get(block)
            if endpoint is None or endpoint in seen or endpoint not in candidates:
                continue
            seen.add(endpoint)
            if self.outstanding(endpoint) <= limit:
                return endpoint
        return None

    def _least(self, endpoints: Sequence[str], candidates: Collection[str]) -> str:
        best: str | None = None
        best_index = 0
        n = len(endpoints)
        for step in range(n):
            index = (self._cursor + step) % n
            endpoint = endpoints[index]
            if endpoint in candidates and (best is None or self.outstanding(endpoint) < self.outstanding(best)):
                best, best_index = endpoint, index
        assert best is not None  # candidates is a non-empty subset of endpoints
        self._cursor = best_index + 1
        return best

    def _rotate(self, endpoints: Sequence[str], candidates: Collection[str]) -> str:
        n = len(endpoints)
        for step in range(n):
            index = (self._cursor + step) % n
            if endpoints[index] in candidates:
                self._cursor = index + 1
                return endpoints[index]
        raise AssertionError("candidates is a non-empty subset of endpoints")

    def _remember(self, key: RoutingKey, endpoint: str) -> None:
        if key.session is not None:
            _put(self._sessions, key.session, endpoint, self.settings.max_sessions)
        if self.settings.policy == "prefix":
            for block in key.blocks:
                _put(self._prefixes, block, endpoint, self.settings.max_prefix_entries)


def _put(table: OrderedDict[Any, str], key: Any, endpoint: str, limit: int) -> None:
    table[key] = endpoint
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


def _drop(table: OrderedDict[Any, str], present: Collection[str]) -> None:
    for key in [k for k, endpoint in table.items() if endpoint not in present]:
        del table[key]
