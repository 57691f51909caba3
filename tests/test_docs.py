"""Documentation kept honest: every setting documented as declared, every documented setting real, the
secret key generated once."""

import os
import re
import stat
from pathlib import Path

from config import env as env_module
from config.env import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `(?P<name>[A-Z_]+)` \| `(?P<default>[^`]*)` \| (?P<help>.+) \|$")


def documented_settings() -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    return {m["name"]: (m["default"], m["help"]) for m in map(ROW.match, text.splitlines()) if m}


def test_configuration_doc_lists_every_declared_setting_with_its_default_and_help():
    assert documented_settings() == {s.name: (s.default, s.help) for s in SETTINGS}


def test_settings_module_reads_only_declared_settings():
    source = (ROOT / "config" / "settings.py").read_text()
    used = set(re.findall(r'env(?:_bool|_list)?\("([A-Z_]+)"\)', source))
    assert used <= {s.name for s in SETTINGS}


def test_readme_links_the_configuration_and_import_docs():
    readme = (ROOT / "README.md").read_text()
    for page in ("docs/configuration.md", "docs/import.md", "docs/metrics.md", "docs/architecture.md"):
        assert page in readme, f"README does not link {page}"


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    first, second = env_module.secret_key(), env_module.secret_key()
    assert first == second and len(first) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.read_text() == first
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_secret_key_variable_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    (tmp_path / "secret_key").write_text("from-file")
    monkeypatch.setenv("SECRET_KEY", "from-environment")
    assert env_module.secret_key() == "from-environment"
