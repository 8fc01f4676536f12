"""The dbt project on a generated warehouse: identity, point-in-time features, activation, incremental builds."""
