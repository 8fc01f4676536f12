"""Tests of one package each, a folder per package (nextsale, ml, nextsale_lab, dagster_project)."""
