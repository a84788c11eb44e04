"""The DEA clocks of a theft or significant loss, counted from its discovery (21 CFR
1301.76(b)): written notice within one business day, DEA Form 106 within 45 days."""

from datetime import date, timedelta

FORM_106_DAYS = 45


def next_business_day(day: date, holidays: frozenset[date]) -> date:
    """The first day after ``day`` that is neither a weekend day nor one of ``holidays``."""
    following = day + timedelta(days=1)
    while following.weekday() >= 5 or following in holidays:
        following += timedelta(days=1)
    return following


def notice_due_on(discovered_on: date, holidays: frozenset[date]) -> date:
    return next_business_day(discovered_on, holidays)


def form_106_due_on(discovered_on: date) -> date:
    return discovered_on + timedelta(days=FORM_106_DAYS)
