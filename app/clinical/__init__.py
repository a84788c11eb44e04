"""Clinical records: evaluations and treatment plans (sessions come next)."""
