"""HTTP routes of the followup service (health, readiness and docs come from shared.api)."""

from fastapi import APIRouter


def routes() -> APIRouter:
    return APIRouter(tags=["跟踪问效"])
