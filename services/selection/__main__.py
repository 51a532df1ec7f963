from shared.entrypoint import main

main("selection")
