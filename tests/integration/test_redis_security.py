"""Redis as managed Redis runs it, against a real redis-server: a password (``requirepass``)
from its own setting, TLS (``rediss://``) with a CA of the test's own, and clear errors when
either is wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.errors import ConfigError
from serving.errors import StoreUnavailableError
from serving.events import ViewEvent
from serving.session_store import make_session_store
from serving.settings import Settings
from tests.fixtures_redis import RedisServer, _require_redis, tls_files
from tests.process_support import consumer_refusal

pytestmark = pytest.mark.integration

PASSWORD = "redis-password-from-a-secret"


def view(session: str, product: str) -> ViewEvent:
    return ViewEvent(session_id=session, product_id=product, ts=1_700_000_000)


@pytest.fixture
def locked_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server that requires a password."""
    with RedisServer(_require_redis(), work_dir=tmp_path, password=PASSWORD) as server:
        yield server


@pytest.fixture
def tls_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server that speaks TLS only, with a certificate of the test's own CA."""
    binary = _require_redis()
    tls = tls_files(tmp_path / "tls")
    with RedisServer(binary, work_dir=tmp_path, password=PASSWORD, tls=tls) as server:
        yield server


def store_for(server: RedisServer, **settings):
    return make_session_store(Settings(store_backend="redis", redis_url=server.url, **settings))


def test_the_password_comes_from_its_own_setting(locked_redis):
    store = store_for(locked_redis, redis_password=PASSWORD)
    store.append([view("s", "p1")])
    assert [e.item_id for e in store.recent("s")] == ["p1"]
    assert store.healthy()
    store.close()


@pytest.mark.parametrize("password", [None, "not-the-password"])
def test_a_missing_or_wrong_password_says_which_setting_to_fix(locked_redis, password):
    store = store_for(locked_redis, redis_password=password)
    with pytest.raises(ConfigError, match="refused this client .* NOWREC_REDIS_PASSWORD"):
        store.append([view("s", "p1")])
    with pytest.raises(ConfigError, match="NOWREC_REDIS_PASSWORD") as info:
        store.ping()
    assert PASSWORD not in str(info.value) and "not-the-password" not in str(info.value)
    assert not store.healthy()  # readiness reports it
    store.close()


def test_the_consumer_process_exits_2_on_a_wrong_password(locked_redis):
    log = consumer_refusal(
        {
            "NOWREC_STORE_BACKEND": "redis",
            "NOWREC_REDIS_URL": locked_redis.url,
            "NOWREC_REDIS_PASSWORD": "not-the-password",
        }
    )
    assert "refuses this consumer" in log and "NOWREC_REDIS_PASSWORD" in log
    assert "not-the-password" not in log


def test_tls_with_the_ca_of_the_server(tls_redis):
    assert tls_redis.url.startswith("rediss://")
    store = store_for(tls_redis, redis_password=PASSWORD, redis_ssl_cafile=str(tls_redis.tls.ca))
    store.append([view("s", "p1")])
    assert [e.item_id for e in store.recent("s")] == ["p1"]
    store.close()
    # without the CA the server's certificate is not trusted: no session is read
    untrusted = store_for(tls_redis, redis_password=PASSWORD)
    with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
        untrusted.recent("s")
    untrusted.close()
