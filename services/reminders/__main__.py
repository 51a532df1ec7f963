from services.reminders.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
