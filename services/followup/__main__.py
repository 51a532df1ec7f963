from services.followup.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
