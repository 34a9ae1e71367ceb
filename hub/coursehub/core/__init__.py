"""The pure core: LMS launch -> Launch -> SpawnPlan, names, parameters, settings, the grader plan.

Nothing here imports JupyterHub, Docker, SQLAlchemy or another folder of the package
(tests/unit/test_layers.py holds that), so every decision is a function of data.
"""
