"""Event contracts (versioned payload models), one module per publishing service.

Services import each other's *contracts*, never each other's code.
"""

from shared.contracts import (  # noqa: F401  (registers every type)
    accounts,
    followup,
    records,
    reminders,
    selection,
    teaching,
)
