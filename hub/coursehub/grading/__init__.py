"""Per-course grading: provisioning a course (folders, gradebook, hub roles, its grader and
JupyterHub service) and the course's roster (passwd lines and gradebook rows)."""
