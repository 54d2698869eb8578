"""The gateway's balancing policy: routing keys from request bodies and the Balancer's choices, by tables."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.gateway.lb import Balancer, BalancerSettings, RoutingKey, prompt_text, routing_key

LONG = "You are a helpful assistant. " * 40  # 1160 characters: four full 256-character blocks
A, B, C = "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"


def chat(*turns: str, model: str = "m") -> dict[str, Any]:
    roles = ["system", "user", "assistant"]
    return {"model": model, "messages": [{"role": roles[min(i, 1) if i < 2 else 1 + i % 2], "content": t}
                                         for i, t in enumerate(turns)]}


# -- routing keys -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ({"prompt": "hello"}, "hello"),
    ({"prompt": ["a", "b"]}, "a\x1eb"),
    ({"prompt": [1, 2, 3]}, "1\x1e2\x1e3"),
    ({"prompt": [[1, 2], [3]]}, "[1,2]\x1e[3]"),
    ({"prompt": []}, None),
    ({"messages": [{"role": "user", "content": "hi"}]}, "user\x1fhi\x1f\x1e"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]},
     "user\x1fab\x1f\x1e"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
     'user\x1f{"image_url":{"url":"u"},"type":"image_url"}\x1f\x1e'),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}]},
     'assistant\x1f\x1f{"tool_calls":[{"id":"1"}]}\x1e'),
    ({"messages": ["junk", {"role": "user", "content": "x"}]}, "user\x1fx\x1f\x1e"),
    ({"input": "embed me"}, None),
    ({}, None),
])
def test_prompt_text(body: dict[str, Any], expected: str | None) -> None:
    assert prompt_text(body) == expected


@pytest.mark.parametrize(("headers", "header", "session"), [
    ({"x-session-id": "s1"}, "x-session-id", "s1"),
    ({"X-Session-ID": " s1 "}, "x-session-id", "s1"),
    ({"x-user": "u"}, "X-User", "u"),
    ({"x-session-id": ""}, "x-session-id", None),
    ({}, "x-session-id", None),
])
def test_session_from_header(headers: dict[str, str], header: str, session: str | None) -> None:
    assert routing_key(None, headers, header) == RoutingKey(session=session)


def test_prefix_blocks_are_chained_full_blocks_up_to_a_cap() -> None:
    short = routing_key({"prompt": "x" * 255}, {})
    assert short.blocks == ()
    one = routing_key({"prompt": "x" * 256 + "tail"}, {})
    assert len(one.blocks) == 1
    base = routing_key({"prompt": LONG}, {})
    longer = routing_key({"prompt": LONG + "and more " * 100}, {})
    assert len(base.blocks) == 4 and longer.blocks[:4] == base.blocks
    # chained: the same block content after a different prefix is a different hash
    after_y, after_x = routing_key({"prompt": "y" * 256 + "x" * 256}, {}), routing_key({"prompt": "x" * 512}, {})
    assert after_y.blocks[1] != after_x.blocks[1]
    assert routing_key({"prompt": LONG, "model": "other"}, {}).blocks[0] != base.blocks[0]
    assert len(routing_key({"prompt": "z" * 10_000}, {}, max_blocks=5).blocks) == 5
    assert len(routing_key({"prompt": "z" * 1000}, {}, block_chars=100).blocks) == 10
    assert routing_key({"prompt": "\ud800" * 300}, {}).blocks  # lone surrogates from JSON still hash


def test_multi_turn_chat_extends_its_own_prefix() -> None:
    turn1 = routing_key(chat(LONG, "question one"), {})
    turn2 = routing_key(chat(LONG, "question one", "answer one", "question two"), {})
    assert turn1.blocks and turn2.blocks[:len(turn1.blocks)] == turn1.blocks


# -- the Balancer -------------------------------------------------------------------------------------------

def key(text: str = LONG, session: str | None = None) -> RoutingKey:
    return routing_key({"prompt": text, "model": "m"}, {"x-session-id": session} if session else {})


def load(balancer: Balancer, **counts: int) -> None:
    for name, n in counts.items():
        for _ in range(n):
            balancer.started({"a": A, "b": B, "c": C}[name])


def test_same_prefix_goes_to_the_same_replica() -> None:
    lb = Balancer()
    first = lb.pick([A, B], key(), 0)
    assert first is not None
    lb.started(first)  # the first is still running; the second would go elsewhere by load alone
    assert lb.pick([A, B], key(LONG + " second request"), 0) == first
    assert lb.pick([A, B], key("unrelated " * 60), 0) != first


@pytest.mark.parametrize(("load_a", "load_b", "expected"), [
    (2, 0, A),  # within the absolute slack of 2
    (3, 0, B),  # overloaded: sheds to the least loaded
    (15, 10, A),  # within 50% of the minimum
    (16, 10, B),
])
def test_prefix_holder_keeps_requests_until_overloaded(load_a: int, load_b: int, expected: str) -> None:
    lb = Balancer()
    assert lb.pick([A, B], key(), 0) == A
    load(lb, a=load_a, b=load_b)
    assert lb.pick([A, B], key(), 0) == expected


def test_shed_request_moves_the_prefix_to_its_new_holder() -> None:
    lb = Balancer()
    assert lb.pick([A, B], key(), 0) == A
    load(lb, a=5)
    assert lb.pick([A, B], key(), 0) == B
    load(lb, b=1)
    assert lb.pick([A, B], key(), 0) == B


def test_longest_matching_prefix_wins() -> None:
    lb = Balancer()
    lb._prefixes.update({b: A for b in key(LONG[:512]).blocks})  # A served the first two blocks
    lb.pick([B], key(LONG), 0)  # B served all four
    lb._prefixes.update({b: A for b in key(LONG[:512]).blocks})  # and A again the first two since
    load(lb, b=1)
    assert lb.pick([A, B], key(LONG + "tail" * 100), 0) == B


@pytest.mark.parametrize("policy", ["prefix", "least-request"])
def test_session_header_sticks_whatever_the_load(policy: Any) -> None:
    lb = Balancer(BalancerSettings(policy=policy))
    first = lb.pick([A, B], key("short", session="s1"), 0)
    assert first == A
    load(lb, a=10)
    assert lb.pick([A, B], key("other", session="s1"), 0) == A
    assert lb.pick([A, B], key("other", session="s2"), 0) == B
    assert lb.pick([A, B], key("other", session="s1"), 0, exclude={A}) == B  # a retry leaves it
    assert lb.pick([A, B], key("other", session="s1"), 0) == B  # and the session follows


def test_least_request_ties_round_robin_and_ignores_prefixes() -> None:
    lb = Balancer(BalancerSettings(policy="least-request"))
    assert [lb.pick([A, B, C], key(), 0) for _ in range(4)] == [A, B, C, A]
    load(lb, a=1, c=1)
    assert lb.pick([A, B, C], key(), 0) == B


def test_round_robin_alternates_without_any_affinity() -> None:
    lb = Balancer(BalancerSettings(policy="round-robin"))
    picks = []
    for _ in range(4):
        picks.append(lb.pick([A, B], key(session="s"), 0))
        lb.started(picks[-1] or "")
    assert picks == [A, B, A, B]
    assert lb.pick([A, B], key(), 0, exclude={A}) == B


def test_exclude_for_retries() -> None:
    lb = Balancer()
    assert lb.pick([A, B], key(), 0, exclude={A}) == B
    assert lb.pick([A, B], key(), 0, exclude={A, B}) is None
    assert lb.pick([], key(), 0) is None


def test_ejection_and_recovery_with_the_clock() -> None:
    lb = Balancer(BalancerSettings(policy="least-request"))
    steps: list[tuple[float, bool, bool]] = [  # (now, ok, ejected by this one)
        (0, False, False), (1, False, False), (2, False, True),  # three in a row: out until 12
    ]
    for now, ok, ejected in steps:
        lb.started(A)
        assert lb.finished(A, now, ok) is ejected
    assert lb.ejected(A, 11.9) and not lb.ejected(A, 12)
    assert {lb.pick([A, B], key(), 5) for _ in range(3)} == {B}
    lb.started(A)
    assert lb.finished(A, 12, ok=False) is True  # on probation: one failure ejects again, twice as long
    assert lb.ejected(A, 31.9) and not lb.ejected(A, 32)
    lb.started(A)
    assert lb.finished(A, 32, ok=True) is False  # a success clears the record
    for now in (33, 34):
        lb.started(A)
        assert lb.finished(A, now, ok=False) is False
    lb.started(A)
    assert lb.finished(A, 35, ok=False) is True
    assert not lb.ejected(A, 45)  # back to the base length


def test_failures_during_an_ejection_do_not_extend_it_and_backoff_is_capped() -> None:
    lb = Balancer(BalancerSettings(eject_after=1, eject_base_s=10, eject_max_s=25))
    assert lb.connect_failed(A, 0) is True
    assert lb.connect_failed(A, 5) is False
    assert not lb.ejected(A, 10)
    assert lb.connect_failed(A, 10) is True and not lb.ejected(A, 30)  # 20 s
    assert lb.connect_failed(A, 30) is True and lb.ejected(A, 54) and not lb.ejected(A, 55)  # capped at 25 s


def test_success_does_not_lift_an_ejection_in_progress() -> None:
    lb = Balancer(BalancerSettings(eject_after=1))
    load(lb, a=2)
    lb.finished(A, 0, ok=False)
    lb.finished(A, 1, ok=True)
    assert lb.ejected(A, 5)


def test_all_ejected_are_used_anyway() -> None:
    lb = Balancer(BalancerSettings(eject_after=1, policy="least-request"))
    lb.connect_failed(A, 0)
    lb.connect_failed(B, 0)
    assert lb.pick([A, B], key(), 1) in (A, B)
    lb.connect_failed(C, 0)
    assert lb.pick([A, B, C], key(), 1, exclude={A}) in (B, C)


def test_ejected_prefix_holder_and_session_are_skipped() -> None:
    lb = Balancer(BalancerSettings(eject_after=1))
    assert lb.pick([A, B], key(session="s"), 0) == A
    lb.connect_failed(A, 0)
    assert lb.pick([A, B], key(session="s"), 1) == B
    assert lb.pick([A, B], key(), 1) == B


def test_forget_drops_removed_endpoints_but_drains_their_counts() -> None:
    lb = Balancer(BalancerSettings(eject_after=1))
    assert lb.pick([A, B], key(session="s"), 0) == A
    load(lb, a=2, b=1)
    lb.finished(B, 0, ok=False)  # ejected, idle
    lb.forget([C])
    assert lb._prefixes == {} and lb._sessions == {}
    assert lb.outstanding(A) == 2 and B not in lb._health and not lb.ejected(B, 1)
    lb.finished(A, 1, ok=True)
    assert lb.outstanding(A) == 1
    assert lb.pick([A, C], key(session="s"), 1) == C  # no affinity survives; A still carries its load
    assert lb.finished("never-seen", 1, ok=False) is False  # nothing started there: nothing to end


def test_connect_failed_is_a_health_signal_that_ends_nothing() -> None:
    lb = Balancer()
    lb.started(A)
    assert [lb.connect_failed(A, t) for t in (0, 1, 2)] == [False, False, True]
    assert lb.outstanding(A) == 1 and lb.ejected(A, 5)
    assert lb.connect_failed(C, 0) is False and not lb.ejected(C, 0)  # never started there: still counted


def test_tables_are_bounded_lrus() -> None:
    lb = Balancer(BalancerSettings(max_prefix_entries=4, max_sessions=2))
    lb.pick([A], key(LONG), 0)  # four blocks
    lb.pick([A], key("q" * 256), 0)  # one more: the oldest block goes
    assert len(lb._prefixes) == 4 and key(LONG).blocks[0] not in lb._prefixes
    for s in ("s1", "s2", "s3"):
        lb.pick([A], key("x", session=s), 0)
    assert list(lb._sessions) == ["s2", "s3"]


@pytest.mark.parametrize(("settings", "message"), [
    ({"policy": "random"}, "policy 'random' is unknown"),
    ({"eject_after": 0}, "eject_after must be at least 1"),
    ({"eject_base_s": 0}, "0 < eject_base_s <= eject_max_s"),
    ({"eject_base_s": 400}, "0 < eject_base_s <= eject_max_s"),
    ({"prefix_slack": -1}, "must not be negative"),
])
def test_bad_settings_say_which_and_how(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BalancerSettings(**settings)


def test_prefix_beats_round_robin_on_a_simulated_multi_turn_workload() -> None:
    """The benchmark's shape in miniature: each conversation's turns land where its prefix is cached."""
    def cache_hits(policy: Any) -> int:
        lb = Balancer(BalancerSettings(policy=policy))
        cached: dict[str, set[int]] = {A: set(), B: set()}
        hits = 0
        histories = {c: [f"system prompt for everyone. conversation {c} " * 10] for c in range(7)}  # odd: rr moves each
        for turn in range(4):
            for c, history in histories.items():
                history.append(f"user turn {turn} of {c} " * 12)
                k = routing_key(chat(*history), {})
                ep = lb.pick([A, B], k, 0)
                assert ep is not None
                hits += len(cached[ep] & set(k.blocks))
                cached[ep] |= set(k.blocks)
                history.append(f"assistant answer {turn} " * 12)
        return hits
    assert cache_hits("prefix") > 1.5 * cache_hits("round-robin")
