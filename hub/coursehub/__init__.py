"""coursehub: JupyterHub + nbgrader behind an LMS, wired from one settings file."""

__version__ = "0.1.0"
