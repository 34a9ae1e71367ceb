"""What every subcommand shares: the settings, loaded as the hub loads them, or a clean exit."""

from __future__ import annotations

import sys

from ..core.settings import Settings, SettingsError
from ..core.settingsfile import load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2)
