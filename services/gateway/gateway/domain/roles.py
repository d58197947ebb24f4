"""Who may grant which role (DESIGN §5). Pure.

Self-service roles describe what a person does on the platform and carry no power over others, so a person takes
them for itself. Roles that judge, supervise or administer others (and the vetted operator and agency roles that
hand out desks and public money) are granted by an admin only.
"""

from __future__ import annotations

from typing import Literal, get_args

from shared.auth import ROLES

# institute: a research institute posting tasks (众包). Sign-up offers exactly these (`SignUp.roles`).
SelfServiceRole = Literal["enterprise", "solver", "founder", "backer", "investor", "resident", "mentor", "provider",
                          "institute"]
SELF_SERVICE: frozenset[str] = frozenset(get_args(SelfServiceRole))
ADMIN_GRANTED = ROLES - SELF_SERVICE  # space_operator, agency, reviewer, mediator, regulator, admin


def may_grant(granter_id: str, granter_roles: frozenset[str], grantee_id: str, role: str) -> str | None:
    """None when the grant is allowed, else the reason it is refused."""
    if role not in ROLES:
        return f"unknown role {role!r}"
    if "admin" in granter_roles:
        return None
    if role in ADMIN_GRANTED:
        return f"only an admin grants the role {role!r}"
    if granter_id != grantee_id:
        return "only the person itself (or an admin) takes a self-service role"
    return None
