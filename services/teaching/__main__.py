from services.teaching.service import DEFINITION
from shared.entrypoint import main

main(DEFINITION)
