"""Teaching's command handlers arrive with its own issue (sessions, attendance, leave)."""
