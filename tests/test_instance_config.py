"""Issue 17, point 9: the Dagster instance can move to Postgres storage and another run launcher
by configuration alone (no Postgres here: the configuration is validated, the launcher swapped)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.instance.config import dagster_instance_config

from warehouse.settings import PROJECT_ROOT

LOCAL = PROJECT_ROOT / "pipelines" / "dagster.yaml"
SHARED = PROJECT_ROOT / "pipelines" / "dagster.postgres.yaml"


def test_the_shared_instance_configuration_is_valid_and_keeps_the_local_rules(tmp_path: Path) -> None:
    shutil.copy(SHARED, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema: raises when invalid
    assert set(config["storage"]) == {"postgres"}
    local = yaml.safe_load(LOCAL.read_text(encoding="utf-8"))
    for key in ("run_retries", "run_monitoring", "concurrency"):  # same rules as make run / make dev
        assert config[key] == local[key], key


def test_postgres_storage_is_installed() -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert PostgresRunStorage and PostgresEventLogStorage and PostgresScheduleStorage


def test_another_run_launcher_by_configuration_alone() -> None:
    launcher = {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"}
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
        assert type(instance.run_launcher).__name__ == "SyncInMemoryRunLauncher"
