from shared.entrypoint import main

main("accounts")
