"""Clinical rules an evaluation or a plan can break (pure functions over their facts).

Evaluations and plans are instructions (docs/adr/0007-instructions-and-records.md): a broken
rule refuses the request with its own problem type unless the prescriber sends
``override_reason``, which is stored with the rules it overrode, for review. What the law
requires of the prescriber (an active DEA registration covering Schedule III) is not a clinical
judgement and is never overridden.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.core.errors import AppError
from app.core.overrides import RuleBook

USUAL_IV_MG_PER_KG = (Decimal("0.1"), Decimal("0.75"))
"""The reported range of IV doses; the usual regimen is 0.5 mg/kg
(docs/domain.md#iv-ketamine-infusion)."""
ADEQUATE_TRIAL_WEEKS = 4
FAILED_TRIALS_FOR_RESISTANCE = 2
"""Treatment resistance: at least this many adequate trials (of this many weeks) that failed."""


class ClinicalRule(StrEnum):
    contraindication_present = "contraindication_present"
    treatment_resistance_not_documented = "treatment_resistance_not_documented"
    dose_outside_usual_range = "dose_outside_usual_range"


@dataclass(frozen=True, slots=True)
class Trial:
    weeks: int
    failed: bool


@dataclass(frozen=True, slots=True)
class EvaluationFacts:
    candidate: bool
    contraindications: frozenset[str]
    """The screens that came back positive."""
    trials: Sequence[Trial]


def evaluation_breaks(facts: EvaluationFacts) -> list[ClinicalRule]:
    """Calling a patient a candidate despite a positive screen, or without a documented
    treatment-resistant history, breaks a rule; calling them not a candidate never does."""
    if not facts.candidate:
        return []
    broken = []
    if facts.contraindications:
        broken.append(ClinicalRule.contraindication_present)
    failed = sum(1 for t in facts.trials if t.failed and t.weeks >= ADEQUATE_TRIAL_WEEKS)
    if failed < FAILED_TRIALS_FOR_RESISTANCE:
        broken.append(ClinicalRule.treatment_resistance_not_documented)
    return broken


def iv_dose_breaks(mg_per_kg: Decimal | None) -> list[ClinicalRule]:
    low, high = USUAL_IV_MG_PER_KG
    if mg_per_kg is not None and not low <= mg_per_kg <= high:
        return [ClinicalRule.dose_outside_usual_range]
    return []


class ClinicalRuleBroken(AppError):
    """Base of the per-rule problems; never raised itself."""

    slug = "clinical-rule-broken"
    status = 422
    title = "Clinical rule broken"
    description = "The request breaks a clinical rule; the prescriber may send override_reason."


_DESCRIBED: dict[ClinicalRule, tuple[str, str]] = {
    ClinicalRule.contraindication_present: ("Contraindication present",
        "The patient is called a candidate although a contraindication screen is positive."),
    ClinicalRule.treatment_resistance_not_documented: ("Treatment resistance not documented",
        f"A candidate needs at least {FAILED_TRIALS_FOR_RESISTANCE} failed trials of at least "
        f"{ADEQUATE_TRIAL_WEEKS} weeks."),
    ClinicalRule.dose_outside_usual_range: ("Dose outside the usual range",
        "An IV dose outside 0.1 to 0.75 mg/kg."),
}  # fmt: skip
"""Each rule's problem: its title and description."""

BOOK = RuleBook.of(ClinicalRuleBroken, _DESCRIBED)


def refuse_unless_overridden(broken: list[ClinicalRule], override_reason: str | None) -> list[str]:
    """The broken rules to store; raises the first one's problem when nothing overrides it."""
    BOOK.refuse_unless_overridden(broken, override_reason)
    return [rule.value for rule in broken]
