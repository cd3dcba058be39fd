"""The in-process session store: the shared contract plus its own memory bound."""

from __future__ import annotations

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
    assert [e.product_id for e in store.recent("a")] == ["p", "q"]
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
    ],
)
def test_bad_limits_are_refused(limits, message):
    with pytest.raises(ConfigError, match=message):
        MemorySessionStore(**limits)


def test_settings_build_the_memory_store_with_their_limits():
    store = make_session_store(
        Settings(store_backend="memory", session_max_items=7, session_ttl_s=60, max_sessions=9)
    )
    assert isinstance(store, MemorySessionStore)
    assert (store.max_items, store.ttl_seconds, store.max_sessions) == (7, 60.0, 9)
