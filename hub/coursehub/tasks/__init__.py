"""Background tasks of the hub process, started once JupyterHub has finished starting
(coursehub.config hands them to the authenticator, which starts them with the app)."""
