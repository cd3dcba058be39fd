"""Redis session store: shared by every API pod and written by the consumer process.

One sorted set per session at ``{key_prefix}{session_id}``, scored by event time, members
``"{event_id}|{event_type}|{product_id}"`` (see :mod:`serving.session_store.base`).

An append is one round trip: one ``EVALSHA`` of a small Lua script that runs, for every session
in the batch, ``ZADD`` (idempotent: an existing member is not added again), ``ZREMRANGEBYRANK``
(keep the newest ``max_items``) and ``PEXPIRE`` (TTL of inactivity). It does exactly what a
pipeline of those three commands per session would do, atomically per batch, and about three
times faster, because redis-py spends most of a pipeline's time packing each command in Python
(benchmarks/consumer_rate.py measures both against raw pipelined ZADD). A batch touches many
keys, so on Redis Cluster the key prefix needs a hash tag (``{nowrec}:session:``).

Socket timeouts are short, a timed-out call is not retried, and every Redis failure becomes
:class:`~serving.errors.StoreUnavailableError`, so the API can degrade instead of hanging; a
refused password (or a key of another program) is a :class:`~engine.errors.ConfigError` that
names the setting to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.errors import ConfigError
from engine.session import SessionEvent
from serving.errors import StoreUnavailableError
from serving.events import ViewEvent
from serving.session_store.base import (
    AppendResult,
    SessionStore,
    check_limits,
    group_by_session,
    session_event,
)


def redis_client(
    url: str,
    *,
    socket_timeout_s: float = 0.5,
    password: str | None = None,
    ssl_ca_certs: str | None = None,
) -> redis.Redis:
    """A redis-py client that fails fast: one timeout per call, one immediate reconnect.

    ``password`` (AUTH) and ``ssl_ca_certs`` (the CA of a ``rediss://`` server) come from
    their own settings (serving/settings.py ``redis_client_options``), not from the URL.

    The retry reconnects a pooled connection that died while Redis restarted (a reset or a
    refused connection fails at once); with redis-py's default exponential back-off a dead
    server would block a request for seconds instead. A *timeout* is not retried: a server
    that did not answer within ``socket_timeout_s`` (frozen, swapping, stuck in a slow
    command) will not answer a second attempt sooner, and retrying it doubled the wait of
    every read (two full timeouts, plus a reconnect). So a call costs at most about one
    timeout, which is what ``redis_socket_timeout_s`` promises the API.
    """
    secure = {"password": password} if password is not None else {}
    if ssl_ca_certs is not None:
        secure["ssl_ca_certs"] = ssl_ca_certs
    return redis.Redis.from_url(
        url,
        **secure,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,)),
        health_check_interval=0,
    )


# KEYS: the session keys. ARGV: max_items, ttl_ms, then per key its member count n and n pairs
# (score, member). ZADD takes at most 1000 arguments at a time (Lua's unpack() has a limit).
_APPEND_LUA = """
local max_items = tonumber(ARGV[1])
local ttl_ms = ARGV[2]
local pos = 3
local added = 0
for _, key in ipairs(KEYS) do
  local last = pos + 2 * tonumber(ARGV[pos])
  local first = pos + 1
  while first <= last do
    local stop = math.min(first + 999, last)
    added = added + redis.call('ZADD', key, unpack(ARGV, first, stop))
    first = stop + 1
  end
  redis.call('ZREMRANGEBYRANK', key, 0, -(max_items + 1))
  redis.call('PEXPIRE', key, ttl_ms)
  pos = last + 1
end
return added
"""


def _where(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisSessionStore(SessionStore):
    """Recent events per session in Redis.

    Args:
        client: a redis-py client (see :func:`redis_client` for one that fails fast).
        key_prefix: namespace of the session keys (several deployments may share one Redis).
        ttl_seconds: a session key expires this long after the last append that touched it.
        max_items: events kept per session (the newest by event time).
    """

    backend = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = "nowrec:session:",
        ttl_seconds: float = 1800.0,
        max_items: int = 50,
    ) -> None:
        check_limits(ttl_seconds, max_items)
        self.client = client
        self.key_prefix = key_prefix
        self.ttl_seconds = float(ttl_seconds)
        self.max_items = int(max_items)
        self._ttl_ms = max(1, round(self.ttl_seconds * 1000))
        self.where = _where(client)
        # EVALSHA; redis-py loads the script again when a restarted Redis no longer has it.
        self._append_script = client.register_script(_APPEND_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout_s: float = 0.5,
        password: str | None = None,
        ssl_ca_certs: str | None = None,
        **kwargs: Any,
    ) -> RedisSessionStore:
        """A store on a new fail-fast client for ``url`` (``redis://host:port/db``, or
        ``rediss://`` for TLS); see :func:`redis_client`."""
        client = redis_client(
            url, socket_timeout_s=socket_timeout_s, password=password, ssl_ca_certs=ssl_ca_certs
        )
        return cls(client, **kwargs)

    def key(self, session_id: str) -> str:
        """The Redis key of a session."""
        return self.key_prefix + session_id

    def append(self, events: Iterable[ViewEvent]) -> AppendResult:
        groups, count = group_by_session(events)
        if not groups:
            return AppendResult(0, 0)
        keys: list[str] = []
        args: list[str | int | float] = [self.max_items, self._ttl_ms]
        for session_id, members in groups.items():
            keys.append(self.key(session_id))
            args.append(len(members))
            for member, ts in members.items():
                args += (ts, member)
        applied = int(self._run(self._append_script, keys=keys, args=args))
        return AppendResult(applied, count - applied)

    def recent(self, session_id: str, limit: int | None = None) -> list[SessionEvent]:
        limit = self._limit(limit)
        rows = self._run(self.client.zrange, self.key(session_id), -limit, -1, withscores=True)
        return [session_event(member.decode(), ts) for member, ts in rows]

    def forget(self, session_id: str) -> bool:
        return bool(self._run(self.client.delete, self.key(session_id)))

    def ping(self) -> None:
        self._run(self.client.ping)

    def close(self) -> None:
        self.client.close()

    def _run(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except redis.AuthenticationError as exc:
            raise ConfigError(
                f"Redis {self.where} refused this client ({exc}): set the right password in "
                "NOWREC_REDIS_PASSWORD (or none, if the server needs none)"
            ) from exc
        except redis.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise ConfigError(
                    f"a key under {self.key_prefix!r} in Redis {self.where} is not a sorted set; "
                    "another program uses that prefix: choose another NOWREC_REDIS_KEY_PREFIX"
                ) from exc
            raise StoreUnavailableError(f"Redis {self.where} refused the request: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"session store Redis {self.where} is unavailable ({type(exc).__name__}: {exc}); "
                "check that it runs and NOWREC_REDIS_URL points to it"
            ) from exc
