"""Events published by the followup service. Its own issue adds them."""

from shared.events import CATALOGUE

register = CATALOGUE.register("followup")
