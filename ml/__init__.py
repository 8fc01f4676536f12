"""Models: plain Python without Dagster imports (features -> train -> evaluate -> score)."""
