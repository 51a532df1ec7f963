"""The records service's command handlers arrive with its own issue."""
