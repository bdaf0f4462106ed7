"""The demo's sense of time: one fixed ``today`` and the twelve monthly periods before it.

Everything time-dependent is derived from ``today`` (never the wall clock) so that the same seed
and the same ``today`` give identical rows. Times are generated in the bank's local zone
(Asia/Shanghai, UTC+8, no DST) and stored as naive UTC, like every DateTime column.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

UTC_OFFSET = dt.timedelta(hours=8)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's last day (31 Mar - 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - day 28 always exists


def local_to_utc(day: dt.date, seconds: int) -> dt.datetime:
    """A local wall-clock time (``seconds`` after local midnight of ``day``) as naive UTC."""
    return dt.datetime(day.year, day.month, day.day) + dt.timedelta(seconds=seconds) - UTC_OFFSET


@dataclass(frozen=True)
class Period:
    """One monthly period ``[start, end]`` (both inclusive) of the year that ends ``today``."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def day_numbered(self, day_of_month: int) -> dt.date:
        """The date in this period whose day-of-month is ``day_of_month`` (1-28: always one)."""
        candidate = self.start.replace(day=day_of_month)
        if candidate < self.start:
            candidate = add_months(candidate, 1)
        return candidate


@dataclass(frozen=True)
class Timeline:
    """``today`` plus the 12 periods ending on it (period 11 ends today)."""

    today: dt.date
    periods: tuple[Period, ...] = field(init=False)

    def __post_init__(self):
        bounds = [add_months(self.today, -12 + k) for k in range(13)]
        periods = tuple(
            Period(bounds[k] + dt.timedelta(days=1), bounds[k + 1]) for k in range(12)
        )
        object.__setattr__(self, "periods", periods)

    @property
    def start(self) -> dt.date:
        return self.periods[0].start

    @property
    def now(self) -> dt.datetime:
        """The demo's "now": 10:00 local on ``today``, as naive UTC."""
        return local_to_utc(self.today, 10 * 3600)
