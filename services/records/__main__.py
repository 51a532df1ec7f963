from services.records.service import DEFINITION
from shared.entrypoint import main

# Guarded: the PDF workers (drawing.py) are spawned, and a spawned process imports the main
# module again; without the guard each would start a second records service.
if __name__ == "__main__":
    main(DEFINITION)
