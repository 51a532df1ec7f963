"""Teaching's aggregates (course, session, attendance) arrive with their own issue.

Until then teaching only follows selection's events into its class roster.
"""
