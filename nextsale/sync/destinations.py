"""The three destinations: what each one's endpoints, payloads, batch sizes and rate limits are
(../shared/specs/README.md), and how its answers map back to records. Everything else (diff,
batching, retries, checkpoints, the log) is the engine's and the same for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import requests

from nextsale.sync.http import Call, Client, TransportError
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


class Destination:
    """A vendor. Subclasses say where and how; `upsert` or `submit`/`collect` do the sending."""

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
    limits: ClassVar[Mapping[str, tuple[tuple[int, float], ...]]]
    # columns left out of the row hash: a new scoring date alone is not a change worth sending
    hash_exclude: ClassVar[tuple[str, ...]] = ()
    asynchronous: ClassVar[bool] = False
    # SQL of (list_name, record_key, match_key) for destinations with list membership
    wanted_memberships: ClassVar[str | None] = None
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
    def from_env(cls, env: Mapping[str, str]) -> Destination:
        base = next((env[v] for v in cls.base_url_env if env.get(v)), cls.default_base_url)
        return cls(env.get(cls.token_env) or None, base)

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def prepare(self, ctx: Context) -> None:
        """Anything the destination needs before records arrive (custom fields, lists)."""

    def upsert(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        raise NotImplementedError

    def delete(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        raise NotImplementedError

    def clear(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Empty nextsale's fields on records of people who may not be marketed to (each
        record's `reason`: 'do not contact' clears every field, 'no email opt-in' only what
        puts them on an email list); list memberships are the engine's."""
        return [Outcome(r["record_key"], True) for r in records]


def fatal_if_unauthorised(response: requests.Response) -> None:
    if response.status_code in (401, 403):
        raise TransportError(
            f"HTTP {response.status_code}: the destination refused the credentials or the quota "
            f"is spent: {response.text[:300]}"
        )


# ------------------------------------------------------------------------------------------
class HubSpot(Destination):
    name = "hubspot"
    table = "activation.hubspot__contacts"
    key = "nextsale_customer_key"
    match = "email"
    batch_size = 100  # per CRM batch call (not in the spec: the test server enforces it too)
    token_env = "HUBSPOT_ACCESS_TOKEN"
    base_url_env = ("HUBSPOT_BASE_URL",)
    default_base_url = "https://api.hubapi.com"
    # Free/Starter: 100 per 10 s per app; Professional and Enterprise allow 190
    limits = {"default": ((100, 10.0),)}
    hash_exclude = ("nextsale_scored_on",)
    group = "nextsale"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HubSpot:
        """The account's tier sets the limit: HUBSPOT_REQUESTS_PER_10S (default 100)."""
        destination = super().from_env(env)
        per_10s = int(env.get("HUBSPOT_REQUESTS_PER_10S") or 100)
        destination.limits = {"default": ((per_10s, 10.0),)}
        return destination

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token or '${HUBSPOT_ACCESS_TOKEN}'}"}

    def prepare(self, ctx: Context) -> None:
        """Create the `nextsale` property group and any custom property that is missing."""
        path = "/crm/v3/properties/contacts"
        group = ctx.client.send(Call("GET", f"{path}/groups/{self.group}"))
        if group is None or group.status_code == 404:
            created = ctx.client.send(
                Call(
                    "POST",
                    f"{path}/groups",
                    {"name": self.group, "label": "nextsale", "displayOrder": -1},
                    idempotent=False,
                )
            )
            if created is not None and created.status_code not in (200, 201, 409):
                fatal_if_unauthorised(created)
                raise TransportError(f"creating property group: {created.text[:300]}")
        existing = ctx.client.send(Call("GET", path, params={"archived": "false"}))
        known = set()
        if existing is not None:
            fatal_if_unauthorised(existing)
            known = {p["name"] for p in existing.json().get("results", [])}
        missing = [c for c in ctx.columns if c.startswith("nextsale_") and c not in known]
        if missing:
            inputs = [self._property(name, ctx.columns[name]) for name in missing]
            response = ctx.client.send(Call("POST", f"{path}/batch/create", {"inputs": inputs}))
            if response is not None and response.status_code not in (200, 201, 207):
                raise TransportError(f"creating properties: {response.text[:300]}")

    def _property(self, name: str, duckdb_type: str) -> dict:
        kind = duckdb_type.upper()
        if kind.startswith(("DOUBLE", "DECIMAL", "FLOAT", "INTEGER", "BIGINT", "HUGEINT")):
            type_, field = "number", "number"
        elif kind == "DATE":
            type_, field = "date", "date"
        else:
            type_, field = "string", "textarea" if name.endswith("reasons") else "text"
        label = name.removeprefix("nextsale_").replace("_", " ").capitalize()
        return {
            "name": name,
            "label": f"nextsale: {label}",
            "type": type_,
            "fieldType": field,
            "groupName": self.group,
        }

    def upsert(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        inputs = [
            {"id": r["email"], "idProperty": "email", "properties": self._properties(r)}
            for r in records
        ]
        response = ctx.client.send(
            Call("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})
        )
        if response is None:
            return planned(records)
        fatal_if_unauthorised(response)
        if response.status_code not in (200, 207):
            raise BatchRejected(response.status_code, response.text[:500])
        body = response.json()
        ids = {
            (result.get("properties") or {}).get("email", "").lower(): result["id"]
            for result in body.get("results", [])
        }
        errors = body.get("errors", [])
        outcomes = []
        for r in records:
            email = r["email"].lower()
            if email in ids:
                outcomes.append(Outcome(r["record_key"], True, ids[email]))
                continue
            mine = [e for e in errors if email in json.dumps(e.get("context", {})).lower()]
            message = "; ".join(e.get("message", "") for e in (mine or errors)) or "not upserted"
            outcomes.append(Outcome(r["record_key"], False, status_code=207, message=message))
        return outcomes

    def _properties(self, record: dict) -> dict[str, str]:
        """HubSpot takes strings; an empty string clears one of our properties, while an unknown
        name, phone or email is left as the CRM has it."""
        properties = {}
        for column in ctx_columns(record):
            value = record[column]
            if value is None and not column.startswith("nextsale_"):
                continue
            properties[column] = "" if value is None else str(jsonable(value))
        return properties

    def delete(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        erased = [r for r in records if r["reason"] == "erasure"]
        removed = [r for r in records if r["reason"] != "erasure"]
        outcomes = []
        for r in erased:  # GDPR delete: the contact and its history, one at a time
            response = ctx.client.send(
                Call(
                    "POST",
                    "/crm/v3/objects/contacts/gdpr-delete",
                    {"objectId": r["match_key"], "idProperty": "email"},
                )
            )
            outcomes += self._deleted([r], response)
        for batch in chunks([r for r in removed if r["destination_id"]], self.batch_size):
            inputs = [{"id": r["destination_id"]} for r in batch]
            response = ctx.client.send(
                Call("POST", "/crm/v3/objects/contacts/batch/archive", {"inputs": inputs})
            )
            outcomes += self._deleted(batch, response)
        outcomes += [Outcome(r["record_key"], True) for r in removed if not r["destination_id"]]
        return outcomes

    def clear(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Batch-update by the contact's id, never upsert: a contact the CRM has since deleted
        is not made again for someone who may not be contacted."""
        every = [c for c in ctx.columns if c.startswith("nextsale_") and c != self.key]
        outcomes = [Outcome(r["record_key"], True) for r in records if not r["destination_id"]]
        for batch in chunks([r for r in records if r["destination_id"]], self.batch_size):
            inputs = [
                {
                    "id": r["destination_id"],
                    "properties": dict.fromkeys(
                        every if r["reason"] == "do not contact" else ["nextsale_audiences"], ""
                    ),
                }
                for r in batch
            ]
            response = ctx.client.send(
                Call("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": inputs})
            )
            if response is None:
                outcomes += planned(batch)
                continue
            fatal_if_unauthorised(response)
            if response.status_code not in (200, 207):
                outcomes += fail(batch, response, response.text[:500])
                continue
            updated = {result["id"] for result in response.json().get("results", [])}
            outcomes += [
                Outcome(r["record_key"], True)
                if r["destination_id"] in updated
                else Outcome(r["record_key"], True, message="no longer in HubSpot")
                for r in batch
            ]
        return outcomes

    @staticmethod
    def _deleted(records: list[dict], response: requests.Response | None) -> list[Outcome]:
        if response is None:
            return planned(records)
        fatal_if_unauthorised(response)
        if response.status_code in (200, 204, 404):  # 404: already gone
            return [Outcome(r["record_key"], True) for r in records]
        return fail(records, response, response.text[:500])


def ctx_columns(record: dict) -> list[str]:
    """A record's vendor columns: the engine adds record_key and row_hash in front."""
    return [c for c in record if c not in ("record_key", "row_hash")]


# ------------------------------------------------------------------------------------------
class Klaviyo(Destination):
    name = "klaviyo"
    table = "activation.klaviyo__profiles"
    key = "external_id"
    match = "email"
    batch_size = 10_000  # profiles per bulk import job (and at most 5 MB)
    max_job_bytes = 4_500_000  # under the 5 MB payload limit, with room for the envelope
    token_env = "KLAVIYO_API_KEY"
    base_url_env = ("KLAVIYO_BASE_URL",)
    default_base_url = "https://a.klaviyo.com"
    revision = "2026-07-15"
    # per endpoint, from the spec's x-klaviyo-ratelimit: (burst per 1 s, steady per 60 s)
    limits = {
        "default": ((10, 1.0), (150, 60.0)),  # bulk import jobs, list membership
        "profiles": ((75, 1.0), (750, 60.0)),  # reading profiles and lists
        "privacy": ((3, 1.0), (60, 60.0)),  # data privacy deletion jobs
    }
    hash_exclude = ("nextsale_scored_on",)
    asynchronous = True
    content_type = "application/vnd.api+json"
    wanted_memberships = """
        select 'nextsale: ' || a.audience as list_name, a.customer_key as record_key,
               p.email as match_key
        from activation.audience_members a
        join activation.klaviyo__profiles p on p.external_id = a.customer_key
        where a.is_sendable and a.channel = 'email'"""

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Klaviyo-API-Key {self.token or '${KLAVIYO_API_KEY}'}",
            "revision": self.revision,
            "Accept": "application/vnd.api+json",
        }

    def call(self, method: str, path: str, body=None, **kwargs) -> Call:
        return Call(method, path, body, content_type=self.content_type, **kwargs)

    def profile(self, record: dict) -> dict:
        standard = ("email", "phone_number", "external_id", "first_name", "last_name")
        attributes = {k: record[k] for k in standard if record.get(k) is not None}
        attributes["properties"] = {
            k: jsonable(record[k]) for k in ctx_columns(record) if k.startswith("nextsale_")
        }
        return {"type": "profile", "attributes": attributes}

    def jobs(self, records: list[dict], list_id: str | None = None) -> Iterator[list[tuple]]:
        """(record, profile) pairs in bulk import jobs of at most 10,000 profiles and 4.5 MB.
        With `list_id` the profiles carry only the email: the job adds them to that list."""
        job, size = [], 0
        for record in records:
            profile = (
                self.profile(record)
                if list_id is None
                else {"type": "profile", "attributes": {"email": record["match_key"]}}
            )
            length = len(json.dumps(profile, default=str))
            if job and (len(job) == self.batch_size or size + length > self.max_job_bytes):
                yield job
                job, size = [], 0
            job.append((record, profile))
            size += length
        if job:
            yield job

    def post_job(self, ctx: Context, job: list[tuple], list_id: str | None) -> str | None:
        """The job's id once Klaviyo accepted it (None in a dry run)."""
        attributes = {"profiles": {"data": [profile for _, profile in job]}}
        data: dict[str, Any] = {"type": "profile-bulk-import-job", "attributes": attributes}
        if list_id is not None:
            data["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
        response = ctx.client.send(
            self.call("POST", "/api/profile-bulk-import-jobs", {"data": data})
        )
        if response is None:
            return None
        fatal_if_unauthorised(response)
        if response.status_code != 202:
            raise BatchRejected(response.status_code, response.text[:500])
        return response.json()["data"]["id"]

    def find_job(
        self, ctx: Context, records: list[dict], since: datetime, list_id: str | None
    ) -> str | None:
        """The id of the job a killed run posted for `records` just after journalling it at
        `since`, if Klaviyo has it: a job created since then, for the same list (or none),
        holding some of these people's profiles. None: it never arrived."""
        emails = [str(r.get("email") or r.get("match_key")) for r in records[:100]]
        held = set((self.profile_ids(ctx, emails) or {}).values())
        if not held:
            return None  # none of its people is in Klaviyo: nothing of it was imported
        newest = ctx.client.send(
            self.call(
                "GET",
                "/api/profile-bulk-import-jobs",
                params={"sort": "-created_at", "page[size]": "100"},
                bucket="profiles",
            )
        )
        fatal_if_unauthorised(newest)
        cutoff = since - timedelta(seconds=1)  # the vendor's clock, to the second
        for job in newest.json().get("data", []):
            created = datetime.fromisoformat(job["attributes"]["created_at"])
            if created.replace(tzinfo=None) < cutoff:
                break
            lists = self._related(ctx, job["id"], "lists")
            if (
                lists == ({list_id} if list_id else set())
                and self._related(ctx, job["id"], "profiles") & held
            ):
                return job["id"]
        return None

    def _related(self, ctx: Context, job_id: str, related: str) -> set[str]:
        path = f"/api/profile-bulk-import-jobs/{job_id}/relationships/{related}"
        response = ctx.client.send(self.call("GET", path, bucket="profiles"))
        fatal_if_unauthorised(response)
        return {item["id"] for item in response.json().get("data", [])}

    def collect(self, ctx: Context, job_id: str, records: list[dict]) -> list[Outcome]:
        """Wait for the job, then read its import errors: those records failed, the rest landed."""
        path = f"/api/profile-bulk-import-jobs/{job_id}"
        wait = ctx.poll_seconds / 8
        give_up = time.monotonic() + ctx.job_timeout_seconds
        while True:
            response = ctx.client.send(self.call("GET", path))
            fatal_if_unauthorised(response)
            status = response.json()["data"]["attributes"]["status"]
            if status in ("complete", "cancelled", "failed"):
                break
            if time.monotonic() + wait > give_up:
                raise TransportError(
                    f"Klaviyo import job {job_id} is still {status} after "
                    f"{ctx.job_timeout_seconds:.0f} s; it stays journalled (sync.pending_jobs) "
                    "and the next run collects it"
                )
            time.sleep(wait)
            wait = min(ctx.poll_seconds, wait * 2)
        if status != "complete":
            return [
                Outcome(r["record_key"], False, status_code=200, message=f"import job {status}")
                for r in records
            ]
        errors: dict[str, str] = {}
        call = self.call("GET", f"{path}/import-errors")
        while call is not None:
            page = ctx.client.send(call).json()
            for error in page.get("data", []):
                attributes = error["attributes"]
                email = (attributes.get("original_payload") or {}).get("email", "")
                errors[str(email).lower()] = (
                    f"{attributes.get('title')}: {attributes.get('detail')}"
                )
            following = (page.get("links") or {}).get("next")
            call = (
                self.call("GET", following.split(self.base_url.rstrip("/"), 1)[-1])
                if following
                else None
            )
        outcomes = []
        for r in records:
            email = str(r.get("email") or r.get("match_key") or "").lower()
            if email in errors:
                outcomes.append(
                    Outcome(r["record_key"], False, status_code=200, message=errors[email])
                )
            else:
                outcomes.append(Outcome(r["record_key"], True))
        return outcomes

    def clear_jobs(self, records: list[dict], columns: list[str]) -> Iterator[list[tuple]]:
        """Import jobs that set nextsale's properties to null for do-not-contact people (an
        opt-out only leaves the email lists, which the engine does)."""
        emptied = [
            (r, {"type": "profile", "attributes": {
                "email": r["match_key"], "properties": dict.fromkeys(columns)}})
            for r in records if r["reason"] == "do not contact"
        ]  # fmt: skip
        for start in range(0, len(emptied), self.batch_size):
            yield emptied[start : start + self.batch_size]

    def ensure_list(self, ctx: Context, list_name: str) -> str:
        known = ctx.state.list_id(list_name)
        if known:
            return known
        found = ctx.client.send(
            self.call(
                "GET",
                "/api/lists",
                params={"filter": f'equals(name,"{list_name}")'},
                bucket="profiles",
            )
        )
        if found is None:
            return f"<id of list {list_name!r}>"
        fatal_if_unauthorised(found)
        existing = found.json().get("data", [])
        if existing:
            list_id = existing[0]["id"]
        else:
            created = ctx.client.send(
                self.call(
                    "POST",
                    "/api/lists",
                    {"data": {"type": "list", "attributes": {"name": list_name}}},
                    idempotent=False,
                )
            )
            if created.status_code != 201:
                raise TransportError(f"creating list {list_name!r}: {created.text[:300]}")
            list_id = created.json()["data"]["id"]
        ctx.state.remember_list(list_name, list_id)
        return list_id

    def profile_ids(self, ctx: Context, emails: list[str]) -> dict[str, str] | None:
        """Klaviyo's profile ids of up to 100 emails, by lower-case email (None: dry run)."""
        wanted = ",".join(json.dumps(e) for e in emails)
        found = ctx.client.send(
            self.call(
                "GET",
                "/api/profiles",
                params={"filter": f"any(email,[{wanted}])", "page[size]": "100"},
                bucket="profiles",
            )
        )
        if found is None:
            return None
        fatal_if_unauthorised(found)
        return {p["attributes"]["email"].lower(): p["id"] for p in found.json().get("data", [])}

    def remove_members(self, ctx: Context, list_name: str, records: list[dict]) -> list[str]:
        """Remove people from a list: Klaviyo wants its profile ids, found by email. Returns the
        record keys that are no longer members."""
        list_id = self.ensure_list(ctx, list_name)
        removed = []
        for batch in chunks(records, 100):
            ids = self.profile_ids(ctx, [r["match_key"] for r in batch])
            if ids is None:
                continue
            profiles = [{"type": "profile", "id": ids[r["match_key"].lower()]} for r in batch
                        if r["match_key"].lower() in ids]  # fmt: skip
            if profiles:
                response = ctx.client.send(
                    self.call(
                        "DELETE", f"/api/lists/{list_id}/relationships/profiles", {"data": profiles}
                    )
                )
                if response.status_code != 204:
                    continue  # left in the state: tried again next run
            removed += [r["record_key"] for r in batch]
        return removed

    def delete(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        """Erasure: a data privacy deletion job per person. Klaviyo has no other way to delete a
        profile, so mirror mode only takes people off nextsale's lists."""
        outcomes = []
        # an erased address nextsale never sent: only a profile Klaviyo has needs a job
        unsent = [r for r in records if r["record_key"].startswith("email:")]
        for batch in chunks(unsent, 100):
            held = self.profile_ids(ctx, [r["match_key"] for r in batch])
            if held is not None:
                outcomes += [Outcome(r["record_key"], True) for r in batch
                             if r["match_key"].lower() not in held]  # fmt: skip
                records = [r for r in records if r not in batch or r["match_key"].lower() in held]
        for r in records:
            if r["reason"] != "erasure":
                outcomes.append(Outcome(r["record_key"], True))
                continue
            profile = {"data": {"type": "profile", "attributes": {"email": r["match_key"]}}}
            body = {
                "data": {"type": "data-privacy-deletion-job", "attributes": {"profile": profile}}
            }
            response = ctx.client.send(
                self.call("POST", "/api/data-privacy-deletion-jobs", body, bucket="privacy")
            )
            if response is None:
                outcomes += planned([r])
                continue
            fatal_if_unauthorised(response)
            ok = response.status_code == 202
            outcomes.append(Outcome(r["record_key"], ok, status_code=response.status_code,
                                    message=None if ok else response.text[:500]))  # fmt: skip
        return outcomes


# ------------------------------------------------------------------------------------------
class Salesforce(Destination):
    name = "salesforce"
    table = "activation.salesforce__contacts"
    key = "Nextsale_Customer_Key__c"
    match = "Nextsale_Customer_Key__c"
    email = "Email"
    batch_size = 200  # records per sObject Collections request
    token_env = "SALESFORCE_ACCESS_TOKEN"
    base_url_env = ("SALESFORCE_BASE_URL", "SALESFORCE_INSTANCE_URL")
    # each org has its own host: there is no default to fall back on (dry runs show this one)
    default_base_url = "https://your-org.my.salesforce.com"
    base_url_required = True
    api_version = "v62.0"
    sobject = "Contact"
    # Salesforce publishes no per-second limit, only a daily allocation per org and at most 25
    # concurrent long requests; pacing at 25 requests a second stays well inside both
    limits = {"default": ((25, 1.0),)}
    hash_exclude = ("Scored_On__c",)
    do_not_contact = "delete"  # upserted under nextsale's external id: the record is nextsale's

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token or '${SALESFORCE_ACCESS_TOKEN}'}"}

    @property
    def collections(self) -> str:
        return f"/services/data/{self.api_version}/composite/sobjects"

    def upsert(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": self.sobject}} | {k: jsonable(r[k]) for k in ctx_columns(r)}
                for r in records
            ],
        }
        response = ctx.client.send(
            Call("PATCH", f"{self.collections}/{self.sobject}/{self.key}", body)
        )
        if response is None:
            return planned(records)
        fatal_if_unauthorised(response)
        if response.status_code != 200:
            raise BatchRejected(response.status_code, response.text[:500])
        return [
            Outcome(r["record_key"], True, result.get("id"))
            if result.get("success")
            else Outcome(r["record_key"], False, status_code=200, message=_errors(result))
            for r, result in zip(records, response.json(), strict=True)
        ]

    def delete(self, ctx: Context, records: list[dict]) -> list[Outcome]:
        known = [r for r in records if r["destination_id"]]
        outcomes = [Outcome(r["record_key"], True) for r in records if not r["destination_id"]]
        for batch in chunks(known, self.batch_size):
            params = {"ids": ",".join(r["destination_id"] for r in batch), "allOrNone": "false"}
            response = ctx.client.send(Call("DELETE", self.collections, params=params))
            if response is None:
                outcomes += planned(batch)
                continue
            fatal_if_unauthorised(response)
            if response.status_code != 200:
                outcomes += fail(batch, response, response.text[:500])
                continue
            for r, result in zip(batch, response.json(), strict=True):
                gone = result.get("success") or any(
                    e.get("statusCode") == "ENTITY_IS_DELETED" for e in result.get("errors", [])
                )
                outcomes.append(Outcome(r["record_key"], gone, status_code=200,
                                        message=None if gone else _errors(result)))  # fmt: skip
        return outcomes


def _errors(result: dict) -> str:
    return (
        "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
        or "not saved"
    )


DESTINATIONS: dict[str, type[Destination]] = {d.name: d for d in (HubSpot, Klaviyo, Salesforce)}
