"""Engine, sessions and the unit of work.

A request (or job) gets one session; services flush and never commit; the edge commits once.
On SQLite every write transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that
later tries to write fails at once with "database is locked" under a second writer instead of
waiting for the busy timeout. Reads stay deferred so they never wait for writers (WAL).
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from sqlalchemy import BigInteger, DateTime, MetaData, Select, Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings
from app.core.errors import AlreadyExists, FieldError
from app.core.quantity import from_minor, to_minor

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_WRITE_OPTION = "csledger_write"
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
M = TypeVar("M")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class: statements built on it skip the ORM's per-call work."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes on both dialects (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Quantity(TypeDecorator[Decimal]):
    """A decimal quantity stored as an integer of thousandths (see app.core.quantity)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else to_minor(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_minor(value)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN out of the driver's hands so _on_begin decides which kind is sent.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def json_text(value: Any) -> str:
    """JSON columns' text: orjson's, keys sorted (compact UTF-8, several times faster than the
    json module's). A ledger event's JSON is then stored in its canonical form, which lets a
    verifier hash the stored text as it is. The json module only for what orjson declines,
    such as integers over 64 bits."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True)


def create_engine(settings: Settings) -> AsyncEngine:
    # Statement parameters stay out of error messages: they carry patient data and secrets,
    # and errors reach the logs (and an outbox message's last_error).
    engine_options: dict[str, Any] = {"json_serializer": json_text, "hide_parameters": True}
    if settings.is_sqlite:
        engine = create_async_engine(settings.database_url, **engine_options)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    engine = create_async_engine(
        settings.database_url, pool_size=settings.database_pool_size, **engine_options
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Replace a pooled connection the server has closed (a restart, a terminated backend)
    before a request gets it. asyncpg knows without asking the server, so this costs no
    round trip, where ``pool_pre_ping`` sends one per checkout (about 8 % of a worker's time
    under load). A connection lost silently (the network) fails its request with a 503, and
    the pool is then renewed."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


class Database:
    """The engine and the two kinds of session the service opens: read and write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{_WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """A unit of work: rolled back unless the caller commits.

        Closing (not rolling back) ends it, so loaded objects stay readable once detached.
        """
        maker = self._write if write else self._read
        async with maker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write unit of work committed when the block ends without an exception."""
        async with self.session(write=True) as session:
            yield session
            await session.commit()

    async def execute_alone(self, statement: Executable, parameters: dict[str, Any]) -> None:
        """Run one write statement in a transaction of its own, committed when it returns.

        PostgreSQL runs a statement sent outside a transaction (autocommit) as a transaction of
        its own: the same atomic, durable commit as BEGIN, statement, COMMIT, in one round
        trip instead of three. SQLite keeps its write transaction (BEGIN IMMEDIATE).
        """
        if self.engine.dialect.name != "postgresql":
            async with self.transaction() as session:
                await session.execute(statement, parameters)
            return
        async with self._autocommit.connect() as connection:
            await connection.execute(statement, parameters)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def dispose(self) -> None:
        await self.engine.dispose()


async def flush_unique(session: AsyncSession, *, pointer: str, detail: str) -> None:
    """Flush, turning a unique-constraint violation (also a lost race) into 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(detail, errors=[FieldError(pointer=pointer, detail=detail)]) from exc


def held(session: AsyncSession, model: type[M], row_id: Any) -> M | None:
    """The row if the session holds it already, as ``session.get`` would find it, without the
    hop into SQLAlchemy's synchronous core that even a found row costs an ``AsyncSession.get``
    (a batch asks for the same few rows a thousand times)."""
    row: M | None = session.identity_map.get(identity_key(model, row_id))
    return row


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT construct, which knows ``on_conflict_do_nothing/do_update``."""
    return pg_insert if dialect_name(session) == "postgresql" else sqlite_insert


def where_given(statement: S, *filters: tuple[Any, object | None]) -> S:
    """``statement`` narrowed by ``column == value`` for each filter whose value was given."""
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    return statement
