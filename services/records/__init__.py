"""Records service (纪实考察): real-name 3+N records, corrections, assessment, record form, portrait."""
