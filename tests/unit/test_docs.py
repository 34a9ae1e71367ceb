"""The reference docs follow the code: docs/parameters.md is exactly what
scripts/docs-parameters.py renders from coursehub.params, and docs/settings.md names every
settings key the loader accepts (found by asking load_settings itself), every key of the
example files, and every environment variable settingsfile.py reads."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from coursehub.core import settingsfile as settings_module
from coursehub.core.settings import ROLES, LTI13Platform, SettingsError
from coursehub.core.settingsfile import SETTINGS_KEYS, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()
GOOD_ENV = {name: "x" * 32 for name in settings_module.SECRET_ENV} | {
    "COURSEHUB_LTI11_CONSUMERS": "key:" + "s" * 32,
}


def documented(key: str) -> bool:
    return f"`{key}`" in SETTINGS_DOC


def section_keys(section: str) -> set[str]:
    """The keys load_settings accepts in `section`, read from its own 'unknown key' message."""
    with pytest.raises(SettingsError) as error:
        load_settings(GOOD_ENV, yaml.safe_dump({section: {"zz_probe": 1}}))
    (problem,) = [p for p in error.value.problems if p.startswith(f"{section}.zz_probe")]
    return set(re.search(r"allowed: ([^)]*)\)", problem).group(1).split(", "))


def code_keys() -> set[str]:
    keys = set()
    for section in sorted(SETTINGS_KEYS - {"roles"}):
        keys |= {f"{section}.{key}" for key in section_keys(section)}
    assert section_keys("roles") == set(ROLES)
    role_keys = settings_module._ROLE_KEYS
    keys |= {f"roles.<role>.{key}" for key in role_keys}
    # `source` is the registry's (settings, dynamic, dev), not a key of the file.
    keys |= {f"lti13.platforms[].{f.name}" for f in dataclasses.fields(LTI13Platform) if f.name != "source"}
    return keys


def test_parameters_doc_is_generated_from_the_code():
    spec = importlib.util.spec_from_file_location("docs_parameters", ROOT / "scripts" / "docs-parameters.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (ROOT / "docs" / "parameters.md").read_text() == generator.render(), (
        "docs/parameters.md is stale: run scripts/docs-parameters.py"
    )


def test_every_settings_key_of_the_code_is_documented():
    missing = sorted(key for key in code_keys() if not documented(key))
    assert not missing, f"docs/settings.md does not document: {missing}"


def test_every_key_of_settings_example_is_documented():
    def flatten(data, prefix=""):
        for key, value in data.items():
            path = f"{prefix}{key}"
            if path.startswith("roles.") and path.count(".") == 1:
                for inner in value or {}:
                    yield f"roles.<role>.{inner}"
            elif isinstance(value, dict) and path != "roles":
                yield from flatten(value, path + ".")
            elif path != "roles":
                yield path
            else:
                yield from flatten(value, "roles.")

    example = yaml.safe_load((ROOT / "settings.example.yaml").read_text())
    missing = sorted(key for key in flatten(example) if not documented(key))
    assert not missing, f"docs/settings.md does not document: {missing}"


def test_every_environment_key_is_documented():
    example = (ROOT / "env" / "coursehub.env.example").read_text()
    names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    names |= set(re.findall(r'env\.get\("([A-Z][A-Z0-9_]*)"', Path(settings_module.__file__).read_text()))
    names |= set(settings_module.SECRET_ENV)
    missing = sorted(name for name in names if not documented(name))
    assert not missing, f"docs/settings.md does not document: {missing}"


def test_an_undocumented_key_is_caught():
    assert not documented("spawn.no_such_key")
    assert "culler.timeout" in code_keys()
