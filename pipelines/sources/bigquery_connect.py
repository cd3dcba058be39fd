"""Creating the google BigQuery clients: done here, at the edge, for the CLI only.

Library code (:mod:`pipelines.sources.bigquery`) takes the clients as arguments, so that tests
pass the emulator's and nothing below the CLI reads credentials or the environment.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.errors import ConfigError, SourceError

log = logging.getLogger(__name__)


def connect(
    project: str | None = None,
    api_endpoint: str | None = None,
    storage_endpoint: str | None = None,
    use_storage_api: bool = True,
) -> tuple[Any, Any]:
    """A BigQuery client and, when possible, a Storage Read API client.

    Args:
        project: billing project for query jobs (default: the credentials' project).
        api_endpoint: REST endpoint of a BigQuery emulator (e.g. ``http://127.0.0.1:9050``);
            anonymous credentials are used with it.
        storage_endpoint: ``host:port`` of the emulator's Storage Read API (plain gRPC).
        use_storage_api: ``False`` reads results through the REST API only.

    Returns:
        ``(client, bqstorage_client)``; the second is ``None`` when the google library should
        create its own (real BigQuery) or when the Storage API is off.
    """
    from google.cloud import bigquery

    try:
        if api_endpoint:
            from google.auth.credentials import AnonymousCredentials

            client = bigquery.Client(
                project=project or "local",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": api_endpoint},
            )
        else:
            client = bigquery.Client(project=project)
    except Exception as exc:  # google.auth's DefaultCredentialsError, or no project found
        name = type(exc).__name__
        if name == "DefaultCredentialsError":
            raise SourceError(
                "no Google credentials found: run `gcloud auth application-default login`, "
                "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
            ) from exc
        if "project" in str(exc).lower():
            raise ConfigError(
                "no Google Cloud project: give --project (the project that runs the query)"
            ) from exc
        raise SourceError(f"cannot create the BigQuery client: {name}: {exc}") from exc

    storage = None
    if use_storage_api and storage_endpoint:
        import grpc
        from google.cloud.bigquery_storage_v1 import BigQueryReadClient
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
            BigQueryReadGrpcTransport,
        )

        channel = grpc.insecure_channel(storage_endpoint)
        storage = BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    elif use_storage_api and api_endpoint:
        log.info("emulator without --bigquery-storage-endpoint: reading results over REST")
    return client, storage
