"""The in-process session store: the shared contract plus its own memory bound."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from engine.errors import ConfigError
from serving.session_store import MemorySessionStore, make_session_store
from serving.settings import Settings
from tests.store_contract import T0, SessionStoreContract, ev


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_store(clock):
    def make(**limits) -> MemorySessionStore:
        return MemorySessionStore(clock=clock, **limits)

    return make


@pytest.fixture
def advance(clock):
    def advance(seconds: float) -> None:
        clock.now += seconds

    return advance


class TestMemoryStoreContract(SessionStoreContract):
    pass


def test_least_recently_updated_session_is_evicted(make_store, advance):
    store = make_store(max_sessions=2)
    store.append([ev("a", "p", T0)])
    advance(1)
    store.append([ev("b", "p", T0)])
    advance(1)
    store.append([ev("a", "q", T0 + 1)])  # a is now more recent than b
    store.append([ev("c", "p", T0)])
    assert store.recent("b") == []
    assert [e.item_id for e in store.recent("a")] == ["p", "q"]
    assert len(store.recent("c")) == 1
    assert len(store) == 2
    assert store.evicted == 1


def test_memory_stays_bounded_under_many_sessions(make_store):
    store = make_store(max_sessions=50, max_items=3)
    for i in range(1000):
        store.append([ev(f"s{i}", f"p{j}", T0 + j) for j in range(5)])
    assert len(store) == 50
    assert sum(len(store.recent(f"s{i}")) for i in range(1000)) == 50 * 3
    assert store.evicted == 950


def test_expired_sessions_are_dropped_from_memory(make_store, advance):
    store = make_store(ttl_seconds=10)
    store.append([ev(f"s{i}", "p", T0) for i in range(5)])
    advance(11)
    store.append([ev("fresh", "p", T0)])
    assert len(store) == 1
    assert store.evicted == 0  # expiry is not eviction


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds must be > 0"),
        ({"max_items": 0}, "max_items must be in 1..10000"),
        ({"max_sessions": 0}, "max_sessions must be >= 1"),
        ({"max_bytes": 1000}, "max_bytes must be >= 1048576"),
    ],
)
def test_bad_limits_are_refused(limits, message):
    with pytest.raises(ConfigError, match=message):
        MemorySessionStore(**limits)


def test_settings_build_the_memory_store_with_their_limits():
    store = make_session_store(
        Settings(
            store_backend="memory",
            session_max_items=7,
            session_ttl_s=60,
            max_sessions=9,
            max_store_bytes=5 << 20,
        )
    )
    assert isinstance(store, MemorySessionStore)
    assert (store.max_items, store.ttl_seconds, store.max_sessions) == (7, 60.0, 9)
    assert store.max_bytes == 5 << 20
    assert Settings().max_store_bytes == 256 << 20


def _long_events(session: int, n: int, *, start: int = 0):
    """``n`` events of one session with ids at their longest (128-character session and event
    ids, 64-character product ids)."""
    sid = f"{session:08d}".ljust(128, "s")
    return [
        ev(sid, f"{j:08d}".ljust(64, "p"), T0 + j, event_id=f"{session}-{j}".ljust(128, "e"))
        for j in range(start, start + n)
    ]


def test_byte_bound_holds_with_long_ids_and_many_events():
    """The memory the sessions really take stays under ``max_bytes``.

    Measured with tracemalloc, not with the store's own accounting: the bytes Python allocated
    since the empty store was made, with every event object the test made already freed, so
    what is left is what the store holds. The store's accounting is checked to be at least
    that (it counts allocator blocks and container spare room), and at most the bound.
    Without a byte bound, the same 400 sessions of 100 events took about 15 MB here.
    """
    max_bytes = 2 << 20
    store = MemorySessionStore(max_items=100, max_sessions=1_000_000, max_bytes=max_bytes)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for session in range(400):
            store.append(_long_events(session, 150))  # more than max_items: trimmed too
            if session % 40 == 39:
                gc.collect()
                held = tracemalloc.get_traced_memory()[0] - baseline
                assert held <= store.nbytes <= max_bytes, (session, held, store.nbytes)
    finally:
        tracemalloc.stop()
    assert store.evicted > 0  # the byte bound, not the count, did the work
    assert len(store) + store.evicted == 400
    # the least recently updated went first: the newest session is whole and in order
    newest = store.recent(f"{399:08d}".ljust(128, "s"))
    assert [e.ts for e in newest] == [T0 + j for j in range(50, 150)]
    assert store.recent(f"{0:08d}".ljust(128, "s")) == []


def test_byte_bound_holds_with_many_one_event_sessions():
    # the other extreme: the per-session overhead dominates
    max_bytes = 1 << 20
    store = MemorySessionStore(max_sessions=1_000_000, max_bytes=max_bytes)
    for session in range(5000):
        store.append(_long_events(session, 1))
        assert store.nbytes <= max_bytes
    assert 0 < store.evicted < 5000


def test_one_session_larger_than_the_bound_keeps_its_newest_events():
    store = MemorySessionStore(max_items=10_000, max_bytes=1 << 20)
    store.append(_long_events(0, 100))
    store.append(_long_events(1, 5000))  # about 1.9 MB of events on its own
    assert store.nbytes <= 1 << 20
    assert len(store) == 1  # the other session went first
    kept = store.recent(f"{1:08d}".ljust(128, "s"))
    assert 1000 < len(kept) < 5000
    assert [e.ts for e in kept] == [T0 + j for j in range(5000 - len(kept), 5000)]


def test_dropped_sessions_give_their_bytes_back(make_store, advance):
    store = make_store(ttl_seconds=10)
    empty = store.nbytes
    store.append(_long_events(0, 30) + _long_events(1, 30))
    assert store.nbytes > empty + 2 * 30 * 300
    advance(11)
    assert store.recent(f"{0:08d}".ljust(128, "s")) == []  # expired on read
    store.append(_long_events(2, 1))  # expires session 1 on write
    assert len(store) == 1
    one = make_store()
    one.append(_long_events(2, 1))
    assert store.nbytes == one.nbytes
