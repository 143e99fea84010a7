"""China's working-day calendar, for deadlines counted in working days (deletion within fifteen working days of an
account's cancellation, Network Data Security Management Regulations, draft of 2021).

A working day is Monday to Friday, less the holidays of the State Council's yearly notice, plus its make-up working
days (调休: weekend days declared working days). schemas/calendars/cn.json holds the notices for 2024-2026; a user's
file of the same form adds or replaces whole years.

When unsure, a day counts as a working day, so a deadline can only come earlier, never later (fail closed): a
weekday off that the data lacks would shorten the count, and so would a make-up working weekend it lacks. So in a
year whose notice is not in the data (outside it, or provisional like 2027, which lists only the 13 days off that the
全国年节及纪念日放假办法 fixes by law) every day but those statutory days counts, weekends included: such deadlines
come about a week early until the notice is added. ``covers`` and ``provisional`` tell callers when to warn.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from importlib import resources

CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time, with no daylight saving since 1991."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_KEYS = {"holidays", "workdays", "source", "provisional"}


@dataclasses.dataclass(frozen=True)
class WorkCalendar:
    """Days off and make-up working days of the years in ``years``; ``provisional`` years await their notice."""

    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    years: frozenset[int]
    provisional: frozenset[int]

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day; in a year without its notice, any day but a statutory day off."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5 or not self.confirmed(day)

    def confirmed(self, day: dt.date) -> bool:
        """Whether ``day``'s year has its official notice in the data (not provisional)."""
        return day.year in self.years and day.year not in self.provisional

    def covers(self, day: dt.date) -> bool:
        """Whether the data has ``day``'s year (provisionally or not); outside it every day counts."""
        return day.year in self.years

    def add_working_days(self, start: dt.datetime | dt.date, n: int) -> dt.date:
        """The n-th working day strictly after ``start``'s date (a datetime's own date).

        The day of the event does not count, as in the Civil Code (Article 201: a period in days starts on the next
        day); counting it would give an event at 23:59 almost a day less than one at 00:01.
        """
        if n < 1:
            raise ValueError(f"working days must be positive, got {n}")
        day = start.date() if isinstance(start, dt.datetime) else start
        while n:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """The number of working days in (a, b]."""
        if b < a:
            raise ValueError(f"{b} is before {a}")
        return sum(self.is_working_day(a + dt.timedelta(days=i)) for i in range(1, (b - a).days + 1))


def _dates(name: str, year: int, entry: dict, key: str) -> frozenset[dt.date]:
    """The ISO dates of one list of a year, each checked to lie in that year."""
    values = entry[key]
    if not isinstance(values, list):
        raise ValueError(f"{name}: {year}: {key} must be a list of ISO dates")
    days = set()
    for value in values:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValueError(f"{name}: {year}: {key}: {value!r} is not an ISO date (YYYY-MM-DD)")
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name}: {year}: {key}: {value!r} is not a date") from None
        # A year replaced by a later file must take all of its dates with it.
        if day.year != year:
            raise ValueError(f"{name}: {year}: {key}: {value} is not in {year}")
        days.add(day)
    return frozenset(days)


def _year(name: str, year: int, entry: object) -> tuple[frozenset[dt.date], frozenset[dt.date], bool]:
    """One year of a calendar file: (holidays, workdays, provisional), checked."""
    if not isinstance(entry, dict) or set(entry) != _KEYS:
        raise ValueError(f"{name}: {year}: must be an object with exactly the keys {sorted(_KEYS)}")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise ValueError(f"{name}: {year}: source must name the notice the dates come from")
    if not isinstance(entry["provisional"], bool):
        raise ValueError(f"{name}: {year}: provisional must be true or false")
    holidays, workdays = _dates(name, year, entry, "holidays"), _dates(name, year, entry, "workdays")
    if both := sorted(holidays & workdays):
        raise ValueError(f"{name}: {year}: {', '.join(map(str, both))} listed as both holiday and workday")
    if weekdays := sorted(day for day in workdays if day.weekday() < 5):
        raise ValueError(f"{name}: {year}: make-up workdays {', '.join(map(str, weekdays))} are not weekend days")
    return holidays, workdays, entry["provisional"]


def load_calendar(*texts: tuple[str, str]) -> WorkCalendar:
    """The calendar of (name, JSON text) files, each mapping "YYYY" to its year; a later file replaces a year."""
    years = {}
    for name, text in texts:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{name}: not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{name}: must be an object mapping years to their days")
        for key, entry in data.items():
            if not re.fullmatch(r"[0-9]{4}", key):
                raise ValueError(f"{name}: {key}: not a year")
            years[int(key)] = _year(name, int(key), entry)
    return WorkCalendar(
        holidays=frozenset().union(*(holidays for holidays, _, _ in years.values())),
        workdays=frozenset().union(*(workdays for _, workdays, _ in years.values())),
        years=frozenset(years),
        provisional=frozenset(year for year, (_, _, provisional) in years.items() if provisional),
    )


@functools.cache
def default_calendar(*extra: tuple[str, str]) -> WorkCalendar:
    """China's official calendar (schemas/calendars/cn.json), extended or overridden by ``extra`` (name, JSON text)."""
    text = resources.files("schemas").joinpath("calendars", "cn.json").read_text(encoding="utf-8")
    return load_calendar(("schemas/calendars/cn.json", text), *extra)


def deadline(event_time: dt.datetime, working_days: int, calendar: WorkCalendar) -> dt.datetime:
    """The end (23:59:59.999999, China time) of the ``working_days``-th working day after the event, in UTC.

    A period ends at 24:00 of its last day (Civil Code, Article 203). The event's day is taken in China time, as
    the regulation is China's: a cancellation at 20:00 UTC is already the next day in Beijing.
    """
    if event_time.tzinfo is None or event_time.utcoffset() is None:
        raise ValueError(f"event time {event_time} has no time zone")
    due = calendar.add_working_days(event_time.astimezone(CHINA_TIME).date(), working_days)
    return dt.datetime.combine(due, dt.time.max, tzinfo=CHINA_TIME).astimezone(dt.UTC)
