"""The dashboard's handlers: it has no commands.

The dashboard decides nothing and publishes no events; it only reads what the four
services publish. `Handlers` therefore holds just its reads and the deployment's clock
(China's day, which says whether a class has started), so that the dashboard is composed
like every service (service.py's `bootstrap`) and its routes reach the reads as every
service's do (`h.reads`, `h.clock`).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.dashboard.reads import Reads
from shared.ports import Clock


@dataclass(frozen=True)
class Handlers:
    reads: Reads
    clock: Clock
