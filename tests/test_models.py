"""Rules every table follows."""

from sqlalchemy.orm import configure_mappers

from app.core.db import Base
from app.models import metadata


def test_relationships_refuse_lazy_loading():
    """A lazy load in async code fails obscurely; ``lazy="raise"`` makes it fail loudly."""
    configure_mappers()
    for mapper in Base.registry.mappers:
        for relationship in mapper.relationships:
            assert relationship.lazy == "raise", f"{mapper.class_.__name__}.{relationship.key}"


def test_registrant_owned_tables_carry_the_registrant():
    """So they can later be distributed by registrant (DESIGN.md, scale-out)."""
    global_tables = {
        "registrants",
        "audit_log",
        "idempotency_keys",
        "jobs",
        "product_ingredients",
    }
    for table in metadata.sorted_tables:
        if table.name not in global_tables:
            assert "registrant_id" in table.columns, table.name
