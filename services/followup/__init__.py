"""Follow-up service (跟踪问效): 1/3/6/12-month milestones, evaluations, 1+1 mentors,
sharing talks, outcomes."""
