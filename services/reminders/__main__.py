from shared.entrypoint import main

main("reminders")
