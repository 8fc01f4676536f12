"""The `nextsale` command line."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from nextsale.cli import main


def test_generate_writes_the_landing_folders(tmp_path):
    out = tmp_path / "landing"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--customers",
            "50",
            "--seed",
            "1",
            "--out",
            str(out),
            "--end-date",
            "2026-11-01",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "shop_orders" in result.output
    assert (out / "shop" / "orders" / "part-00000.csv").exists()
    assert (out / "web" / "events" / "part-00000.jsonl").exists()


def test_every_command_says_what_it_does_with_an_example():
    for command in ["", *main.commands]:
        result = CliRunner().invoke(main, [command, "--help"] if command else ["--help"])
        assert result.exit_code == 0, command
        assert "Example" in result.output and f"nextsale {command}".strip() in result.output


def test_a_sync_without_a_token_says_it_ran_dry(activation_run, pipeline_settings, tmp_path):
    warehouse = shutil.copy(pipeline_settings.duckdb_path, tmp_path / "warehouse.duckdb")
    env = {
        "NEXTSALE_DUCKDB_PATH": str(warehouse),
        "NEXTSALE_ARTIFACTS_DIR": str(tmp_path),
        "KLAVIYO_API_KEY": "",
    }
    result = CliRunner().invoke(main, ["sync", "klaviyo"], env=env)
    assert result.exit_code == 0, result.output
    assert "KLAVIYO_API_KEY is not set: planning a dry run, nothing will be sent" in result.output
    assert any((tmp_path / "sync" / "klaviyo" / "dry-run").glob("*.json"))


def test_a_missing_data_set_names_the_readme_section(tmp_path):
    result = CliRunner().invoke(
        main, ["import", "cdnow", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "README 'Real data sets'" in result.output


def test_summary_without_a_warehouse_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXTSALE_DUCKDB_PATH", str(tmp_path / "missing.duckdb"))
    result = CliRunner().invoke(main, ["summary"])
    assert result.exit_code == 1
    assert "run `make demo`" in result.output


def test_summary_lists_layers_and_quarantine(first_run, pipeline_settings, monkeypatch):
    monkeypatch.setenv("NEXTSALE_DUCKDB_PATH", str(pipeline_settings.duckdb_path))
    result = CliRunner().invoke(main, ["summary"])
    assert result.exit_code == 0, result.output
    for text in ("raw_quarantine", "staging", "customer_360", "exact duplicate"):
        assert text in result.output


def test_a_sync_shows_progress_and_its_result(activation_run, pipeline_settings, tmp_path):
    from tests.support.vendors import HubSpotServer

    warehouse = shutil.copy(pipeline_settings.duckdb_path, tmp_path / "warehouse.duckdb")
    with HubSpotServer(token="cli-token") as server:
        env = {
            "NEXTSALE_DUCKDB_PATH": str(warehouse),
            "HUBSPOT_ACCESS_TOKEN": "cli-token",
            "HUBSPOT_BASE_URL": server.url,
        }
        result = CliRunner().invoke(main, ["sync", "hubspot"], env=env)
        assert result.exit_code == 0, result.output
        assert server.invalid_requests == []
    assert "Syncing hubspot" in result.output
    assert f"sent {len(server.contacts):,}, failed 0" in result.output
    assert "cli-token" not in result.output
