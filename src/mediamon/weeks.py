"""ISO weeks in Asia/Shanghai time: the calendar every weekly figure, digest and schedule uses (one home for it).

Shanghai has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for these dates.
The warehouse's SQL macros `shanghai_week` and `shanghai_iso_week` (views.sql) apply the same rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso_week(when: datetime) -> str:
    """'2025-W06': the ISO week of a time in Shanghai."""
    return when.astimezone(SHANGHAI).strftime("%G-W%V")


def week_monday(week: str) -> date:
    """The Monday of an ISO week such as 2025-W06."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def week_dates(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week."""
    monday = week_monday(week)
    return monday, monday + timedelta(days=6)


def week_end(week: str) -> datetime:
    """Sunday 23:00 Shanghai time of an ISO week (when a replayed week has been read)."""
    return datetime.combine(week_dates(week)[1], time(23), SHANGHAI)


def iso_weeks(first: str, count: int) -> list[str]:
    """`count` consecutive ISO weeks starting at `first`."""
    monday = week_monday(first)
    return [(monday + timedelta(weeks=i)).strftime("%G-W%V") for i in range(count)]


def previous_week(now: datetime) -> str:
    """The last complete ISO week before `now`, in Shanghai time (what a Monday digest reports)."""
    local = now.astimezone(SHANGHAI).date()
    return (local - timedelta(days=local.isoweekday())).strftime("%G-W%V")


def effective_at(published_at: datetime | None, first_seen_at: datetime) -> datetime:
    """The time an article counts at: its date, unless missing or more than a day after it was first seen (a feed's
    future date is not believed). The SQL macro `effective_at` in views.sql is the same rule."""
    if published_at is None or published_at > first_seen_at + timedelta(days=1):
        return first_seen_at
    return published_at
