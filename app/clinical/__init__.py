"""Clinical records: evaluations, treatment plans, and in-clinic sessions (``sessions``)."""
