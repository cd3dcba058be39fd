"""The ``--start``/``--end`` time window shared by every source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from engine.errors import ConfigError


def parse_time(text: str, option: str = "time") -> datetime:
    """An ISO date or date-time as an aware UTC datetime; naive values are taken as UTC.

    Accepts ``2024-01-31``, ``2024-01-31T12:00``, ``2024-01-31 12:00:00Z`` or with an offset.
    """
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    if s.upper().endswith(" UTC"):
        s = s[:-4]
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(s), datetime.min.time())
        except ValueError:
            raise ConfigError(
                f"{option} {text!r} is not a date or time; use e.g. 2024-01-31 or "
                "2024-01-31T12:00:00Z"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class TimeWindow:
    """Events with ``start <= ts < end`` (either bound optional), aware UTC datetimes."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start >= self.end:
            raise ConfigError(
                f"--start {self.start.isoformat()} is not before --end {self.end.isoformat()}"
            )

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> TimeWindow:
        return cls(
            parse_time(start, "--start") if start else None,
            parse_time(end, "--end") if end else None,
        )

    @property
    def is_open(self) -> bool:
        """True when no bound is set (nothing to filter)."""
        return self.start is None and self.end is None

    @property
    def start_epoch(self) -> float | None:
        return self.start.timestamp() if self.start else None

    @property
    def end_epoch(self) -> float | None:
        return self.end.timestamp() if self.end else None

    def describe(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }
