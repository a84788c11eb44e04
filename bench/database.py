"""The benchmark's own PostgreSQL database: created fresh, migrated, dropped at the end."""

import asyncio
from dataclasses import dataclass

import asyncpg

from app.core.migrations import upgrade_to_head


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    server_url: str
    """A libpq URL of any database on the server, e.g. postgresql://postgres@127.0.0.1:5432/postgres."""
    name: str

    @property
    def dsn(self) -> str:
        """The benchmark database, for asyncpg."""
        base, _, _ = self.server_url.rpartition("/")
        return f"{base}/{self.name}"

    @property
    def app_url(self) -> str:
        """The benchmark database, for the service (SQLAlchemy with asyncpg)."""
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    def create(self) -> None:
        """Create (or re-create) the database and migrate it to head."""
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        upgrade_to_head(self.app_url)

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(self.server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()
