"""JupyterHub configuration of coursehub: settings in, traits out. Policy lives in the
coursehub package; site-specific extras go in jupyterhub_config.d/*.py."""

from pathlib import Path

from coursehub.config import apply_all
from coursehub.core.settingsfile import SettingsError, load_settings

c = get_config()  # noqa: F821 - provided by JupyterHub

try:
    settings = load_settings()
except SettingsError as error:
    # One message naming every bad key, instead of a traceback.
    raise SystemExit(str(error)) from None

apply_all(c, settings)

# The admin's escape hatch, loaded in sorted order; never exec'd from env or YAML.
for extra in sorted(Path("/srv/coursehub/jupyterhub_config.d").glob("*.py")):
    load_subconfig(str(extra))  # noqa: F821 - provided by JupyterHub
