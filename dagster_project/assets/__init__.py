"""The assets, a module per layer; what they share."""

from datetime import timedelta

import dagster as dg

# What a person acts on is refreshed daily: older than a day and two hours means a run failed
# or stopped, and the UI shows it overdue.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26))
