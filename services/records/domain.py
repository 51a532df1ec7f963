"""The records service's aggregates (纪实考察) arrive with its own issue; the layout is fixed now."""
