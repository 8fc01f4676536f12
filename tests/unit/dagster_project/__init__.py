"""Tests of the dagster_project package."""
