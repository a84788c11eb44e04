"""Who is calling, and which registrants they may see."""

import dataclasses
import uuid
from dataclasses import dataclass, field

from app.auth.permissions import Permission, Role, allows
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

    def for_request(self) -> "Principal":
        """This principal with nothing touched yet: a token's principal is remembered across
        requests, and what one request touched must not follow the next."""
        return dataclasses.replace(self, touched={})

    def touches(self, registrant_id: uuid.UUID) -> None:
        """Note that this request reads or writes ``registrant_id``'s data."""
        self.touched[registrant_id] = None

    def can(self, permission: Permission) -> bool:
        return allows(self.roles, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"none of your roles may {permission.value.replace('_', ' ')}")

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
