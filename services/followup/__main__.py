from shared.entrypoint import main

main("followup")
