"""Province dashboard (省级看板): what every county does, rolled up from the event streams."""
