"""Province dashboard (省级看板): roll-ups of all four services' events, live, in a web page."""

from services.dashboard.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
