"""Reverse ETL: the activation tables, synced to HubSpot, Klaviyo and Salesforce."""

from nextsale.sync.destinations import DESTINATIONS
from nextsale.sync.engine import SyncError, SyncResult, sync

__all__ = ["DESTINATIONS", "SyncError", "SyncResult", "sync"]
