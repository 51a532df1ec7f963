from services.records.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
