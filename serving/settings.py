"""Settings of the live service, read once from the environment (prefix ``NOWREC_``).

Example: ``NOWREC_STORE_BACKEND=redis NOWREC_REDIS_URL=redis://redis:6379/0 python -m
serving.consumer``, or ``NOWREC_API_TOKEN=... python -m serving --artifacts artifacts``. Every field is documented below; ``get_settings()`` caches one instance.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import ConfigError
from engine.ranking import MAX_FRESHNESS_BOOST
from serving.validation_errors import describe_errors, summary

_TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
#: A bearer token: 16 to 512 characters (production asks for 32, serving/app.py).
Token = Annotated[SecretStr | None, Field(min_length=16, max_length=512)]
#: A web origin as browsers send it in the Origin header: scheme, host and optional port.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


class Settings(BaseSettings):
    """Every knob of the live service. Environment variables are ``NOWREC_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="NOWREC_", extra="ignore", frozen=True)

    # -- session store ---------------------------------------------------------------------
    store_backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="Session store: 'memory' (in this process, the embedded default) or "
        "'redis' (shared by every API pod and the consumer process).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis URL: redis://host:port/db, or rediss://host:port/db for TLS.",
    )
    redis_password: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Redis password (AUTH), from a Secret; kept out of the URL, which is "
        "logged and shown in errors. Give it here or in the URL, not both.",
    )
    redis_ssl_cafile: str | None = Field(
        default=None,
        min_length=1,
        description="rediss:// only: the CA certificate (PEM file) that signed the server's "
        "certificate, when it is not one the system trusts (a private CA). The server's "
        "certificate and host name are always checked.",
    )
    redis_key_prefix: str = Field(
        default="nowrec:session:",
        min_length=1,
        max_length=64,
        description="Prefix of the session keys in Redis (one sorted set per session).",
    )
    redis_socket_timeout_s: float = Field(
        default=0.5,
        gt=0,
        le=30,
        description="Redis connect and read timeout; past it the store reports unavailable "
        "and the API degrades instead of waiting. A timed-out call is not retried, so a "
        "frozen Redis costs a read about this long, not a multiple of it.",
    )
    session_ttl_s: float = Field(
        default=1800.0,
        gt=0,
        le=7 * 86400,
        description="A session is forgotten this many seconds after its last event "
        "(30 minutes, the usual session inactivity gap).",
    )
    session_max_items: int = Field(
        default=50, ge=1, le=10_000, description="Events kept per session (the newest)."
    )
    max_sessions: int = Field(
        default=100_000,
        ge=1,
        le=100_000_000,
        description="Memory store only: sessions kept at most; beyond it the least recently "
        "updated is evicted (see also max_store_bytes).",
    )
    max_event_bytes: int = Field(
        default=4096, ge=256, le=1_048_576, description="Largest accepted encoded event."
    )

    # -- experiments and the closed loop ----------------------------------------------------
    experiments_file: str | None = Field(
        default=None,
        description="TOML file declaring A/B experiments (see the README); re-read when it "
        "changes. Unset: no experiments, every answer is variant 'default'.",
    )
    experiments_allocation_file: str | None = Field(
        default=None,
        description="Thompson allocation shares written by `pipelines experiment-report "
        "--allocate` (default: allocation.json beside the experiments file).",
    )
    experiment_reports_dir: str | None = Field(
        default=None,
        description="Where `pipelines experiment-report --out DIR/<name>.json` leaves reports "
        "(Kafka mode, where the logs are in BigQuery); GET /v1/admin/experiments/{name} "
        "serves them. With the files sink the service computes the report itself.",
    )
    record_sink: Literal["auto", "files", "kafka", "off"] = Field(
        default="auto",
        description="Where impression records (and, with files, outcome events) go: 'files' "
        "under logs_dir, 'kafka' (the impressions topic; outcomes are in the events topic), "
        "'off'; 'auto' is kafka in Kafka events mode, files otherwise.",
    )
    logs_dir: str = Field(
        default="logs",
        min_length=1,
        description="Files sink: impressions/ and events/ JSON-lines files, read by "
        "`python -m pipelines experiment-report --logs DIR`.",
    )
    kafka_impressions_topic: str = Field(
        default="nowrec.impressions",
        pattern=_TOPIC_PATTERN,
        description="Kafka sink: the topic of impression records (keyed by session id).",
    )
    record_queue_size: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Records waiting for the sink at most; beyond, new ones are dropped and "
        "counted (nowrec_records_dropped_total) so that answers never wait for a log.",
    )
    log_rotate_bytes: int = Field(
        default=64 << 20, ge=1024, description="Files sink: a new file after this many bytes."
    )
    log_rotate_s: float = Field(
        default=3600.0, gt=0, description="Files sink: a new file after this many seconds."
    )
    log_retention_days: float = Field(
        default=90.0,
        ge=0,
        description="Files sink: files last written longer ago are removed (0 keeps them).",
    )
    attribution_window_s: float = Field(
        default=1800.0,
        gt=0,
        le=7 * 86400,
        description="A click without a recommendation id is attributed to the newest answer "
        "that showed the product to the same session within this many seconds.",
    )
    attribution_max_sessions: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="Sessions whose recent answers are kept for the live attribution metrics.",
    )

    # -- Kafka -----------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated Kafka bootstrap host:port list."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client of the service reaches the brokers: PLAINTEXT, "
        "SSL (TLS), SASL_PLAINTEXT or SASL_SSL (TLS and a user name and password: what "
        "managed brokers ask for).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None,
        description="SASL_* only: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, as the broker says.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, min_length=1, max_length=1024, description="SASL_* only: the user name."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="SASL_* only: the password, from a Secret (never logged).",
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        min_length=1,
        description="SSL and SASL_SSL only: the CA certificate (PEM file) that signed the "
        "brokers' certificates, when it is not one the system trusts. The brokers' "
        "certificates and host names are always checked.",
    )
    kafka_topic: str = Field(
        default="nowrec.events", pattern=_TOPIC_PATTERN, description="Topic of live events."
    )
    kafka_group_id: str = Field(
        default="nowrec-sessions",
        pattern=_TOPIC_PATTERN,
        description="Consumer group; consumers in one group share the topic's partitions.",
    )
    kafka_dead_letter_topic: str = Field(
        default="nowrec.events.dead-letter",
        pattern=_TOPIC_PATTERN,
        description="Where malformed events go, raw bytes and the error in headers.",
    )
    kafka_dead_letter_max_bytes: int = Field(
        default=65_536,
        ge=0,
        le=900_000,
        description="A malformed event larger than this is dead-lettered as a copy of its "
        "first bytes, with its size and origin in headers: a record near the broker's size "
        "limit plus the dead-letter headers would not fit, and must not stall the partition.",
    )
    consumer_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Records per poll; one store round trip and one offset commit each.",
    )
    consumer_poll_timeout_ms: int = Field(
        default=200,
        ge=10,
        le=5000,
        description="Longest wait of one poll; bounds how late a shutdown request is seen.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        le=5000,
        description="Broker-side wait for new data in a fetch; bounds event-to-visible latency.",
    )
    kafka_session_timeout_ms: int = Field(
        default=6000, ge=1000, le=300_000, description="Consumer group session timeout."
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=1000, ge=100, le=60_000, description="Consumer group heartbeat interval."
    )
    kafka_max_poll_interval_ms: int = Field(
        default=10_000,
        ge=1000,
        le=3_600_000,
        description="A consumer that does not poll this long leaves the group (its "
        "partitions go to another member; uncommitted records are delivered again).",
    )
    kafka_request_timeout_ms: int = Field(
        default=5000, ge=1000, le=300_000, description="Kafka request timeout (produce, commit)."
    )
    kafka_check_crcs: bool = Field(
        default=True,
        description="Verify each record batch's CRC-32C. Keep it on; it is cheap with the C "
        "implementation (the 'crc32c' package) and about half the consumer's CPU without.",
    )
    consumer_store_retry_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Pause before a batch is tried again while the session store is down.",
    )
    consumer_metrics_host: str = Field(
        default="127.0.0.1",
        description="Standalone consumer: address of its Prometheus /metrics endpoint "
        "(0.0.0.0 in a container).",
    )
    consumer_metrics_port: int = Field(
        default=9108,
        ge=0,
        le=65535,
        description="Standalone consumer: port of its /metrics endpoint; 0 turns it off.",
    )

    # -- HTTP API --------------------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the API listens on (0.0.0.0 in a container).",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    mode: Literal["development", "production"] = Field(
        default="development",
        description="'production' refuses to start without api_token; 'development' without "
        "a token leaves the write and admin endpoints open (and says so in the log).",
    )
    api_token: Token = Field(
        default=None,
        description="Bearer token of the write and admin endpoints (events, products, "
        "reload): 'Authorization: Bearer <token>'. At least 16 characters.",
    )
    artifacts: str = Field(
        default="artifacts",
        min_length=1,
        description="Model bundles: an artifacts root holding 'latest' (watched for new "
        "versions) or one bundle directory; a local path or a file:// URI.",
    )
    reload_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=86_400,
        description="How often the 'latest' link is checked for a new bundle; 0 turns the "
        "watcher off (POST /v1/admin/reload still reloads).",
    )
    new_products_capacity: int = Field(
        default=100_000,
        ge=0,
        le=10_000_000,
        description="Products that PUT /v1/products may add before the next training run "
        "(bounds memory and every worker thread's scratch buffers).",
    )
    freshness_boost: float | None = Field(
        default=None,
        ge=0,
        le=MAX_FRESHNESS_BOOST,
        allow_inf_nan=False,
        description="Overrides the bundle's freshness boost (engine/ranking.py): added to the "
        "score of the product without views closest to a page of its category, so new "
        "products get shown (exploration); 0 turns it off. Unset: the value the bundle was "
        "trained with (default 2.5).",
    )
    product_updates: Literal["file", "kafka"] = Field(
        default="file",
        description="Where PUT /v1/products writes each update before it answers, and where "
        "every API process reads the updates from (at start, and as they come): 'file' (an "
        "append-only log of this one process, product_log) or 'kafka' (the compacted topic "
        "product_updates_topic, shared by every pod: use it with more than one API process).",
    )
    product_log: str | None = Field(
        default=None,
        min_length=1,
        description="File mode: the product log file (fsync'd per update, replayed at start, "
        "compacted as it grows); unset: product-updates.jsonl in the artifacts root. One "
        "process per file.",
    )
    product_updates_topic: str = Field(
        default="nowrec.products",
        pattern=_TOPIC_PATTERN,
        description="Kafka mode: the topic of product updates, keyed by product id; create it "
        "with cleanup.policy=compact.",
    )
    events_mode: Literal["embedded", "kafka"] = Field(
        default="embedded",
        description="POST /v1/events: 'embedded' appends to the session store at once; "
        "'kafka' produces to kafka_topic for the consumers.",
    )
    embedded_consumer: bool = Field(
        default=False,
        description="Run the Kafka consumer inside the API process, writing the session "
        "store (one-process set-ups; Kubernetes runs `python -m serving.consumer` instead).",
    )
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Worker threads of the blocking calls: Redis session reads, event and "
        "product writes, admin calls (recommendations themselves run on the event loop).",
    )
    max_body_bytes: int = Field(
        default=262_144,
        ge=1024,
        le=16_777_216,
        description="Largest request body; larger ones get 413.",
    )
    fast_recommendations: bool = Field(
        default=True,
        description="GET /v1/recommendations answered before the middleware stack and the "
        "framework's router (same validation, answer, errors and metrics; a cross-origin "
        "browser request still takes the stack for its CORS headers; benchmarks/"
        "serve_load.py); false leaves it to FastAPI.",
    )
    max_event_ahead_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="An event stamped more than this many seconds after the server's clock "
        "is refused by POST /v1/events (422: fix the sender's clock) and clamped to the "
        "consumer's clock by the Kafka consumer (the producer was already acknowledged): "
        "one event from the future would otherwise stay the newest of its session.",
    )
    wait_for_model: bool = Field(
        default=False,
        description="Start even when the artifacts hold no servable bundle yet, and load the "
        "first one the reload watcher finds (not ready, and 503 on model routes, until then). "
        "Off: exit with a clear error at start-up (what `make serve` wants); on in Kubernetes, "
        "where the API may start before the first training run has finished.",
    )
    ready_requires_store: bool = Field(
        default=True,
        description="When the session store does not answer, /readyz reports it and answers "
        "503 (true) or reports it and still answers 200 (false: every pod keeps serving "
        "degraded answers from the current product instead of all leaving the Service at "
        "once during a Redis outage).",
    )
    store_retry_after_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="After the session store failed, requests answer degraded for this long "
        "before trying it again (so an outage costs one timeout, not one per request).",
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Concurrent connections uvicorn accepts; beyond it it answers 503.",
    )
    access_log: bool = Field(default=False, description="Log every request (uvicorn).")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the service."
    )

    # -- exposure and resource bounds of the API process -----------------------------------
    max_store_bytes: int = Field(
        default=256 << 20,
        ge=1 << 20,
        le=1 << 40,
        description="Memory store only: bytes the sessions may hold; beyond it the least "
        "recently updated sessions are evicted. A count of sessions alone does not bound "
        "memory (an event is about 210 bytes with short ids, more with long ones: 100,000 "
        "sessions of 50 events are about 1 GB). 256 MiB fits an API pod's 1.5 GiB limit beside "
        "a Diginetica-sized model (0.55 GB, 0.61 GB during a swap) with room for a catalogue "
        "twice as large.",
    )
    http_request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request must arrive whole (head and body) within this many seconds of "
        "its first byte, and a new connection must send its first request within it; "
        "otherwise the connection is closed (408 when part of a request came). Without it a "
        "few slow clients sending a byte at a time hold every connection slot "
        "(max_connections). The app's own time to answer is not limited.",
    )
    http_keep_alive_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="An idle kept-alive connection is closed this many seconds after its last "
        "response (uvicorn's timeout_keep_alive). Behind a proxy or load balancer that keeps "
        "connections open longer, set it above that proxy's idle timeout.",
    )
    docs: bool = Field(
        default=True,
        description="Serve the API's description: /docs (Swagger UI), /redoc and "
        "/openapi.json, their scripts served by the API itself (no CDN: they work offline). "
        "Off in the Kubernetes manifests: a public service need not describe itself.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Where Prometheus metrics are served. Unset: GET /metrics on the API's "
        "port. A port: on their own HTTP server at host:port (any path), and not on the "
        "API's port, so that a route to the API never exposes them. 0: not served at all.",
    )

    # -- the console, the product-page script, browsers ------------------------------------
    console: bool = Field(
        default=True,
        description="Serve the console at /console: the model, the product space, a live "
        "try-out and the experiments, in the browser. It asks for api_token or console_token "
        "when either is set (open in development mode without tokens, like the admin routes).",
    )
    console_token: Token = Field(
        default=None,
        description="Read-only token of the console: it opens /console and reads the model, "
        "the live figures and the experiment reports, but cannot reload, change products or "
        "post events outside the console's own try-out sessions. At least 16 characters (32 "
        "in production).",
    )
    browser_token: Token = Field(
        default=None,
        description="Token of POST /v1/events only, for the product-page script (/nowrec.js, "
        "data-token). It is public: anyone who reads the shop's page can send events with it, "
        "as with any analytics key; it cannot change products or models, nor read admin "
        "routes. Unset: the script only fetches recommendations.",
    )
    cors_origins: str = Field(
        default="",
        max_length=4096,
        description="Comma-separated origins (scheme://host[:port]) of the shop pages that may "
        "call the API from the browser (CORS: GET routes and POST /v1/events, preflights "
        "answered); '*' for any. Empty (the default): no CORS headers, so browsers refuse "
        "calls from pages of another origin.",
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",")):
            if origin and origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin[:80]!r} is not an origin: write scheme://host[:port] without a "
                    "path, e.g. https://shop.example or http://127.0.0.1:8080, several separated "
                    "by commas, or * for any"
                )
        return value

    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: CORS off)."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def bootstrap_servers(self) -> list[str]:
        """``kafka_bootstrap_servers`` as the list kafka-python takes."""
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    def check_clients(self, kafka: bool) -> None:
        """Refuse at start the Redis settings (with the Redis store) and, with ``kafka``, the
        Kafka settings that cannot connect, rather than at the first request or event.

        Raises:
            ConfigError: see :meth:`redis_client_options` and :meth:`kafka_client_options`.
        """
        if self.store_backend == "redis":
            self.redis_client_options()
        if kafka:
            self.kafka_client_options()

    def redis_client_options(self) -> dict[str, Any]:
        """How the Redis client reaches the server: the URL, the password (``password``) and,
        over TLS (``rediss://``), the CA file (``ssl_ca_certs``).

        Raises:
            ConfigError: a password given twice (in the URL and NOWREC_REDIS_PASSWORD), a CA
                file without TLS, or one that does not exist.
        """
        parts = urlsplit(self.redis_url)
        options: dict[str, Any] = {"url": self.redis_url}
        if self.redis_password is not None:
            if parts.password:
                raise ConfigError(
                    "the Redis password is given twice, in NOWREC_REDIS_URL and in "
                    "NOWREC_REDIS_PASSWORD: keep it in NOWREC_REDIS_PASSWORD (a Secret) only"
                )
            options["password"] = self.redis_password.get_secret_value()
        if self.redis_ssl_cafile is not None:
            if parts.scheme != "rediss":
                raise ConfigError(
                    "NOWREC_REDIS_SSL_CAFILE is for TLS: use a rediss:// URL in NOWREC_REDIS_URL"
                )
            options["ssl_ca_certs"] = _existing_file(
                self.redis_ssl_cafile, "NOWREC_REDIS_SSL_CAFILE"
            )
        return options

    @property
    def uses_kafka(self) -> bool:
        """Whether the API process talks to Kafka (events, product updates, records, or the
        embedded consumer); the consumer and the log sink always do."""
        return (
            self.events_mode == "kafka"
            or self.product_updates == "kafka"
            or self.record_sink == "kafka"
            or self.embedded_consumer
        )

    def kafka_client_options(self) -> dict[str, Any]:
        """How every Kafka client of the service (producers and consumers alike) reaches the
        brokers, as kafka-python keyword arguments: the servers, the security protocol, the
        SASL mechanism and credentials, the CA file.

        Raises:
            ConfigError: settings that cannot connect (SASL without a mechanism, user name or
                password; credentials or a CA file with a protocol that does not use them; a
                CA file that does not exist); the message names the variable to set.
        """
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers(),
            "security_protocol": protocol,
        }
        sasl_settings = {
            f"NOWREC_KAFKA_SASL_{name.upper()}": getattr(self, f"kafka_sasl_{name}")
            for name in ("mechanism", "username", "password")
        }
        if sasl:
            missing = [name for name, value in sasl_settings.items() if value is None]
            if missing:
                raise ConfigError(
                    f"NOWREC_KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)} "
                    "(the mechanism your broker uses: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "
                    "the password from a Secret)"
                )
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        elif given := [name for name, value in sasl_settings.items() if value is not None]:
            raise ConfigError(
                f"{', '.join(given)} are for SASL, which NOWREC_KAFKA_SECURITY_PROTOCOL="
                f"{protocol} does not use: set it to SASL_SSL (or SASL_PLAINTEXT)"
            )
        if self.kafka_ssl_cafile is not None:
            if not tls:
                raise ConfigError(
                    f"NOWREC_KAFKA_SSL_CAFILE is for TLS, which NOWREC_KAFKA_SECURITY_PROTOCOL="
                    f"{protocol} does not use: set it to SSL or SASL_SSL"
                )
            options["ssl_cafile"] = _existing_file(self.kafka_ssl_cafile, "NOWREC_KAFKA_SSL_CAFILE")
        return options

    def kafka_consumer_options(self) -> dict[str, Any]:
        """What every Kafka consumer of the service shares (kafka-python keyword arguments):
        how to reach the brokers (:meth:`kafka_client_options`), offsets committed by hand
        only, the fetch wait, CRC checks, timeouts."""
        return {
            **self.kafka_client_options(),
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": self.kafka_fetch_max_wait_ms,
            "check_crcs": self.kafka_check_crcs,
            "request_timeout_ms": self.kafka_request_timeout_ms,
            "bootstrap_timeout_ms": self.kafka_request_timeout_ms,
            "reconnect_backoff_max_ms": 1000,
        }


def describe_invalid(exc: ValidationError) -> str:
    """What is wrong with the environment's settings, by variable (values never shown: some
    are secrets)."""
    problems = describe_errors(
        exc.errors(include_url=False),
        lambda loc: "NOWREC_" + "_".join(str(p) for p in loc).upper(),
        show_input=False,
    )
    return summary(problems, most=len(problems))


def _existing_file(path: str, variable: str) -> str:
    if not Path(path).is_file():
        raise ConfigError(
            f"{variable} {path} is not a file: mount the CA certificate (a PEM file, e.g. "
            "from a Secret) there, or leave it unset to trust the system's CAs"
        )
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
