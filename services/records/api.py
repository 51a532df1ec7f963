"""HTTP routes of the records service (health, readiness and docs come from shared.api)."""

from fastapi import APIRouter


def routes() -> APIRouter:
    return APIRouter(tags=["纪实考察"])
