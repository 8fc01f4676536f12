"""Tests of the nextsale_lab package."""
