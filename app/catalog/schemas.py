"""API shapes of the catalog."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, computed_field, model_validator

from app.catalog.models import Product, ProductIngredient
from app.catalog.substances import (
    INVENTORY_UNIT_OF_FORM,
    STRENGTH_UNIT_OF_INVENTORY_UNIT,
    DosageForm,
    InventoryUnit,
    StrengthBasis,
    Substance,
)
from app.core.examples import example
from app.core.identifiers import format_ndc
from app.core.schemas import (
    Day,
    InputModel,
    Name,
    Ndc,
    OutputModel,
    PositiveQuantity,
    Quantity,
)


class IngredientUnit(StrEnum):
    mg = "mg"
    g = "g"
    mL = "mL"
    each = "each"


class Strength(InputModel):
    value: PositiveQuantity
    unit: Annotated[str, Field(examples=["mg/mL"], description="mg/mL, mg (per unit) or mg/g")]
    basis: StrengthBasis


class Ingredient(InputModel):
    name: Name
    ndc: Ndc | None = None
    quantity: PositiveQuantity
    unit: IngredientUnit


class ProductCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
            "ndc": "0409-2051-05",
            "substance": "ketamine",
            "dosage_form": "injection",
            "strength": {"value": "50", "unit": "mg/mL", "basis": "base"},
            "inventory_unit": "mL",
            "package_size": "10",
        }
    )

    registrant_id: uuid.UUID
    name: Name
    ndc: Ndc | None = None
    compound_code: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    ingredients: list[Ingredient] = []
    substance: Substance
    dosage_form: DosageForm
    strength: Strength
    inventory_unit: InventoryUnit
    package_size: PositiveQuantity

    @model_validator(mode="after")
    def _identified_once(self) -> Self:
        if (self.ndc is None) == (self.compound_code is None):
            raise ValueError("give either an ndc or a compound_code, not both")
        if self.compound_code is not None and not self.ingredients:
            raise ValueError("a compound lists its ingredients")
        if self.ndc is not None and self.ingredients:
            raise ValueError("ingredients belong to compounds; an NDC product has none")
        return self

    @model_validator(mode="after")
    def _units_agree(self) -> Self:
        expected_unit = INVENTORY_UNIT_OF_FORM[self.dosage_form]
        if self.inventory_unit is not expected_unit:
            raise ValueError(f"{self.dosage_form} is counted in {expected_unit}")
        expected_strength = STRENGTH_UNIT_OF_INVENTORY_UNIT[self.inventory_unit]
        if self.strength.unit != expected_strength:
            raise ValueError(
                f"strength of a product counted in {expected_unit} is in {expected_strength}"
            )
        return self


class IngredientOut(OutputModel):
    name: str
    ndc: str | None
    quantity: Quantity
    unit: IngredientUnit


class StrengthOut(OutputModel):
    value: Quantity
    unit: str
    basis: StrengthBasis


class ProductOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    name: str
    ndc: str | None
    compound_code: str | None
    ingredients: list[IngredientOut]
    substance: Substance
    dea_code: str
    schedule: str
    dosage_form: DosageForm
    strength: StrengthOut
    inventory_unit: InventoryUnit
    mg_per_unit: Quantity = Field(description="mg of the substance per inventory unit, as labelled")
    package_size: Quantity
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ndc_formatted(self) -> str | None:
        return format_ndc(self.ndc) if self.ndc else None


class LotCreate(InputModel):
    model_config = example({"lot_number": "KX2291", "expires_on": "2027-06-30"})

    lot_number: Annotated[str, Field(min_length=1, max_length=50)]
    expires_on: Day


class LotOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    product_id: uuid.UUID
    lot_number: str
    expires_on: date
    created_at: datetime


def product_out(product: Product, ingredients: Sequence[ProductIngredient]) -> ProductOut:
    """The API view of a product row and its ingredient rows."""
    columns = (
        "id",
        "registrant_id",
        "name",
        "ndc",
        "compound_code",
        "substance",
        "dea_code",
        "schedule",
        "dosage_form",
        "inventory_unit",
        "package_size",
        "created_at",
    )
    return ProductOut.model_validate(
        {
            **{name: getattr(product, name) for name in columns},
            "ingredients": [IngredientOut.model_validate(row) for row in ingredients],
            "strength": {
                "value": product.strength_value,
                "unit": product.strength_unit,
                "basis": product.strength_basis,
            },
            "mg_per_unit": product.strength_value,
        }
    )
