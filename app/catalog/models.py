"""Products (an NDC or a compound formula) and their lots, per registrant."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, Quantity, UTCDateTime


class Product(Base):
    """A product a registrant stocks: identified by NDC, or by its own compound code."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("registrant_id", "ndc"),
        UniqueConstraint("registrant_id", "compound_code"),
        Index("ix_products_registrant_id_created_at", "registrant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"))
    name: Mapped[str] = mapped_column(String(200))
    ndc: Mapped[str | None] = mapped_column(String(11))
    compound_code: Mapped[str | None] = mapped_column(String(50))
    substance: Mapped[str] = mapped_column(String(20))
    dea_code: Mapped[str] = mapped_column(String(4))
    schedule: Mapped[str] = mapped_column(String(2))
    dosage_form: Mapped[str] = mapped_column(String(30))
    strength_value: Mapped[Decimal] = mapped_column(Quantity())
    strength_unit: Mapped[str] = mapped_column(String(10))
    strength_basis: Mapped[str] = mapped_column(String(4))
    inventory_unit: Mapped[str] = mapped_column(String(10))
    package_size: Mapped[Decimal] = mapped_column(Quantity())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProductIngredient(Base):
    """One ingredient of a compound's formula, per finished unit."""

    __tablename__ = "product_ingredients"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    ndc: Mapped[str | None] = mapped_column(String(11))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit: Mapped[str] = mapped_column(String(10))


class Lot(Base):
    __tablename__ = "lots"
    __table_args__ = (
        UniqueConstraint("product_id", "lot_number"),
        Index("ix_lots_product_id_created_at", "product_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registrant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("registrants.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"))
    lot_number: Mapped[str] = mapped_column(String(50))
    expires_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
