"""``python -m serving.consumer``: the session consumer as its own process (Kubernetes runs
it beside the API pods)::

    NOWREC_STORE_BACKEND=redis NOWREC_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 python -m serving.consumer

Every setting comes from a ``NOWREC_*`` environment variable (``--help`` lists them). SIGTERM
or SIGINT finish the batch in hand, commit it and close (exit status 0); invalid settings or a
store that cannot be set up exit 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import textwrap
import time
from collections.abc import Sequence

from pydantic import ValidationError

from engine.errors import ConfigError, EngineError
from serving.consumer.loop import SessionEventConsumer
from serving.errors import StoreUnavailableError
from serving.session_store import make_session_store
from serving.settings import Settings, describe_invalid, get_settings

log = logging.getLogger("nowrec.consumer")

#: The settings the consumer reads (serving/settings.py), listed by ``--help``.
_CONSUMER_SETTINGS = ("store_backend", "redis_", "session_", "max_sessions", "max_event_bytes",
                      "kafka_", "consumer_", "log_level")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """``--help`` only: every setting comes from a ``NOWREC_*`` environment variable."""
    lines = []
    for name, field in Settings.model_fields.items():
        if name.startswith(_CONSUMER_SETTINGS):
            lines.append(f"  NOWREC_{name.upper()} (default {field.default!r})")
            lines += textwrap.wrap(
                field.description or "", 96, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    return argparse.ArgumentParser(
        prog="python -m serving.consumer",
        description="Consume view events from Kafka into the session store (at least once, "
        "idempotent); malformed events go to the dead-letter topic. SIGTERM finishes the "
        "batch in hand, commits it and exits 0. Exit 2: invalid settings.",
        epilog="settings (environment variables):\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serving.consumer``: consume into the configured store until SIGTERM."""
    build_parser().parse_args(argv)  # --help answers without connecting to anything
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = get_settings()
    except ValidationError as exc:
        log.error("invalid NOWREC_* settings: %s", describe_invalid(exc))
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        settings.kafka_client_options()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    try:
        store = make_session_store(settings)
    except (EngineError, ValueError) as exc:
        log.error("cannot set up the %s session store: %s", settings.store_backend, exc)
        return 2
    try:
        store.ping()
    except ConfigError as exc:  # e.g. a refused password: waiting cannot help
        log.error("the %s session store refuses this consumer: %s", store.backend, exc)
        store.close()
        return 2
    except StoreUnavailableError as exc:  # down for now: the loop waits for it
        log.warning("the %s session store does not answer yet: %s", store.backend, exc)
    consumer = SessionEventConsumer(store, settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: consumer.stop())
    if settings.consumer_metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.consumer_metrics_port, addr=settings.consumer_metrics_host)
        except OSError as exc:
            log.error(
                "cannot serve /metrics on %s:%d (%s); set NOWREC_CONSUMER_METRICS_PORT "
                "(0 turns it off)",
                settings.consumer_metrics_host,
                settings.consumer_metrics_port,
                exc,
            )
            return 2
    log.info(
        "consuming %r as group %r from %s into the %s store",
        settings.kafka_topic,
        settings.kafka_group_id,
        settings.kafka_bootstrap_servers,
        store.backend,
    )
    started = time.monotonic()
    try:
        consumer.run()
    finally:
        store.close()
    s = consumer.stats
    log.info(
        "consumer stopped after %.1f s: %d applied, %d duplicates, %d dead-lettered, "
        "%d batches, %d store errors",
        time.monotonic() - started,
        s.applied,
        s.duplicates,
        s.dead_lettered,
        s.batches,
        s.store_errors,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
