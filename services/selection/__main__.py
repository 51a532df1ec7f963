from services.selection.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
