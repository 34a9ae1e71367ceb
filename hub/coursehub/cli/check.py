"""`coursehub check-settings`: loads the settings exactly as the hub will and names every
problem, so `make up` stops before starting anything when the env file or settings are wrong."""

from __future__ import annotations

import sys

from traitlets.config import Config

from ..config import apply_all
from ..core.settings import SettingsError
from ..core.settingsfile import load_settings


def check_settings() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    apply_all(Config(), settings)
    roles = ", ".join(f"{role}={policy.image}" for role, policy in settings.roles.items())
    print(
        f"settings ok: {len(settings.lti11_consumers)} LTI 1.1 consumer(s), "
        f"{len(settings.lti13_platforms)} LTI 1.3 platform(s)"
        f"{' + dev platform' if settings.dev_platform else ''}; images {roles}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(check_settings())
