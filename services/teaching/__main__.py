from shared.entrypoint import main

main("teaching")
