"""Session stores behind one interface: in-process (embedded default) or Redis (shared).

``make_session_store(settings)`` builds the one the settings name.
"""

from __future__ import annotations

from serving.session_store.base import AppendResult, SessionStore
from serving.session_store.memory import MemorySessionStore
from serving.settings import Settings

__all__ = [
    "AppendResult",
    "MemorySessionStore",
    "SessionStore",
    "make_session_store",
]


def make_session_store(settings: Settings) -> SessionStore:
    """The store that ``settings.store_backend`` names, with the settings' limits."""
    if settings.store_backend == "redis":
        from serving.session_store.redis import RedisSessionStore

        return RedisSessionStore.from_url(
            **settings.redis_client_options(),
            socket_timeout_s=settings.redis_socket_timeout_s,
            key_prefix=settings.redis_key_prefix,
            ttl_seconds=settings.session_ttl_s,
            max_items=settings.session_max_items,
        )
    return MemorySessionStore(
        ttl_seconds=settings.session_ttl_s,
        max_items=settings.session_max_items,
        max_sessions=settings.max_sessions,
        max_bytes=settings.max_store_bytes,
    )
