"""The ``coursehub`` command (``python -m coursehub.cli``)."""
