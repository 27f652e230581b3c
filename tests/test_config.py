"""Settings precedence: config file, then LAKEHOUSE_* variables, then keyword arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
from lakehouse.config import Settings, load_settings
from lakehouse.errors import ConfigError

CONFIG = """
root = "{root}"
actor = "from-file"

[datasets]
checkpoint_interval = 7
vacuum_retention_hours = 24
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "custom.toml"
    path.parent.mkdir()
    path.write_text(CONFIG.format(root=tmp_path / "from-file"), encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_CONFIG", str(path))
    return path


def test_defaults_without_any_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./conf/lakehouse.toml here
    monkeypatch.delenv("LAKEHOUSE_ACTOR")
    settings = load_settings()
    assert settings == Settings()
    assert settings.root == Path("lakehouse-data")
    assert lakehouse.connect().root.local == tmp_path / "lakehouse-data"


def test_shipped_config_matches_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = Path(__file__).parents[1] / "conf" / "lakehouse.toml"
    monkeypatch.setenv("LAKEHOUSE_CONFIG", str(shipped))
    monkeypatch.delenv("LAKEHOUSE_ACTOR")
    assert load_settings() == Settings(extra=load_settings().extra)


def test_config_file_is_read(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_ACTOR")
    settings = load_settings()
    assert settings.root == tmp_path / "from-file"
    assert settings.actor == "from-file"
    assert settings.checkpoint_interval == 7
    assert settings.vacuum_retention_hours == 24
    assert settings.log_retention == Settings().log_retention  # not in the file: default


def test_default_config_location_is_conf_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "lakehouse.toml").write_text('root = "elsewhere"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings().root == Path("elsewhere")


def test_environment_beats_file(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "from-env"))
    monkeypatch.setenv("LAKEHOUSE_CHECKPOINT_INTERVAL", "12")
    settings = load_settings()
    assert settings.root == tmp_path / "from-env"
    assert settings.checkpoint_interval == 12
    assert settings.vacuum_retention_hours == 24  # still from the file
    assert settings.actor == "tester"  # LAKEHOUSE_ACTOR set by conftest


def test_keyword_arguments_beat_environment(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "from-env"))
    monkeypatch.setenv("LAKEHOUSE_CHECKPOINT_INTERVAL", "12")
    lh = lakehouse.connect(tmp_path / "from-kwargs", checkpoint_interval=3, actor="kw")
    assert lh.root.local == tmp_path / "from-kwargs"
    assert lh.settings.checkpoint_interval == 3
    assert lh.settings.vacuum_retention_hours == 24
    assert lh.actor == "kw"
    # None means "not given": the environment still applies.
    assert lakehouse.connect(None).root.local == tmp_path / "from-env"


def test_settings_reach_new_tables(config_file: Path, tmp_path: Path) -> None:
    import polars as pl

    from lakehouse import storage

    lh = lakehouse.connect(tmp_path / "lh", checkpoint_interval=5)
    lh.dataset("d").write(pl.DataFrame({"x": [1]}))
    props = storage.properties(lh.layout.dataset("d"))
    assert props["delta.checkpointInterval"] == "5"
    assert props["delta.logRetentionDuration"] == "interval 3650 days"


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"LAKEHOUSE_CONFIG points at .*nope\.toml.*not a file"):
        load_settings()


def test_broken_config_file(config_file: Path) -> None:
    config_file.write_text("root = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings()


def test_bad_value_in_file_names_file_and_setting(config_file: Path) -> None:
    config_file.write_text('[datasets]\ncheckpoint_interval = "often"\n', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"custom\.toml: 'often' is not a valid int for setting 'checkpoint_interval'"
    ):
        load_settings()


def test_bad_value_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_VACUUM_RETENTION_HOURS", "a week")
    with pytest.raises(ConfigError, match="environment variable LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        load_settings()


def test_bad_keyword_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'rooot'; known settings: .*root"):
        lakehouse.connect("x", rooot="y")
    with pytest.raises(ConfigError, match="not a valid int"):
        lakehouse.connect("x", checkpoint_interval=True)
