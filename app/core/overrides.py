"""Rules a permitted caller may override: one problem type per rule, refused unless excused.

Every workflow's rules work this way (the ledger's, the clinical, session, prescription and
compounding rules; docs/adr/0007-instructions-and-records.md): an instruction breaking a rule is
refused with that rule's own problem type unless it carries a reason; what it overrode is
stored with it. Each workflow declares its :class:`RuleBook`.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from app.core.errors import AppError

Rule = TypeVar("Rule", bound=StrEnum)


def problem_type(
    base: type[AppError], rule: StrEnum, title: str, description: str
) -> type[AppError]:
    """The problem type of ``rule``: a subclass of ``base`` named after the rule."""
    attributes = {"slug": rule.value.replace("_", "-"), "title": title, "description": description}
    return type(f"Problem_{rule.value}", (base,), attributes)


def _broken(rule: Rule, why: Mapping[Rule, str] | None) -> str:
    """The rule, and why it is broken when that is known, as a problem's detail begins."""
    said = rule.value.replace("_", " ")
    reason = (why or {}).get(rule)
    return f"{said}: {reason}; " if reason else f"{said}: "


@dataclass(frozen=True, slots=True)
class RuleBook(Generic[Rule]):
    """A workflow's rules an instruction may break: each with its own problem type, those no
    reason excuses (the law rather than a judgement), and the field a request sends its
    reason in."""

    problems: Mapping[Rule, type[AppError]]
    never: frozenset[Rule] = frozenset()
    field: str = "override_reason"

    @classmethod
    def of(
        cls,
        base: type[AppError],
        described: Mapping[Rule, tuple[str, str]],
        *,
        never: Collection[Rule] = (),
        field: str = "override_reason",
    ) -> "RuleBook[Rule]":
        """The book of the rules ``described`` (each rule's title and description), their
        problem types subclasses of ``base``."""
        problems = {rule: problem_type(base, rule, title, description)
                    for rule, (title, description) in described.items()}  # fmt: skip
        return cls(problems, frozenset(never), field)

    def refuse_unless_overridden(
        self,
        broken: Sequence[Rule],
        reason: str | None,
        *,
        why: Mapping[Rule, str] | None = None,
    ) -> None:
        """Raise the first broken rule's problem (naming them all) unless ``reason`` excuses
        it; the problem names the field the request sends its reason in, and says ``why`` the
        rule is broken when given (the numbers a person reads). Rules in ``never`` are the
        law rather than a judgement: no reason excuses them."""
        for rule in broken:
            if rule in self.never:
                raise self.problems[rule](
                    f"{_broken(rule, why)}no override allows this",
                    extra={"broken_rules": [rule.value for rule in broken]},
                )
        if broken and reason is None:
            first = broken[0]
            raise self.problems[first](
                f"{_broken(first, why)}send {self.field} to proceed anyway",
                extra={"broken_rules": [rule.value for rule in broken]},
            )
