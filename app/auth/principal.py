"""Who is calling, and which registrants they may see."""

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.auth.permissions import (
    SCOPE_OF,
    WORKFLOW_IMPLIES,
    IntegrationScope,
    Permission,
    Role,
    allows,
)
from app.core.errors import NotFound, PermissionDenied


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    name: str
    roles: frozenset[Role]
    registrant_ids: frozenset[uuid.UUID]
    all_registrants: bool = False
    """Only a platform admin token (roles exactly {admin}) may carry the "*" registrant."""
    touched: dict[uuid.UUID, None] = field(default_factory=dict, compare=False, repr=False)
    """The registrants whose data this request asked about, allowed or refused, in order (a
    dict as an ordered set): the audit log attributes the request to each of them. Every
    tenancy check goes through :meth:`sees`, which notes its registrant here."""
    scopes: Mapping[uuid.UUID, frozenset[IntegrationScope]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """An integration's scopes at each registrant where it is configured (nothing elsewhere):
    loaded for each request, as an admin may change them at any time."""

    def for_request(self) -> "Principal":
        """This principal with nothing touched yet: a token's principal is remembered across
        requests, and what one request touched must not follow the next."""
        return dataclasses.replace(self, touched={})

    def touches(self, registrant_id: uuid.UUID) -> None:
        """Note that this request reads or writes ``registrant_id``'s data."""
        self.touched[registrant_id] = None

    def with_scopes(self, scopes: Mapping[uuid.UUID, frozenset[IntegrationScope]]) -> "Principal":
        """This principal (what it touched included) holding ``scopes``."""
        return dataclasses.replace(self, scopes=scopes)

    def acting_through(self, scope: IntegrationScope, registrant_id: uuid.UUID) -> "Principal":
        """This principal inside a workflow its ``scope`` at ``registrant_id`` allows: holding
        there what that workflow does in its name (``WORKFLOW_IMPLIES``). Unchanged for anyone
        not granted ``scope`` there."""
        held = self.scopes.get(registrant_id, frozenset())
        if scope not in held:
            return self
        implied = held | WORKFLOW_IMPLIES.get(scope, frozenset())
        return self.with_scopes({**self.scopes, registrant_id: implied})

    def can(self, permission: Permission) -> bool:
        """Whether a role grants ``permission``; the integration role's grant counts only
        where the integration's configuration grants the scope it needs (least privilege)."""
        if allows(self.roles - _INTEGRATION, permission):
            return True
        if not self.is_integration or not allows(_INTEGRATION, permission):
            return False
        scope = SCOPE_OF.get(permission)
        return scope is None or self.scoped(scope)

    def scoped(self, scope: IntegrationScope) -> bool:
        """Whether ``scope`` is granted at every registrant this request has touched (before
        it touched any: at every registrant the token names)."""
        at = self.touched or self.registrant_ids
        return bool(at) and all(scope in self.scopes.get(r, ()) for r in at)

    def require(self, permission: Permission) -> None:
        if self.can(permission):
            return
        what = permission.value.replace("_", " ")
        scope = SCOPE_OF.get(permission)
        if self.is_integration and scope is not None and allows(_INTEGRATION, permission):
            raise PermissionDenied(f"this integration's configuration at the registrant does "
                                   f"not grant the scope {scope.value} (to {what})")  # fmt: skip
        raise PermissionDenied(f"none of your roles may {what}")

    def sees(self, registrant_id: uuid.UUID) -> bool:
        """Whether the token names ``registrant_id``; asked only about data this request
        reads or writes, so the registrant is noted as touched either way."""
        self.touches(registrant_id)
        return self.all_registrants or registrant_id in self.registrant_ids

    def ensure_registrant(self, registrant_id: uuid.UUID, *, what: str = "registrant") -> None:
        """404, never 403, so a token cannot probe which registrants exist."""
        if not self.sees(registrant_id):
            raise NotFound(f"{what} not found")

    @property
    def authority(self) -> str:
        """What this token lets its subject do, as one canonical string: its roles and the
        registrants it names."""
        registrants = (
            "*" if self.all_registrants else ",".join(sorted(map(str, self.registrant_ids)))
        )
        return f"{','.join(sorted(self.roles))}|{registrants}"

    @property
    def is_integration(self) -> bool:
        return Role.integration in self.roles


_INTEGRATION = frozenset({Role.integration})
