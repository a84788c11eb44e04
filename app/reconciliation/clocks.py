"""The DEA clocks of a theft or significant loss, counted from its discovery (21 CFR
1301.76(b)): written notice within one business day, DEA Form 106 within 45 days."""

from datetime import date, timedelta

FORM_106_DAYS = 45


def is_business_day(day: date, holidays: frozenset[date]) -> bool:
    """Neither a weekend day nor one of the registrant's ``holidays``."""
    return day.weekday() < 5 and day not in holidays


def next_business_day(day: date, holidays: frozenset[date]) -> date:
    following = day + timedelta(days=1)
    while not is_business_day(following, holidays):
        following += timedelta(days=1)
    return following


def notice_due_on(discovered_on: date, holidays: frozenset[date]) -> date:
    return next_business_day(discovered_on, holidays)


def form_106_due_on(discovered_on: date) -> date:
    return discovered_on + timedelta(days=FORM_106_DAYS)
