"""The `nextsale` command line."""

from __future__ import annotations

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


def test_help_shows_an_example():
    result = CliRunner().invoke(main, ["generate", "--help"])
    assert result.exit_code == 0
    assert "Example: nextsale generate" in result.output


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
