#!/bin/sh
# The coursehub CLI inside the hub image.
exec python3 -m coursehub.cli "$@"
