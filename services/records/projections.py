"""The records service's read models arrive with its own issue."""

from shared.projection import Projection

PROJECTIONS: list[Projection] = []
