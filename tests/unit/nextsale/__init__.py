"""Tests of the nextsale package."""
