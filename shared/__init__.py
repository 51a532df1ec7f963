"""ganxun's own common package: the event-sourcing kernel, auth, settings, logging."""
