"""Rules every table follows."""

import subprocess
import sys

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
    """So they can later be distributed by registrant
    (docs/tenancy.md#every-row-names-its-registrant)."""
    global_tables = {
        "registrants",
        "audit_log",
        "idempotency_keys",
        "jobs",
        "product_ingredients",
        # A person's sign-in to the console, for every registrant they work at.
        "console_sessions",
        "console_sign_ins",
    }
    for table in metadata.sorted_tables:
        if table.name not in global_tables:
            assert "registrant_id" in table.columns, table.name


MODEL_MODULES = sorted({mapper.class_.__module__ for mapper in Base.registry.mappers})


def test_every_column_has_its_type_whatever_else_was_imported():
    """Each models module imported alone, in a fresh process, gives every column a type.

    A foreign key column left untyped takes its type from the column it references only once
    that table is imported: until then ids come back as the driver's raw text, and an event's
    hashed body would change with what else the process imported (a false alarm from the
    tamper check)."""
    assert "app.ledger.models" in MODEL_MODULES
    script = (
        "import importlib, sys\n"
        "from sqlalchemy.types import NullType\n"
        "from app.core.db import Base\n"
        "importlib.import_module(sys.argv[1])\n"
        "print([f'{t.name}.{c.name}' for t in Base.metadata.tables.values() for c in t.columns\n"
        "       if isinstance(c.type, NullType)])\n"
    )
    for module in MODEL_MODULES:
        found = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script, module], capture_output=True, text=True, check=True
        )
        assert found.stdout.strip() == "[]", f"untyped when {module} is imported alone"
