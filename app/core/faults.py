"""Which failures mean that the database failed to serve: the one classification every path uses.

Such a failure is answered 503 with ``Retry-After``, wherever it is met (a route, the
Idempotency-Key's claim, the commit, a report's first rows): the request changed nothing that
its answer acknowledges, and the same request again, with the same Idempotency-Key, is safe and
will likely succeed once the database is back. Anything else keeps its own answer: a constraint
409, a bug or a statement the server refuses 500, so that a programming error never hides as
an outage.

The failures of the database to serve, told by the driver's exception types and SQLSTATEs,
never by where they were raised:

- the server cannot be reached or the connection broke (refused, reset, timed out, closed:
  what asyncpg raises as ``OSError`` or SQLSTATE class 08, and SQLAlchemy marks
  ``connection_invalidated``);
- the server is shutting down, starting up or cancelled the statement (class 57: 57P01 admin
  shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 57014 query cancelled);
- the server lacks resources (class 53: too many connections, disk full, out of memory), or no
  pooled connection was free in time;
- the transaction lost a race and was rolled back whole (40001 serialization failure, 40P01
  deadlock): 503 and not 409, because nothing in the request or the resource's state is at
  fault, and the remedy is a retry's, the same request unchanged;
- on SQLite, the database busy or locked past the busy timeout, or full.

An error the server reports about itself (class XX internal, 58 system, such as an I/O error)
stays 500: a retry will not mend it, an operator must look.
"""

import socket
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

from app.core.errors import AppError, ServiceUnavailable

_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_UNAVAILABLE_SQLITE_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM}
)
_NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)
"""What the driver raises when the server cannot be reached (not a file's errors, which are
``OSError`` too but say that the code or its configuration is wrong)."""


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says that the database failed to serve (see the module's docstring),
    rather than that the request or the code is wrong."""
    return any(_says_unavailable(found) for found in _causes(exc))


def answer_to(exc: BaseException) -> AppError:
    """The problem answering ``exc``, which no handler of its own answered: 503 when the
    database failed to serve, else 500."""
    return ServiceUnavailable() if is_database_unavailable(exc) else AppError()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from: SQLAlchemy's error wraps the driver's adapted
    error (``orig``), which was raised from the driver's own."""
    found: BaseException | None = exc
    seen: set[int] = set()
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        yield found
        wrapped = found.orig if isinstance(found, sa_exc.DBAPIError) else None
        found = wrapped if isinstance(wrapped, BaseException) else found.__cause__


def _says_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True  # the dialect found the connection dead
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # no pooled connection free in time; a dead one at checkout
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate in _RETRYABLE_SQLSTATES
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _UNAVAILABLE_SQLITE_CODES  # primary code
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg's word for a connection that closed; its other interface errors are misuse.
        # SQLAlchemy's asyncpg dialect tells a disconnect the same way.
        return "connection is closed" in str(exc)
    # asyncio raises a plain OSError when every address of the server refused.
    return isinstance(exc, _NETWORK_ERRORS) or type(exc) is OSError
