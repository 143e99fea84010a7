"""Working-day deadlines on China's official calendar: every expected date is counted by hand from the State Council
notices (schemas/calendars/cn.json), never by the code under test."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from transforms.logic.workdays import deadline, default_calendar, load_calendar

CAL = default_calendar()
BEIJING = timezone(timedelta(hours=8))


def utc_end_of_beijing_day(day: date) -> datetime:
    """23:59:59.999999 in Beijing on ``day``: 15:59:59.999999 UTC."""
    return datetime(day.year, day.month, day.day, 15, 59, 59, 999999, tzinfo=UTC)


def year_file(year: int = 2025, **changes) -> str:
    """A one-year calendar file, valid unless ``changes`` break it."""
    entry = {"holidays": [f"{year}-01-01"], "workdays": [], "source": "test", "provisional": False, **changes}
    return json.dumps({str(year): entry})


def test_fifteen_working_days_across_national_day_2025():
    # 2025 notice: 1-8 Oct off (Wed to Wed), Sat 11 Oct works. From Tue 30 Sep:
    # Oct 9 Thu 1, 10 Fri 2, 11 Sat 3; 13-17 Mon-Fri 4-8; 20-24 9-13; 27 Mon 14, 28 Tue 15.
    event = datetime(2025, 9, 30, 10, 0, tzinfo=BEIJING)
    assert CAL.add_working_days(event, 15) == date(2025, 10, 28)
    assert deadline(event, 15, CAL) == utc_end_of_beijing_day(date(2025, 10, 28))
    assert CAL.working_days_between(date(2025, 9, 30), date(2025, 10, 28)) == 15


def test_cancellation_on_the_make_up_sunday_before_national_day_2025():
    # Sun 28 Sep 2025 is a make-up working day, but the day of the event never counts. From it:
    # Sep 29 Mon 1, 30 Tue 2; Oct 1-8 off; 9 Thu 3, 10 Fri 4, 11 Sat 5; 13-17 6-10; 20-24 11-15.
    assert CAL.is_working_day(date(2025, 9, 28))
    assert CAL.add_working_days(date(2025, 9, 28), 15) == date(2025, 10, 24)
    # Nothing in the holiday block counts.
    assert CAL.working_days_between(date(2025, 9, 30), date(2025, 10, 8)) == 0


def test_fifteen_working_days_across_spring_festival_2026():
    # 2026 notice: 15-23 Feb off (Sun to Mon), Sat 14 Feb and Sat 28 Feb work. From Fri 13 Feb:
    # Feb 14 Sat 1; 24-27 Tue-Fri 2-5; 28 Sat 6; Mar 2-6 Mon-Fri 7-11; 9-12 Mon-Thu 12-15.
    assert CAL.add_working_days(date(2026, 2, 13), 15) == date(2026, 3, 12)


def test_a_make_up_saturday_counts():
    # Sat 14 Feb 2026 works, so it is the first working day after Fri 13 Feb; Sat 21 Feb is inside the holiday.
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert CAL.is_working_day(date(2026, 2, 14)) and not CAL.is_working_day(date(2026, 2, 21))
    # An ordinary Saturday does not: Sat 7 Mar 2026 is in no notice.
    assert not CAL.is_working_day(date(2026, 3, 7))


def test_across_the_year_boundary_with_new_year_2026():
    # 2026 notice: 1-3 Jan off (Thu to Sat), Sun 4 Jan works. From Sat 20 Dec 2025:
    # Dec 22-26 Mon-Fri 1-5; 29-31 Mon-Wed 6-8; Jan 4 Sun 9; 5-9 Mon-Fri 10-14; 12 Mon 15.
    assert CAL.add_working_days(date(2025, 12, 20), 15) == date(2026, 1, 12)
    assert CAL.working_days_between(date(2025, 12, 20), date(2026, 1, 12)) == 15


def test_the_event_day_is_taken_in_beijing():
    # 20:00 UTC on Mon 27 Oct 2025 is 04:00 on Tue 28 Oct in Beijing. From Tue 28 Oct (no holiday until 2026):
    # Oct 29-31 Wed-Fri 1-3; Nov 3-7 4-8; 10-14 9-13; 17 Mon 14, 18 Tue 15.
    assert deadline(datetime(2025, 10, 27, 20, 0, tzinfo=UTC), 15, CAL) == utc_end_of_beijing_day(date(2025, 11, 18))
    # A second before Beijing's midnight it is still Mon 27 Oct there, and the 15th working day is Mon 17 Nov.
    assert deadline(datetime(2025, 10, 27, 15, 59, 59, tzinfo=UTC), 15, CAL) == utc_end_of_beijing_day(
        date(2025, 11, 17)
    )


def test_an_event_time_without_a_zone_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        deadline(datetime(2025, 10, 27, 20, 0), 15, CAL)


def test_counts_must_be_positive_and_ranges_forward():
    with pytest.raises(ValueError, match="positive"):
        CAL.add_working_days(date(2025, 10, 27), 0)
    with pytest.raises(ValueError, match="before"):
        CAL.working_days_between(date(2025, 10, 27), date(2025, 10, 26))


def test_the_default_data_matches_the_notices():
    # A weekday off from each notice: Mon 12 Feb 2024 (Spring Festival), Mon 5 May 2025 (Labour Day), Wed 7 Oct 2026
    # (National Day). 2024's lunar New Year's Eve (Fri 9 Feb) was only "encouraged" as a day off: a working day.
    assert not any(CAL.is_working_day(d) for d in (date(2024, 2, 12), date(2025, 5, 5), date(2026, 10, 7)))
    assert CAL.is_working_day(date(2024, 2, 9))
    assert CAL.years == {2024, 2025, 2026, 2027} and CAL.provisional == {2027}


def test_provisional_2027_has_only_the_statutory_days_and_counts_weekends_until_its_notice():
    # Mon 8 Feb 2027 is 正月初三 (New Year is Sat 6 Feb): statutory. Tue 9 Feb will likely be a substitute day,
    # but no notice says so yet: it counts as a working day. So does Sun 14 Feb, which may become a make-up day.
    assert not CAL.is_working_day(date(2027, 2, 8)) and not CAL.is_working_day(date(2027, 2, 6))
    assert CAL.is_working_day(date(2027, 2, 9)) and CAL.is_working_day(date(2027, 2, 14))
    assert CAL.covers(date(2027, 2, 9)) and not CAL.confirmed(date(2027, 2, 9))
    # From Fri 5 Feb (statutory eve, off) the count runs Feb 9, 10, ... skipping only Feb 6-8: day 15 is Feb 23.
    assert CAL.add_working_days(date(2027, 2, 4), 15) == date(2027, 2, 23)


def test_years_outside_the_data_count_every_day():
    # 2031 has no data: Wed 1 Jan 2031 counts although New Year's Day is a holiday by law, and so do weekends
    # (a make-up working weekend the data lacks must not push a deadline later). From Fri 3 Jan: Jan 4-18 are 1-15.
    assert CAL.add_working_days(date(2030, 12, 31), 1) == date(2031, 1, 1)
    assert CAL.add_working_days(date(2031, 1, 3), 15) == date(2031, 1, 18)
    assert not CAL.covers(date(2031, 1, 1)) and not CAL.covers(date(2023, 6, 1))
    assert CAL.covers(date(2026, 1, 1))


def test_a_user_file_replaces_a_whole_year_and_adds_others():
    user = json.dumps(
        {
            "2026": {"holidays": ["2026-03-02"], "workdays": ["2026-03-07"], "source": "company", "provisional": False},
            "2030": {"holidays": ["2030-01-01"], "workdays": [], "source": "company", "provisional": True},
        }
    )
    cal = default_calendar(("user.json", user))
    # Mon 16 Feb 2026 was off in the notice; the user's 2026 replaces all of it.
    assert cal.is_working_day(date(2026, 2, 16))
    assert not cal.is_working_day(date(2026, 3, 2)) and cal.is_working_day(date(2026, 3, 7))
    # 2025 still comes from the notice: Wed 1 Oct off.
    assert not cal.is_working_day(date(2025, 10, 1))
    assert cal.covers(date(2030, 6, 1)) and cal.provisional == {2027, 2030}
    # The default calendar itself is untouched.
    assert not CAL.is_working_day(date(2026, 2, 16))


def test_no_files_make_a_calendar_where_every_day_counts():
    cal = load_calendar()
    assert cal.is_working_day(date(2025, 10, 1)) and cal.is_working_day(date(2025, 10, 4))
    assert not cal.covers(date(2025, 10, 1))


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "user.json: not JSON"),
        ("[]", "user.json: must be an object"),
        ('{"20x5": {}}', "user.json: 20x5: not a year"),
        ('{"2025": []}', "user.json: 2025: must be an object with exactly the keys"),
        (
            '{"2025": {"holidays": [], "workdays": [], "source": "x"}}',
            "user.json: 2025: must be an object with exactly",
        ),
        (year_file(holiday=["2025-01-02"]), "user.json: 2025: must be an object with exactly the keys"),
        (year_file(source=" "), "user.json: 2025: source must name"),
        (year_file(provisional="no"), "user.json: 2025: provisional must be true or false"),
        (year_file(holidays="2025-01-01"), "user.json: 2025: holidays must be a list"),
        (year_file(holidays=["2025/01/01"]), "user.json: 2025: holidays: '2025/01/01' is not an ISO date"),
        (year_file(holidays=[20250101]), "user.json: 2025: holidays: 20250101 is not an ISO date"),
        (year_file(holidays=["2025-02-30"]), "user.json: 2025: holidays: '2025-02-30' is not a date"),
        (year_file(holidays=["2026-01-01"]), "user.json: 2025: holidays: 2026-01-01 is not in 2025"),
        # Sat 4 Jan 2025 is a weekend day, but of the wrong year's list.
        (year_file(2024, workdays=["2025-01-04"]), "user.json: 2024: workdays: 2025-01-04 is not in 2024"),
        # Thu 2 Jan 2025 is a weekday: a make-up workday must be a Saturday or Sunday.
        (year_file(workdays=["2025-01-02"]), "user.json: 2025: make-up workdays 2025-01-02 are not weekend days"),
        # Sat 4 Jan 2025 both ways.
        (
            year_file(holidays=["2025-01-04"], workdays=["2025-01-04"]),
            "user.json: 2025: 2025-01-04 listed as both holiday and workday",
        ),
    ],
)
def test_malformed_data_names_the_file_and_year(text, message):
    with pytest.raises(ValueError) as raised:
        load_calendar(("user.json", text))
    assert str(raised.value).startswith(message)
