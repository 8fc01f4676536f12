"""What the engine knows of a destination: the base class, the two ways of sending
(`BatchUpserts`, `AsynchronousJobs`), lists (`ListMemberships`), and helpers every vendor module
shares. A vendor module says where and how; diff, batching, retries, checkpoints and the log
are the engine's and the same for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self

import requests

from nextsale.sync.http import Client, TransportError
from nextsale.sync.state import Outcome, SyncState


class BatchRejected(Exception):
    """The vendor refused a whole batch (4xx): the engine splits it so good records still go."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message = status, message


@dataclass
class Context:
    client: Client
    state: SyncState
    columns: dict[str, str]  # the activation table's columns and DuckDB types
    poll_seconds: float = 2.0
    # how long a run waits for one asynchronous job; past it the job stays journalled and the
    # next run collects it
    job_timeout_seconds: float = 900.0


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fail(records: list[dict], response: requests.Response, message: str | None = None):
    return [
        Outcome(r["record_key"], False, status_code=response.status_code, message=message)
        for r in records
    ]


def planned(records: list[dict]) -> list[Outcome]:
    return [Outcome(r["record_key"], None) for r in records]


class Destination(ABC):
    """A vendor: where its API is, what its records are called, and how a batch of them is
    deleted or cleared. How records are sent is one of two capabilities below: `BatchUpserts`
    (one request answers a batch) or `AsynchronousJobs` (the vendor accepts a job and finishes
    it later); `ListMemberships` adds lists. The engine calls nothing that is not declared
    here or on the capability it checks for."""

    name: ClassVar[str]
    table: ClassVar[str]
    key: ClassVar[str]  # the record key column (the person's customer_key)
    match: ClassVar[str]  # the column the vendor matches people on
    email: ClassVar[str] = "email"  # the person's email column: erasure requests name emails
    batch_size: ClassVar[int]
    token_env: ClassVar[str]
    base_url_env: ClassVar[tuple[str, ...]]
    default_base_url: ClassVar[str]
    # (requests, seconds) windows per rate-limit bucket
    limits: Mapping[str, tuple[tuple[int, float], ...]]
    # columns left out of the row hash: a new scoring date alone is not a change worth sending
    hash_exclude: ClassVar[tuple[str, ...]] = ()
    # a destination whose host is per account: a token without its URL is an error, never a
    # send to default_base_url (which only dry runs show)
    base_url_required: ClassVar[bool] = False
    # What a do-not-contact person's record becomes: "clear" (nextsale's fields emptied, the
    # record kept: it is the customer's own CRM contact or profile, matched by email) or
    # "delete" (the record is nextsale's own, created under its external id).
    do_not_contact: ClassVar[str] = "clear"

    def __init__(self, token: str | None, base_url: str):
        self.token, self.base_url = token, base_url

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        base = next((env[v] for v in cls.base_url_env if env.get(v)), cls.default_base_url)
        return cls(env.get(cls.token_env) or None, base)

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """Every request's headers; without a token, the name of its variable stands in."""

    def prepare(self, ctx: Context) -> None:  # noqa: B027 (optional: most need nothing)
        """Anything the destination needs before records arrive (custom fields, lists)."""

    @abstractmethod
    def delete(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Delete records: erased people (`reason` 'erasure'), people who left the table in
        mirror mode, retired keys and, where `do_not_contact` is 'delete', do-not-contact
        people."""

    def clear(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Empty nextsale's fields on records of people who may not be marketed to (each
        record's `reason`: 'do not contact' clears every field, 'no email opt-in' only what
        puts them on an email list); list memberships are the engine's."""
        return [Outcome(r["record_key"], True) for r in records]


class BatchUpserts(Destination):
    """A vendor whose answer to one request says, record by record, what it saved."""

    @abstractmethod
    def upsert(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Create or update up to `batch_size` records; BatchRejected when the vendor refuses
        the batch whole (the engine then sends each half)."""


class AsynchronousJobs(Destination):
    """A vendor that accepts a job and finishes it later. The engine journals each job before
    posting it (one posted twice imports twice), collects it, and after a crash finds the jobs
    a killed run posted."""

    @abstractmethod
    def jobs(self, records: list[dict], list_id: str | None = None) -> Iterator[list[tuple]]:
        """(record, payload) pairs grouped into jobs within the vendor's size limits; with
        `list_id`, jobs that add the people to that list."""

    @abstractmethod
    def post_job(self, ctx: Context, job: list[tuple], list_id: str | None) -> str | None:
        """The job's id once the vendor accepted it (None in a dry run); BatchRejected when it
        refuses the job whole."""

    @abstractmethod
    def find_job(
        self, ctx: Context, records: list[dict], since: datetime, list_id: str | None
    ) -> str | None:
        """The id of a job for `records` posted since `since` (journalled, its answer never
        seen), if the vendor has it; None: it never arrived."""

    @abstractmethod
    def collect(self, ctx: Context, job_id: str, records: list[dict]) -> list[Outcome]:
        """Wait (bounded by ctx.job_timeout_seconds) for the job, then each record's outcome."""

    @abstractmethod
    def clear_jobs(self, records: list[dict], columns: list[str]) -> Iterator[list[tuple]]:
        """Jobs that empty `columns` for the records `clear` would empty."""


class ListMemberships(AsynchronousJobs):
    """A vendor with lists: the engine keeps each audience's sendable members on a list of its
    own. Additions go out as jobs carrying the list's id (`jobs(records, list_id)`)."""

    # SQL of (list_name, record_key, match_key): who should be on which list
    wanted_memberships: ClassVar[str]

    @abstractmethod
    def ensure_list(self, ctx: Context, list_name: str) -> str:
        """The list's id, created when the vendor has none of that name."""

    @abstractmethod
    def remove_members(self, ctx: Context, list_name: str, records: list[dict]) -> list[str]:
        """Take people off a list; the record keys that are no longer members."""


def fatal_if_unauthorised(response: requests.Response) -> None:
    if response.status_code in (401, 403):
        raise TransportError(
            f"HTTP {response.status_code}: the destination refused the credentials or the quota "
            f"is spent: {response.text[:300]}"
        )


def ctx_columns(record: dict) -> list[str]:
    """A record's vendor columns: the engine adds record_key and row_hash in front."""
    return [c for c in record if c not in ("record_key", "row_hash")]
