"""Behaviour every SessionStore must have, run against each store.

Subclass :class:`SessionStoreContract` in a test module and provide two fixtures:
``make_store(**limits) -> SessionStore`` (a fresh, empty store each call) and
``advance(seconds)`` (let that much time pass for the store's TTL clock).
tests/unit/test_memory_store.py runs it on the memory store, tests/integration/
test_redis_store.py on a real redis-server.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.session import SessionEvent
from serving.events import EVENT_TYPES, ViewEvent
from serving.session_store.base import member_of

T0 = 1_700_000_000.0


def ev(session: str, product: str, ts: float, event_type: str = "view", **kw) -> ViewEvent:
    """A validated event (its id derived unless given)."""
    return ViewEvent(session_id=session, product_id=product, ts=ts, event_type=event_type, **kw)


def expected_members(events: list[ViewEvent], session: str, max_items: int) -> list[str]:
    """Reference model: the newest ``max_items`` distinct events of a session, oldest first."""
    members = {member_of(e): e.ts for e in events if e.session_id == session}
    return sorted(members, key=lambda m: (members[m], m))[-max_items:]


def expected(events: list[ViewEvent], session: str, max_items: int) -> list[SessionEvent]:
    """:func:`expected_members` as the store returns them."""
    by_member = {member_of(e): e for e in events}
    return [
        SessionEvent(e.product_id, e.ts, e.event_type)
        for e in (by_member[m] for m in expected_members(events, session, max_items))
    ]


event_strategy = st.builds(
    ev,
    session=st.sampled_from(["s1", "s2", "s3"]),
    product=st.sampled_from(["p1", "p2", "p3", "p4", "42"]),
    ts=st.integers(0, 30).map(lambda d: T0 + d),
    event_type=st.sampled_from(EVENT_TYPES),
)
batches_strategy = st.lists(st.lists(event_strategy, max_size=12), min_size=1, max_size=5)
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    # make_store is a factory (a fresh store per example), and each store subclass runs these
    # same methods: both checks guard against state that these tests do not share.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


class SessionStoreContract:
    """The shared behaviour tests (collected through subclasses named Test...)."""

    def test_recent_is_oldest_first(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0 + 1), ev("s", "b", T0 + 2), ev("s", "c", T0 + 3)])
        assert [e.item_id for e in store.recent("s")] == ["a", "b", "c"]
        assert store.recent("s")[0] == SessionEvent("a", T0 + 1, "view")
        # the recommender's own event type, built once from what the store holds
        assert type(store.recent("s")[0]) is SessionEvent

    def test_limit_returns_the_newest(self, make_store):
        store = make_store()
        store.append([ev("s", f"p{i}", T0 + i) for i in range(5)])
        assert [e.item_id for e in store.recent("s", limit=2)] == ["p3", "p4"]
        assert len(store.recent("s", limit=100)) == 5

    def test_limit_below_one_is_refused(self, make_store):
        with pytest.raises(ConfigError, match="limit must be >= 1"):
            make_store().recent("s", limit=0)

    def test_unknown_session_is_empty(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0)])
        assert store.recent("other") == []

    def test_empty_batch_changes_nothing(self, make_store):
        result = make_store().append([])
        assert (result.applied, result.duplicates) == (0, 0)

    def test_same_batch_twice_changes_nothing(self, make_store):
        store = make_store()
        batch = [ev("s", "a", T0 + 1), ev("s", "b", T0 + 2, "cart"), ev("t", "a", T0 + 3)]
        first = store.append(batch)
        before = (store.recent("s"), store.recent("t"))
        second = store.append(batch)
        assert (first.applied, first.duplicates) == (3, 0)
        assert (second.applied, second.duplicates) == (0, 3)
        assert (store.recent("s"), store.recent("t")) == before

    def test_duplicate_inside_one_batch_counts_once(self, make_store):
        store = make_store()
        result = store.append([ev("s", "a", T0), ev("s", "a", T0)])
        assert (result.applied, result.duplicates) == (1, 1)
        assert store.recent("s") == [SessionEvent("a", T0, "view")]

    def test_same_product_viewed_twice_is_two_events(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0 + 1), ev("s", "a", T0 + 5)])
        assert [e.ts for e in store.recent("s")] == [T0 + 1, T0 + 5]

    def test_late_event_is_placed_by_time(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0 + 1), ev("s", "c", T0 + 3)])
        store.append([ev("s", "b", T0 + 2)])
        assert [e.item_id for e in store.recent("s")] == ["a", "b", "c"]

    def test_keeps_only_the_newest_max_items(self, make_store):
        store = make_store(max_items=3)
        store.append([ev("s", f"p{i}", T0 + i) for i in range(10)])
        assert [e.item_id for e in store.recent("s")] == ["p7", "p8", "p9"]
        # A late event older than everything kept does not push a newer one out.
        store.append([ev("s", "old", T0 - 100)])
        assert [e.item_id for e in store.recent("s")] == ["p7", "p8", "p9"]
        store.append([ev("s", "new", T0 + 100)])
        assert [e.item_id for e in store.recent("s")] == ["p8", "p9", "new"]

    def test_event_type_and_client_event_id_are_kept(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0, "purchase", event_id="client-1")])
        result = store.append([ev("s", "a", T0, "purchase", event_id="client-1")])
        assert result.duplicates == 1
        assert store.recent("s") == [SessionEvent("a", T0, "purchase")]

    def test_any_id_of_the_policy_round_trips(self, make_store):
        # ids of any script, with the member separator "|" and spaces (engine/ids.py)
        store = make_store()
        store.append([ev("séance 1", "Café|03 ü", T0), ev("séance 1", "商品/17", T0 + 1)])
        assert [e.item_id for e in store.recent("séance 1")] == ["Café|03 ü", "商品/17"]
        assert store.recent("séance") == []

    def test_many_sessions_in_one_batch(self, make_store):
        store = make_store()
        batch = [ev(f"s{i % 7}", f"p{i}", T0 + i) for i in range(70)]
        assert store.append(batch).applied == 70
        for s in range(7):
            assert store.recent(f"s{s}") == expected(batch, f"s{s}", store.max_items)

    def test_large_batch_for_one_session(self, make_store):
        store = make_store(max_items=3000)
        batch = [ev("big", f"p{i}", T0 + i) for i in range(2500)]
        assert store.append(batch).applied == 2500
        assert store.append(batch).duplicates == 2500
        got = store.recent("big")
        assert len(got) == 2500 and got[0].item_id == "p0" and got[-1].item_id == "p2499"

    def test_session_expires_after_inactivity(self, make_store, advance):
        store = make_store(ttl_seconds=1.0)
        store.append([ev("s", "a", T0)])
        advance(0.6)
        store.append([ev("s", "b", T0 + 1)])  # activity restarts the clock
        advance(0.6)
        assert [e.item_id for e in store.recent("s")] == ["a", "b"]
        advance(1.1)
        assert store.recent("s") == []
        store.append([ev("s", "c", T0 + 2)])  # a new session under the same id
        assert [e.item_id for e in store.recent("s")] == ["c"]

    def test_forget_removes_one_session(self, make_store):
        store = make_store()
        store.append([ev("s", "a", T0), ev("s", "b", T0 + 1), ev("t", "c", T0)])
        assert store.forget("s") is True
        assert store.recent("s") == []
        assert [e.item_id for e in store.recent("t")] == ["c"]
        assert store.forget("s") is False  # nothing left to forget
        store.append([ev("s", "a", T0)])  # the same event again is new now
        assert [e.item_id for e in store.recent("s")] == ["a"]

    def test_ping_answers(self, make_store):
        store = make_store()
        store.ping()
        assert store.healthy()

    def test_concurrent_writers_and_readers(self, make_store):
        store = make_store(max_items=1000)
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for i in range(20):
                    store.append([ev("shared", f"w{worker}-{i}", T0 + i * 4 + worker)])
                    store.recent("shared")
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        got = store.recent("shared")
        assert len(got) == 80
        assert [e.ts for e in got] == sorted(e.ts for e in got)

    @PROPERTY_SETTINGS
    @given(batches=batches_strategy, max_items=st.integers(1, 6))
    def test_property_matches_reference_and_replay_is_harmless(
        self, make_store, batches, max_items
    ):
        store = make_store(max_items=max_items)
        for batch in batches:
            store.append(batch)
        everything = [e for batch in batches for e in batch]
        once = {s: store.recent(s) for s in ("s1", "s2", "s3")}
        for s, got in once.items():
            assert got == expected(everything, s, max_items)
            assert len(got) <= max_items
            assert [e.ts for e in got] == sorted(e.ts for e in got)
        # At-least-once delivery: every batch again, in reverse order, changes nothing. Only
        # events already trimmed away count as applied again (and are trimmed again at once).
        kept = {m for s in once for m in expected_members(everything, s, max_items)}
        for batch in reversed(batches):
            result = store.append(batch)
            assert result.applied == len({member_of(e) for e in batch} - kept)
        assert {s: store.recent(s) for s in once} == once

    @PROPERTY_SETTINGS
    @given(events=st.lists(event_strategy, max_size=25), data=st.data())
    def test_property_arrival_order_does_not_matter(self, make_store, events, data):
        shuffled = data.draw(st.permutations(events))
        a, b = make_store(max_items=4), make_store(max_items=4)
        for e in events:
            a.append([e])
        b.append(shuffled)
        for s in ("s1", "s2", "s3"):
            assert a.recent(s) == b.recent(s)
