"""Shared pytest set-up. Fixtures for the real servers live in their own modules."""

from tests.fixtures_bigquery import *  # noqa: F403
from tests.fixtures_browser import *  # noqa: F403
from tests.fixtures_data import *  # noqa: F403
from tests.fixtures_kafka import *  # noqa: F403
from tests.fixtures_redis import *  # noqa: F403
from tests.fixtures_shop import *  # noqa: F403
