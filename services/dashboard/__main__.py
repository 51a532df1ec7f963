"""Province dashboard (省级看板): roll-ups of all four services' events, live, in a web page."""
from shared.entrypoint import main

main("dashboard")
