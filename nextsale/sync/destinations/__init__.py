"""The destinations, a module each, and the registry everything else derives from: the sync
assets, the CLI's choices, `nextsale destinations` and the tests' parametrisation. A new vendor
is a module here (a subclass of `BatchUpserts` or `AsynchronousJobs`) and one entry below,
beside its dbt model (models/marts/activation/published__<vendor>__<object>.sql) and a test
server in tests/support/vendors.py."""

from nextsale.sync.destinations.base import (
    AsynchronousJobs,
    BatchRejected,
    BatchUpserts,
    Context,
    Destination,
    ListMemberships,
    chunks,
)
from nextsale.sync.destinations.hubspot import HubSpot
from nextsale.sync.destinations.klaviyo import Klaviyo
from nextsale.sync.destinations.salesforce import Salesforce

DESTINATIONS: dict[str, type[Destination]] = {d.name: d for d in (HubSpot, Klaviyo, Salesforce)}

__all__ = [
    "DESTINATIONS",
    "AsynchronousJobs",
    "BatchRejected",
    "BatchUpserts",
    "Context",
    "Destination",
    "HubSpot",
    "Klaviyo",
    "ListMemberships",
    "Salesforce",
    "chunks",
]
