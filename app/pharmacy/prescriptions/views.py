"""Prescriptions as the API answers them: each with the names of its patient, product, lots
and pharmacists beside the ids (docs/tenancy.md#patient-data).

A prescription is read by its pharmacy and, through the pharmacy's link, by the issuing
clinic: the names are the pharmacy's rows, read within the prescriptions' own registrants
(the read itself was allowed by the prescription's query), and a patient's name only for a
caller who may read patients.
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.names import Names, Within
from app.pharmacy.prescriptions import rules, schemas
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill

Status = schemas.PrescriptionStatus
Fills = list[tuple[PrescriptionFill, bool]]
"""A prescription's fills in order, each with whether the ledger reversed it."""


async def names_of(
    db: AsyncSession,
    principal: Principal,
    found: Sequence[Prescription],
    fills: Fills | None = None,
) -> Names:
    """The names ``found`` and their ``fills`` mention, loaded once for them all."""
    within = Within({rx.registrant_id for rx in found}, principal.can(Permission.read_patients))
    return await within.names(
        db, patients=(rx.patient_id for rx in found), products=(rx.product_id for rx in found),
        lots=(f.lot_id for f, _ in fills or ()), staff=(f.dispensed_by for f, _ in fills or ()),
    )  # fmt: skip


async def prescriptions_listed(
    db: AsyncSession, principal: Principal, found: Sequence[Prescription]
) -> list[schemas.PrescriptionListedOut]:
    names = await names_of(db, principal, found)
    return [_listed(rx, names) for rx in found]


def _listed(rx: Prescription, names: Names) -> schemas.PrescriptionListedOut:
    return schemas.PrescriptionListedOut(
        **schemas.PrescriptionRecordOut.model_validate(rx).model_dump(),
        patient=names.patients.get(rx.patient_id),
        product=names.products.get(rx.product_id),
    )


async def prescription_out(
    db: AsyncSession, principal: Principal, rx: Prescription, fills: Fills, today: date
) -> schemas.PrescriptionOut:
    """The prescription and its fills; ``today`` is the pharmacy's: nothing remains to be
    filled after the six months, nor of a cancelled prescription."""
    names = await names_of(db, principal, [rx], fills)
    dispensed = sum((f.quantity for f, reversed_ in fills if not reversed_), Decimal(0))
    total = rules.total_authorized(rx.quantity, rx.refills_authorized)
    fill_by = rules.six_months_after(rx.issued_on)
    in_time = today <= fill_by and rx.status == Status.active
    remaining = max(total - dispensed, Decimal(0)) if in_time else Decimal(0)
    because = rules.not_fillable_because(cancelled=rx.status == Status.cancelled, today=today,
                                         fill_by=fill_by, remaining=remaining)  # fmt: skip
    return schemas.PrescriptionOut(
        **_listed(rx, names).model_dump(),
        fills=[fill_out(f, reversed_, names) for f, reversed_ in fills],
        dispensed=dispensed,
        remaining=remaining,
        fill_by=fill_by,
        fillable=because is None,
        not_fillable_because=because,
    )


def fill_out(made: PrescriptionFill, reversed_: bool, names: Names) -> schemas.FillOut:
    named = {"lot": names.lots.get(made.lot_id), "dispenser": names.staff.get(made.dispensed_by)}
    return schemas.FillOut.model_validate(
        {column.key: getattr(made, column.key) for column in _FILL_COLUMNS}
        | {"reversed": reversed_}
        | named
    )


_FILL_COLUMNS = tuple(PrescriptionFill.__table__.columns)
