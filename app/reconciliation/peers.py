"""Peer comparison (docs/domain.md, "Peer comparison"): staff whose waste, withdrawals or
discrepancies per session lie far from those of their peers doing like work, flagged for
review, not accused. Pure functions over what the run's queries found."""

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from app.clinical.schemas import Modality
from app.core.quantity import format_quantity
from app.reconciliation.findings import Finding, Found, Subject
from app.reconciliation.words import Words, code_words, sentence
from app.reconciliation.workflow import Severity


class PeerMeasure(StrEnum):
    """What staff are compared on, per session."""

    waste = "waste"
    """mg wasted."""
    withdrawn = "withdrawn"
    """mg withdrawn into the session's holding."""
    discrepancies = "discrepancies"
    """Discrepancies about the session that name them."""


@dataclass(frozen=True, slots=True)
class PeerFloors:
    """A measure's floors, in its unit (mg, or discrepancies) per session."""

    difference: Decimal
    """The least difference above the peer median that matters..."""
    percent: Decimal
    """...and the least as a share of the median (practical significance)."""
    mad: Decimal
    """The spread (the median absolute deviation, or the mean one when most peers share the
    median) is never taken below this, so peers alike to the last decimal do not turn
    rounding into a z-score. Greater than zero."""


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """When staff are compared with their peers, and what makes one stand out."""

    outlier_z: Decimal
    min_sessions: int
    """Sessions in the window a person needs to be compared, or to be a peer."""
    min_peers: int
    """Others in the group a person needs to be compared with."""
    floors: Mapping[PeerMeasure, PeerFloors]


@dataclass(frozen=True, slots=True)
class PeerStat:
    """One member of staff's amount per session of one product and work over the peer
    window."""

    staff_id: str
    role: str
    product_id: uuid.UUID
    work: str
    """The plan dose the sessions followed (:func:`like_work`)."""
    measure: PeerMeasure
    per_session: Decimal
    sessions: int
    """The sessions of that product and work they took part in."""


def like_work(modality: str, dose: Decimal) -> str:
    """What a session's stock follows besides its product: the plan's dose, an esketamine
    dose in mg (two or three devices), an IV infusion's mg/kg. Peers are compared within like
    work, not across the mix of patients they happened to treat. Per-dose measures would not
    do: an IV session's waste is what the vials held beyond the dose, not a share of it."""
    unit = "mg/kg" if modality == Modality.iv_infusion else "mg"
    return f"{modality} {format_quantity(dose)} {unit}"


PEER_OUTLIER = "peer_outlier"
MAD_SCALE = Decimal("0.6745")
"""Scales the median absolute deviation to a standard deviation (normal data)."""
MEAN_AD_SCALE = Decimal("1.253314")
"""Scales the mean absolute deviation to a standard deviation (normal data): the spread used
when more than half the peers share the median, as with discrepancies, which most have none
of (Iglewicz and Hoaglin's modified z-score, as IBM SPSS computes it)."""


def outliers(stats: Sequence[PeerStat], peers: PeerSettings, words: Words) -> list[Found]:
    """Staff whose waste, withdrawals or discrepancies per session lie far from their peers':
    the same role doing like work (the same product, and the same plan dose: esketamine's mg,
    an IV plan's mg/kg). Flagged for review, not accused (what diversion-control products do:
    docs/domain.md#peer-comparison), and only when the difference is both improbable (a robust
    z-score beyond the threshold, over a spread never taken below the measure's floor) and
    large enough to matter (beyond the measure's floors in its unit and as a share of the peer
    median). Whoever has fewer sessions than the minimum is neither compared nor a peer; a
    group of fewer peers compares nobody."""
    return [_peer_finding(stat, comparison, words)
            for group in compare(stats, peers)
            for stat, comparison in group.members if comparison.outlier]  # fmt: skip


@dataclass(frozen=True, slots=True)
class PeerComparison:
    """Where one person stands in their group (themselves included)."""

    median: Decimal
    difference: Decimal
    """Their amount per session less the median."""
    z: Decimal
    group: int
    """How many were compared."""
    outlier: bool = False
    """Far from their peers: improbable among them, and large enough to matter."""


@dataclass(frozen=True, slots=True)
class PeerGroup:
    """Those compared with one another on one measure (the same role, product and work), each
    with where they stand: what the rule flags, and what the console draws."""

    role: str
    product_id: uuid.UUID
    work: str
    measure: PeerMeasure
    median: Decimal
    spread: Decimal
    """The peers' robust spread, as a standard deviation: a z-score is the difference from
    the median over it."""
    flagged_from: Decimal
    """The least amount per session that could be flagged: beyond the z-score threshold and
    the measure's floors above the median (the outlier band begins just past it)."""
    members: tuple[tuple[PeerStat, PeerComparison], ...]


def compare(stats: Sequence[PeerStat], peers: PeerSettings) -> list[PeerGroup]:
    """Every group compared (:func:`outliers` flags their outliers), each member with their
    robust z-score and whether they lie far from their peers. Who is in no group (too few
    sessions, or too few peers) is not compared."""
    groups = []
    for group in _peer_groups(stats, peers):
        floors = peers.floors[group[0].measure]
        scale, compared = _compared(group, floors)
        median = compared[0][1].median
        judged = tuple((stat, replace(c, outlier=_far_from_peers(c, floors, peers.outlier_z)))
                       for stat, c in compared)  # fmt: skip
        first = group[0]
        groups.append(PeerGroup(
            first.role, first.product_id, first.work, first.measure, median, 1 / scale,
            _flagged_from(median, scale, floors, peers.outlier_z), judged,
        ))  # fmt: skip
    return groups


def _peer_groups(stats: Sequence[PeerStat], peers: PeerSettings) -> list[list[PeerStat]]:
    """Those compared, by role, product, work and measure: each with enough sessions, in a
    group of enough peers."""
    groups: dict[tuple[str, uuid.UUID, str, PeerMeasure], list[PeerStat]] = defaultdict(list)
    for stat in stats:
        if stat.sessions >= peers.min_sessions:
            groups[(stat.role, stat.product_id, stat.work, stat.measure)].append(stat)
    return [group for group in groups.values() if len(group) > peers.min_peers]


def _compared(
    group: Sequence[PeerStat], floors: PeerFloors
) -> tuple[Decimal, list[tuple[PeerStat, PeerComparison]]]:
    """Each member's robust z-score: distance from the median over the spread, scaled to a
    standard deviation (the scale returned: one over that spread)."""
    values = [s.per_session for s in group]
    middle = _median(values)
    deviations = [abs(v - middle) for v in values]
    if (mad := _median(deviations)) > 0:
        scale = MAD_SCALE / max(mad, floors.mad)
    else:  # more than half share the median: the mean absolute deviation measures the spread
        mean = sum(deviations, Decimal(0)) / len(deviations)
        scale = 1 / (MEAN_AD_SCALE * max(mean, floors.mad))
    return scale, [
        (s, PeerComparison(middle, s.per_session - middle, scale * (s.per_session - middle),
                           len(group)))
        for s in group
    ]  # fmt: skip


def _far_from_peers(comparison: PeerComparison, floors: PeerFloors, outlier_z: Decimal) -> bool:
    """Improbable among the peers, and large enough to matter: above the median by at least
    the floor's amount and its share of the median."""
    difference = comparison.difference
    return (
        comparison.z > outlier_z
        and difference >= floors.difference
        and difference * 100 >= floors.percent * comparison.median
    )


def _flagged_from(
    median: Decimal, scale: Decimal, floors: PeerFloors, outlier_z: Decimal
) -> Decimal:
    """Where :func:`_far_from_peers` begins, as an amount per session."""
    return median + max(outlier_z / scale, floors.difference, floors.percent * median / 100)


_DONE = {PeerMeasure.waste: ("wasted", "mg"), PeerMeasure.withdrawn: ("withdrew", "mg"),
         PeerMeasure.discrepancies: ("was named in", "discrepancies")}  # fmt: skip
"""What each measure says a person did per session, and in what unit."""


def rounded_z(z: Decimal) -> Decimal:
    """A robust z-score as a finding says it, and the console shows it: to two places."""
    return z.quantize(Decimal("0.01"))


def unit_of(measure: PeerMeasure) -> str:
    """The unit a measure is counted in, per session: "mg", or "discrepancies"."""
    return _DONE[measure][1]


def _peer_finding(stat: PeerStat, comparison: PeerComparison, words: Words) -> Found:
    z = rounded_z(comparison.z)
    done, unit = _DONE[stat.measure]
    return Found(
        Finding(rule=PEER_OUTLIER, severity=Severity.info,
                fingerprint=f"{PEER_OUTLIER}:{stat.measure}:{stat.staff_id}:{stat.product_id}:"
                            f"{stat.work}",
                summary=f"{sentence(words.staff(stat.staff_id))} ({code_words(stat.role)}) {done} "
                        f"{format_quantity(stat.per_session)} {unit} per session of "
                        f"{words.product(stat.product_id)} in {stat.sessions} "
                        f"{code_words(stat.work)} sessions, against a median of "
                        f"{format_quantity(comparison.median)} {unit} among "
                        f"the {comparison.group} compared (robust z {z})",
                details={"measure": stat.measure.value, "work": stat.work,
                         "per_session": format_quantity(stat.per_session),
                         "peer_median": format_quantity(comparison.median),
                         "difference": format_quantity(comparison.difference),
                         "sessions": stat.sessions, "peers": comparison.group,
                         "robust_z": str(z)}),
        staff_ids=(stat.staff_id,), subject=Subject(product_id=stat.product_id),
    )  # fmt: skip


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2
