"""The destination registry: every vendor sends one way, and declares all the engine calls."""

import inspect

from nextsale.sync.destinations import (
    DESTINATIONS,
    AsynchronousJobs,
    BatchUpserts,
    ListMemberships,
)


def test_every_destination_sends_either_batches_or_jobs_and_implements_all_of_it():
    for name, destination in DESTINATIONS.items():
        assert destination.name == name
        assert issubclass(destination, BatchUpserts) != issubclass(destination, AsynchronousJobs)
        assert not inspect.isabstract(destination), inspect.getattr_static(
            destination, "__abstractmethods__"
        )
        assert destination.from_env({}).token is None  # no token: dry runs only


def test_a_destination_with_lists_says_who_belongs_on_them():
    with_lists = [d for d in DESTINATIONS.values() if issubclass(d, ListMemberships)]
    assert with_lists  # Klaviyo's email audiences
    for destination in with_lists:
        assert "list_name" in destination.wanted_memberships
