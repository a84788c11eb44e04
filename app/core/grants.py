"""The privileges of the role the service runs as on PostgreSQL.

Migrations run as the tables' owner; the service connects as another role that owns nothing
and may only read and insert, update what is mutable, and delete expired idempotency keys. So
even with a trigger dropped, the running service cannot change history: append-only tables
(those carrying the ``*_append_only`` trigger, read from the database itself) get no UPDATE,
no DELETE and no TRUNCATE.
"""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DELETABLE = ("idempotency_keys", "console_sessions", "console_sign_ins")
"""Tables the service deletes from (expired idempotency keys, console sessions and sign-ins
that can no longer be used); nothing else is ever deleted."""

_APPEND_ONLY = text(
    "SELECT DISTINCT event_object_table FROM information_schema.triggers "
    "WHERE trigger_schema = current_schema() AND trigger_name LIKE '%\\_append\\_only'"
)
_TABLES = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "AND tablename <> 'alembic_version'"
)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def grant_runtime_privileges(connection: AsyncConnection, role: str) -> None:
    """Give ``role`` exactly what the service needs (idempotent; run after each migration)."""
    who = _quote(role)
    tables = set((await connection.execute(_TABLES)).scalars())
    append_only = set((await connection.execute(_APPEND_ONLY)).scalars())
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT SELECT ON alembic_version TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
    ]
    for table in sorted(tables):
        privileges = ["SELECT", "INSERT"]
        if table not in append_only:
            privileges.append("UPDATE")
        if table in DELETABLE:
            privileges.append("DELETE")
        statements.append(f"GRANT {', '.join(privileges)} ON {_quote(table)} TO {who}")
    for statement in statements:
        await connection.execute(text(statement))
