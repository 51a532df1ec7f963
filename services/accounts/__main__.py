from services.accounts.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
