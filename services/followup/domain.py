"""The followup service's aggregates (跟踪问效) arrive with its own issue; the layout is fixed now."""
