"""Who may call a route: one declaration per route, enforced and documented at once.

Every route of every service names the roles it admits:

    @router.get("/classes/{class_id}", summary="…", **admits("org_department", "unit"))

`admits` adds a dependency that answers 403 `wrong_role` (in Chinese, naming the roles
that may) to any other role before the route runs (and, only then, a read's wait for the
caller's own writes: shared/api.py, `after_writes`), and writes the roles into the route's
OpenAPI operation as `x-ganxun-roles` (with their Chinese names in the description). The
generated deny matrix (tests/integration/test_deny_matrix.py) reads the roles from the
OpenAPI documents, so what a route admits is declared here once and checked against the
running services; tests/unit/test_access.py refuses a route without a declaration.

The role is the first gate only: the handlers and reads still check the jurisdiction the
token covers, the unit a unit clerk acts for, and that a trainee, mentor or recorder reads
only what is theirs.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from shared.api import after_writes, decides_after_writes, principal
from shared.auth import ROLES, Principal

ROLES_KEY = "x-ganxun-roles"
IDS_KEY = "x-ganxun-ids"
EVERYONE = tuple(ROLES)


def admits(
    *roles: str, ids_per_jurisdiction: bool = False, decides_from_reads: bool = False
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the role gate and its OpenAPI declaration.

    `decides_from_reads` declares a command that decides from what the service's reads hold:
    it takes X-Ganxun-After as a read does (shared/api.py, `decides_after_writes`).

    `ids_per_jurisdiction` declares that the ids the route takes name things of the caller's
    own jurisdiction only (the teaching catalogue, follow-up's plan per class): another
    county using the same id reaches its own document, never this one's."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"unknown or no roles declared: {unknown}")

    async def gate(who: Principal = Depends(principal)) -> None:
        who.require_role(*roles)

    names = "、".join(ROLES[r] for r in roles)
    extra: dict[str, Any] = {ROLES_KEY: list(roles), "x-ganxun-roles-zh": names}
    if ids_per_jurisdiction:
        extra[IDS_KEY] = "per-jurisdiction"
    # In this order: FastAPI solves a route's dependencies one after the other.
    wait = decides_after_writes if decides_from_reads else after_writes
    return {"dependencies": [Depends(gate), Depends(wait)], "openapi_extra": extra}


def declares(*roles: str) -> dict[str, Any]:
    """The OpenAPI declaration alone, for a route that cannot take the bearer header and checks
    the token and the role itself (the dashboard's live stream, an EventSource)."""
    return {"openapi_extra": admits(*roles)["openapi_extra"]}


def ids_per_jurisdiction(operation: dict) -> bool:
    return operation.get(IDS_KEY) == "per-jurisdiction"


def declared(operation: dict) -> tuple[str, ...] | None:
    """The roles an OpenAPI operation declares, if it declares any."""
    roles = operation.get(ROLES_KEY)
    return tuple(roles) if roles is not None else None
