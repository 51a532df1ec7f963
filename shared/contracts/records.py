"""Events published by the records service. Its own issue adds them."""

from shared.events import CATALOGUE

register = CATALOGUE.register("records")
