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


def test_config_hash_follows_every_file_the_hub_reads_and_nothing_else(tmp_path):
    settings, secrets, config_d = tmp_path / "settings.yaml", tmp_path / "secrets", tmp_path / "config.d"
    secrets.mkdir()
    config_d.mkdir()
    settings.write_text("hub: {}\n")
    (secrets / "lti13_key.pem").write_text("key one")
    paths = {"COURSEHUB_SETTINGS_FILE": str(settings), "COURSEHUB_SECRETS_DIR": str(secrets),
             "COURSEHUB_CONFIG_D": str(config_d)}

    def digest(env_file="COURSEHUB_PORT=8000\n"):
        return lib("config_hash", env_file, tmp_path, **paths)

    first = digest()
    assert first == digest() and len(first) == 16
    changes = [
        lambda: settings.write_text("hub: {admin_users: [a]}\n"),
        lambda: (secrets / "lti13_key.pem").write_text("key two"),
        lambda: (config_d / "10-extra.py").write_text("c = 1\n"),
    ]
    seen = {first, digest("COURSEHUB_PORT=8001\n")}
    for change in changes:
        change()
        seen.add(digest())
    assert len(seen) == 5, "each change must give a new digest"


@pytest.mark.parametrize("engine,env_file,expected", [
    ("docker", "COURSEHUB_BIND=0.0.0.0\n", "0.0.0.0:8100"),
    ("docker", "COURSEHUB_BIND=127.0.0.1\n", "127.0.0.1:8100"),
    ("docker", "", "0.0.0.0:8100"),
    # Podman's Docker API cannot reach a port published on 0.0.0.0: all addresses, unnamed
    ("podman", "COURSEHUB_BIND=0.0.0.0\n", "8100"),
    ("podman", "", "8100"),
    ("podman", "COURSEHUB_BIND=127.0.0.1\n", "127.0.0.1:8100"),
])
def test_publish(tmp_path, engine, env_file, expected):
    assert lib("publish 8100", env_file, tmp_path, COURSEHUB_ENGINE=engine) == expected


@pytest.mark.parametrize("engine,expected", [
    ("docker", "coursehub env/coursehub.env |"),
    ("podman", "coursehub-podman env/coursehub-podman.env | ENGINE=podman"),
])
def test_each_engine_has_its_own_stack_and_env_file(tmp_path, engine, expected):
    env = {"COURSEHUB_ENGINE": engine, "PATH": "/usr/bin:/bin", "COURSEHUB_IMAGE_TAG": "t"}
    result = subprocess.run(["bash", "-c", '. scripts/lib.sh && echo "$STACK $ENV_FILE |$ON_ENGINE"'],
                            cwd=ROOT, capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == expected


def test_an_unknown_engine_is_refused():
    result = subprocess.run(["bash", "-c", ". scripts/lib.sh"], cwd=ROOT, capture_output=True, text=True,
                            env={"COURSEHUB_ENGINE": "lxc", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "ENGINE must be docker or podman, not 'lxc'" in result.stderr
