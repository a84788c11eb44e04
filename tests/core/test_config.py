"""Production refuses the unsafe defaults; everything else starts as documented."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_DATABASE_URL, DEVELOPMENT_SECRET, Environment, Settings

PG = "postgresql+asyncpg://csledger@db/csledger"
STRONG_SECRET = "x" * 48
KEY = Path("/etc/csledger/checkpoint.pem")


def test_development_defaults():
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert settings.environment is Environment.development


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CSLEDGER_DATABASE_URL", PG)
    monkeypatch.setenv("CSLEDGER_IDEMPOTENCY_TTL_HOURS", "24")
    settings = Settings()
    assert (settings.database_url, settings.idempotency_ttl_hours) == (PG, 24)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"database_url": DEFAULT_DATABASE_URL, "jwt_secret": STRONG_SECRET}, "PostgreSQL"),
        ({"database_url": PG, "jwt_secret": DEVELOPMENT_SECRET}, "secret"),
        ({"database_url": PG, "jwt_secret": "short"}, "secret"),
        ({"database_url": PG, "jwt_algorithm": "RS256"}, "PUBLIC_KEY_FILE"),
        ({"database_url": PG, "jwt_secret": STRONG_SECRET}, "CHECKPOINT_KEY_FILE"),
    ],
)
def test_production_refuses_unsafe_settings(overrides, reason):
    with pytest.raises(ValidationError, match=reason):
        Settings(environment=Environment.production, **overrides)


def test_production_starts_with_postgresql_and_a_real_secret():
    settings = Settings(
        environment=Environment.production,
        database_url=PG,
        jwt_secret=STRONG_SECRET,
        checkpoint_key_file=KEY,
    )
    assert settings.is_production
