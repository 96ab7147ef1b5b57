"""Settings: each declared once, read and validated in one place, and the generated table never stale."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fraud_models.env_settings import Kind, Setting, SettingError
from fraud_operator import settings
from fraud_operator.operator_cmd import run_operator
from fraud_operator.settings import CATALOG, OPERATOR_SETTINGS, SettingsError, load
from fraud_operator.settings_docs import DOC_FILES, SCHEMA_FILE, generated_files, main

REPO = Path(__file__).resolve().parents[2]
# Where a STREAMFLOW_* name may be spelled out as a bare string: the declarations.
DECLARING = {
    REPO / "operator" / "settings.py",
    REPO / "jobs" / "env_settings.py",
    REPO / "models" / "env_settings.py",
}
PRODUCT = ("operator", "jobs", "models", "cli")
NAME = re.compile(r"STREAMFLOW_[A-Z0-9_]*[A-Z0-9]")

BAD = {
    "seconds": ["soon", "0", "-5", "inf", "nan"],
    "bytes": ["lots", "0", "-1", "1.5"],
    "boolean": ["sometimes", "2"],
    "host:port": ["localhost", ":5432", "db:port", "db:70000"],
}


def _parameters() -> list[tuple[str, str]]:
    return [(s.name, bad) for s in OPERATOR_SETTINGS for bad in BAD.get(s.kind.name, [])]


@pytest.mark.parametrize(("name", "bad"), _parameters())
def test_a_bad_value_is_an_error_naming_the_variable(name: str, bad: str) -> None:
    (setting,) = [s for s in OPERATOR_SETTINGS if s.name == name]
    with pytest.raises(SettingError, match=rf"^{name}='{re.escape(bad)}': "):
        setting.read({name: bad})


def test_unset_or_empty_gives_the_default_and_good_values_parse() -> None:
    for setting in OPERATOR_SETTINGS:
        assert setting.read({}) == setting.default
        assert setting.read({setting.name: "  "}) == setting.default
    assert settings.RESYNC_SECONDS.value({"STREAMFLOW_RESYNC_SECONDS": "2.5"}) == 2.5
    assert settings.VERIFY_ARTIFACTS.value({"STREAMFLOW_VERIFY_ARTIFACTS": "OFF"}) is False
    assert settings.ARTIFACT_MAX_BYTES.value({"STREAMFLOW_ARTIFACT_MAX_BYTES": "100"}) == 100
    override = {"STREAMFLOW_DB_HOST_OVERRIDE": "[::1]:5433"}
    assert settings.DB_HOST_OVERRIDE.read(override) == ("::1", 5433)
    assert settings.MIGRATIONS_DIR.read({"STREAMFLOW_MIGRATIONS_DIR": "/m"}) == Path("/m")


def _refuse(raw: str) -> str:
    raise ValueError("refused")


def test_a_secret_value_is_never_echoed() -> None:
    assert all(e.setting.secret for e in CATALOG if "DSN" in e.setting.name)
    secret = Setting("STREAMFLOW_TEST_DSN", Kind("text", _refuse, {}), None, "A test.", secret=True)
    with pytest.raises(SettingError) as info:
        secret.read({"STREAMFLOW_TEST_DSN": "postgresql://u:hunter2@h/d"})
    assert "hunter2" not in str(info.value) and "STREAMFLOW_TEST_DSN=<redacted>" in str(info.value)


def test_load_names_every_bad_variable_at_once() -> None:
    values = load({})
    assert set(values) == {s.name for s in OPERATOR_SETTINGS}
    with pytest.raises(SettingsError) as info:
        load({"STREAMFLOW_RESYNC_SECONDS": "soon", "STREAMFLOW_VERIFY_ARTIFACTS": "maybe"})
    assert [e.args[0].split("=")[0] for e in info.value.errors] == [
        "STREAMFLOW_RESYNC_SECONDS",
        "STREAMFLOW_VERIFY_ARTIFACTS",
    ]


def test_the_operator_refuses_to_start_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMFLOW_KAFKA_TIMEOUT_SECONDS", "0")
    monkeypatch.setenv("STREAMFLOW_DB_HOST_OVERRIDE", "nohost")
    code = run_operator(namespaces=["x"], all_namespaces=False, metrics_port=None, liveness_port=None)
    err = capsys.readouterr().err
    assert code == 1
    assert "STREAMFLOW_KAFKA_TIMEOUT_SECONDS='0'" in err and "STREAMFLOW_DB_HOST_OVERRIDE='nohost'" in err


def test_kopf_run_with_bad_settings_registers_only_a_refusing_startup_handler() -> None:
    """``kopf run -m fraud_operator`` imports the package: the import succeeds, the start does not."""
    script = (
        "import asyncio, kopf, fraud_operator\n"
        "registry = kopf.get_default_registry()\n"
        "assert not list(registry._changing.get_all_handlers()), 'resource handlers registered'\n"
        "ours = [h for h in registry._activities.get_all_handlers() if not h.id.startswith('login_via')]\n"
        "(handler,) = ours\n"
        "try:\n"
        "    handler.fn()\n"
        "except kopf.PermanentError as exc:\n"
        "    print(handler.id, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "STREAMFLOW_RESYNC_SECONDS": "often", "HOME": str(Path.home())},
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("settings invalid settings: STREAMFLOW_RESYNC_SECONDS='often'"), (
        result.stdout
    )


def test_catalog_names_are_unique_and_documented() -> None:
    names = [e.setting.name for e in CATALOG]
    assert len(names) == len(set(names))
    for entry in CATALOG:
        assert NAME.fullmatch(entry.setting.name) and entry.setting.description.endswith(".")


@pytest.mark.parametrize("name", [*DOC_FILES, SCHEMA_FILE])
def test_generated_table_and_schema_are_current(name: str) -> None:
    committed = (REPO / name).read_text(encoding="utf-8")
    assert committed == generated_files()[name], (
        f"{name} is stale: run `python -m fraud_operator.settings_docs`"
    )


def test_check_mode_reports_a_stale_table(tmp_path: Path) -> None:
    for name in [*DOC_FILES, SCHEMA_FILE]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    assert main(["--root", str(tmp_path), "--check"]) == 0
    doc = tmp_path / DOC_FILES[0]
    doc.write_text(doc.read_text().replace("| `STREAMFLOW_RESYNC_SECONDS` |", "| `STREAMFLOW_RESYNC` |"))
    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0


def _bare_names(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value)
    ]


def test_no_module_reads_a_streamflow_variable_around_its_declaration() -> None:
    """A bare "STREAMFLOW_..." string outside the declaring modules is a read that bypasses them."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for package in PRODUCT
        if (REPO / package).is_dir()
        for path in sorted((REPO / package).rglob("*.py"))
        if path not in DECLARING
        for line, name in _bare_names(path)
    ]
    assert not found, "read these through fraud_operator.settings or *.env_settings:\n" + "\n".join(found)


def test_every_streamflow_name_in_the_code_is_documented() -> None:
    documented = set(NAME.findall((REPO / "docs" / "settings.md").read_text(encoding="utf-8")))
    used: dict[str, str] = {}
    for package in (*PRODUCT, "devstack"):
        for path in sorted((REPO / package).rglob("*.py")) if (REPO / package).is_dir() else []:
            for name in NAME.findall(path.read_text(encoding="utf-8")):
                used.setdefault(name, str(path.relative_to(REPO)))
    missing = {name: where for name, where in used.items() if name not in documented}
    assert not missing, f"not in docs/settings.md: {missing}"
