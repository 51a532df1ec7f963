"""The dashboard's handlers: it has no commands.

The dashboard decides nothing and publishes no events; it only reads what the four
services publish. `Handlers` therefore holds just its reads, so that the dashboard is
composed like every service (service.py's `bootstrap`) and its routes reach the reads
as every service's do (`h.reads`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.dashboard.reads import Reads


@dataclass(frozen=True)
class Handlers:
    reads: Reads
