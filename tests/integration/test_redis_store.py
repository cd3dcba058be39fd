"""The Redis session store against a real redis-server: the shared contract, then faults."""

from __future__ import annotations

import time

import pytest
import redis

from engine.errors import ConfigError
from serving.errors import StoreUnavailableError
from serving.session_store import make_session_store
from serving.session_store.redis import RedisSessionStore
from serving.settings import Settings
from tests.store_contract import T0, SessionStoreContract, ev

pytestmark = pytest.mark.integration


@pytest.fixture
def make_store(redis_server, redis_key_prefix):
    stores: list[RedisSessionStore] = []

    def make(**limits) -> RedisSessionStore:
        # Each store gets its own prefix: a fresh, empty store on the shared server.
        prefix = f"{redis_key_prefix}{len(stores)}:"
        limits.setdefault("ttl_seconds", 60)
        store = RedisSessionStore.from_url(redis_server.url, key_prefix=prefix, **limits)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def advance():
    return time.sleep  # Redis expires keys on its own clock


class TestRedisStoreContract(SessionStoreContract):
    pass


def test_one_sorted_set_per_session_with_prefix_and_ttl(make_store, redis_server):
    store = make_store(ttl_seconds=30, max_items=2)
    store.append([ev("s", "a", T0 + 1), ev("s", "b", T0 + 2), ev("s", "c", T0 + 3)])
    raw = redis.Redis.from_url(redis_server.url)
    key = store.key("s")
    assert key.startswith(store.key_prefix)
    assert raw.type(key) == b"zset"
    assert raw.zcard(key) == 2
    assert 0 < raw.pttl(key) <= 30_000
    members = raw.zrange(key, 0, -1, withscores=True)
    assert [m.decode().rsplit("|", 1)[1] for m, _ in members] == ["b", "c"]
    assert [score for _, score in members] == [T0 + 2, T0 + 3]
    raw.close()


def test_settings_build_the_redis_store(redis_server, redis_key_prefix):
    store = make_session_store(
        Settings(
            store_backend="redis",
            redis_url=redis_server.url,
            redis_key_prefix=redis_key_prefix,
            session_max_items=4,
            session_ttl_s=5,
        )
    )
    assert isinstance(store, RedisSessionStore)
    assert (store.key_prefix, store.max_items, store.ttl_seconds) == (redis_key_prefix, 4, 5.0)
    store.append([ev("s", "a", T0)])
    assert len(store.recent("s")) == 1
    store.close()


def test_foreign_key_under_the_prefix_is_a_config_error(make_store, redis_server):
    store = make_store()
    redis.Redis.from_url(redis_server.url).set(store.key("s"), "not a sorted set")
    with pytest.raises(ConfigError, match="choose another NOWREC_REDIS_KEY_PREFIX"):
        store.recent("s")


def _fails_fast(call) -> tuple[StoreUnavailableError, float]:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        call()
    return info.value, time.monotonic() - started


def test_stopped_redis_fails_fast_then_recovers(fault_redis_server):
    store = RedisSessionStore.from_url(fault_redis_server.url, socket_timeout_s=0.5)
    store.append([ev("s", "a", T0)])
    fault_redis_server.stop()

    error, elapsed = _fails_fast(lambda: store.append([ev("s", "b", T0 + 1)]))
    assert "unavailable" in str(error) and str(fault_redis_server.port) in str(error)
    assert isinstance(error, ConnectionError)
    assert elapsed < 5  # not a hang: the client's short timeouts, no back-off
    _fails_fast(lambda: store.recent("s"))
    _fails_fast(store.ping)
    assert not store.healthy()

    fault_redis_server.start()  # same port, empty (no persistence)
    assert store.healthy()
    store.append([ev("s", "c", T0 + 2)])
    assert [e.item_id for e in store.recent("s")] == ["c"]
    store.close()


def _connections_received(server_url: str) -> int:
    with redis.Redis.from_url(server_url) as admin:
        return int(admin.info("stats")["total_connections_received"])


def test_frozen_redis_costs_one_timeout_per_read(fault_redis_server, redis_key_prefix):
    """A read of a frozen Redis (SIGSTOP: connections open, nothing answers) gives up after
    one ``redis_socket_timeout_s``. Before, the timed-out read was retried on a new connection:
    two full timeouts per read. The retry is counted where it cannot be mistaken: the server
    accepts the retry's connection (queued by the kernel while it is frozen) once resumed.
    """
    timeout_s = 0.5
    settings = Settings(
        store_backend="redis",
        redis_url=fault_redis_server.url,
        redis_key_prefix=redis_key_prefix,
        redis_socket_timeout_s=timeout_s,
    )
    store = make_session_store(settings)
    store.append([ev("s", "a", T0)])  # one pooled connection, open
    before = _connections_received(fault_redis_server.url)
    fault_redis_server.pause()
    try:
        error, elapsed = _fails_fast(lambda: store.recent("s"))
    finally:
        fault_redis_server.resume()
    print(f"frozen Redis read gave up after {elapsed:.3f} s (timeout {timeout_s} s)")
    assert "Timeout" in str(error)
    assert elapsed >= timeout_s * 0.9  # it did wait for Redis, as long as it is allowed to
    assert elapsed < 4 * timeout_s  # a hang guard, not a speed limit
    # no second attempt: the server never saw a reconnect (the admin connection is the +1)
    assert _connections_received(fault_redis_server.url) == before + 1
    assert [e.item_id for e in store.recent("s")] == ["a"]
    store.close()
