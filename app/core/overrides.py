"""Rules a permitted caller may override: one problem type per rule, refused unless excused.

Both the ledger's compliance rules and the clinical rules work this way
(docs/adr/0007-instructions-and-records.md): an instruction breaking a rule is refused with that
rule's own problem type unless it carries ``override_reason``; what it overrode is stored
with it.
"""

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from typing import TypeVar

from app.core.errors import AppError

Rule = TypeVar("Rule", bound=StrEnum)


def problem_type(
    base: type[AppError], rule: StrEnum, title: str, description: str
) -> type[AppError]:
    """The problem type of ``rule``: a subclass of ``base`` named after the rule."""
    attributes = {"slug": rule.value.replace("_", "-"), "title": title, "description": description}
    return type(f"Problem_{rule.value}", (base,), attributes)


def refuse_unless_overridden(
    problems: Mapping[Rule, type[AppError]],
    broken: Sequence[Rule],
    override_reason: str | None,
    *,
    field: str = "override_reason",
    never: Collection[Rule] = (),
    why: Mapping[Rule, str] | None = None,
) -> None:
    """Raise the first broken rule's problem (naming them all) unless overridden; the problem
    names ``field``, the one the request sends its reason in, and says ``why`` the rule is
    broken when given (the numbers a person reads). Rules in ``never`` are the law rather
    than a judgement: no reason excuses them."""
    for rule in broken:
        if rule in never:
            raise problems[rule](
                f"{_broken(rule, why)}no override allows this",
                extra={"broken_rules": [rule.value for rule in broken]},
            )
    if broken and override_reason is None:
        first = broken[0]
        raise problems[first](
            f"{_broken(first, why)}send {field} to proceed anyway",
            extra={"broken_rules": [rule.value for rule in broken]},
        )


def _broken(rule: Rule, why: Mapping[Rule, str] | None) -> str:
    """The rule, and why it is broken when that is known, as a problem's detail begins."""
    said = rule.value.replace("_", " ")
    reason = (why or {}).get(rule)
    return f"{said}: {reason}; " if reason else f"{said}: "
