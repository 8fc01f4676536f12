"""The whole graph and the product as a user runs it: Dagster, both warehouses, the UI, the report, the wheel."""
