"""Puts hub/ on sys.path so the unit tests import the coursehub package without installing it."""

import sys
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
if str(HUB) not in sys.path:
    sys.path.insert(0, str(HUB))
