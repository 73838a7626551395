"""The benchmark of update rules (NOS-Bench): a table of real evaluations and a surrogate, served as a task."""
