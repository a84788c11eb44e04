"""The demo clinic and pharmacy that ``csledger demo`` (and ``make run``) loads.

- loader.py: load_demo, and load_or_find, which ``csledger demo`` calls (the schema checked,
  a demo loaded earlier found), with what it prints and the development tokens;
- data.py: the registrants, their staff, patients, products and lots;
- activity.py: three weeks of receipts, inventories, plans, compounding and a loss;
- care.py: the patients' sessions and prescriptions;
- compliance.py: the inventories, the report of the loss and what is left open.
"""

from app.demo.loader import (
    DemoNotLoadable,
    DemoRegistrants,
    DemoResult,
    console_sign_in_url,
    demo_staff_claims,
    describe,
    docs_url,
    ensure_migrated,
    find_demo,
    load_demo,
    load_or_find,
    served_url,
    token_banner,
)

__all__ = [
    "DemoNotLoadable",
    "DemoRegistrants",
    "DemoResult",
    "console_sign_in_url",
    "demo_staff_claims",
    "describe",
    "docs_url",
    "ensure_migrated",
    "find_demo",
    "load_demo",
    "load_or_find",
    "served_url",
    "token_banner",
]
