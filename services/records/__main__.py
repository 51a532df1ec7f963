from shared.entrypoint import main

main("records")
