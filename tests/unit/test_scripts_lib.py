"""scripts/lib.sh's pure helpers, run in bash as the scripts run them."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lib(call: str, env_file: str, tmp_path: Path, **env: str) -> str:
    (tmp_path / "coursehub.env").write_text(env_file)
    result = subprocess.run(
        ["bash", "-c", f". scripts/lib.sh && {call}"], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "COURSEHUB_ENV_FILE": str(tmp_path / "coursehub.env"),
             "COURSEHUB_IMAGE_TAG": "t", **env}, check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize("env_file,expected", [
    ("COURSEHUB_PORT=443\n", "443"),
    ("COURSEHUB_PORT=8443\n", "8443"),
    ("", "8000"),
    # a NAT publishes host port 8443 as 443: browsers must be sent to the public one
    ("COURSEHUB_PORT=8443\nCOURSEHUB_PUBLIC_URL=https://hub.example.edu\n", "443"),
    ("COURSEHUB_PORT=443\nCOURSEHUB_PUBLIC_URL=https://hub.example.edu:9443/\n", "9443"),
    ("COURSEHUB_PORT=8443\nCOURSEHUB_PUBLIC_URL=https://hub.example.edu/jupyter\n", "443"),
    # not an https public URL (or not one this can read): the published port
    ("COURSEHUB_PORT=8443\nCOURSEHUB_PUBLIC_URL=http://hub.example.edu\n", "8443"),
    ("COURSEHUB_PORT=8443\nCOURSEHUB_PUBLIC_URL=https://[2001:db8::1]:9443\n", "8443"),
])
def test_https_redirect_target(tmp_path, env_file, expected):
    assert lib("https_redirect_target", env_file, tmp_path) == expected


def test_environment_wins_over_the_env_file(tmp_path):
    assert lib("https_redirect_target", "COURSEHUB_PORT=8443\n", tmp_path,
               COURSEHUB_PUBLIC_URL="https://h.example:7443") == "7443"
