"""Klaviyo profiles: bulk import jobs (asynchronous, journalled), a list per email audience,
data privacy deletion jobs for erasure (../shared/specs/README.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from nextsale.sync.destinations.base import (
    BatchRejected,
    Context,
    ListMemberships,
    chunks,
    ctx_columns,
    fatal_if_unauthorised,
    jsonable,
    planned,
)
from nextsale.sync.http import Call, TransportError
from nextsale.sync.state import Outcome


class Klaviyo(ListMemberships):
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
        job: list[tuple] = []
        size = 0
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
        newest = ctx.client.answer(
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
        response = ctx.client.answer(self.call("GET", path, bucket="profiles"))
        fatal_if_unauthorised(response)
        return {item["id"] for item in response.json().get("data", [])}

    def collect(self, ctx: Context, job_id: str, records: list[dict]) -> list[Outcome]:
        """Wait for the job, then read its import errors: those records failed, the rest landed."""
        path = f"/api/profile-bulk-import-jobs/{job_id}"
        wait = ctx.poll_seconds / 8
        give_up = time.monotonic() + ctx.job_timeout_seconds
        while True:
            response = ctx.client.answer(self.call("GET", path))
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
        call: Call | None = self.call("GET", f"{path}/import-errors")
        while call is not None:
            page = ctx.client.answer(call).json()
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
            (
                r,
                {
                    "type": "profile",
                    "attributes": {"email": r["match_key"], "properties": dict.fromkeys(columns)},
                },
            )
            for r in records
            if r["reason"] == "do not contact"
        ]
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
            created = ctx.client.answer(
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
            profiles = [
                {"type": "profile", "id": ids[r["match_key"].lower()]}
                for r in batch
                if r["match_key"].lower() in ids
            ]
            if profiles:
                response = ctx.client.answer(
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
                outcomes += [
                    Outcome(r["record_key"], True)
                    for r in batch
                    if r["match_key"].lower() not in held
                ]
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
            outcomes.append(
                Outcome(
                    r["record_key"],
                    ok,
                    status_code=response.status_code,
                    message=None if ok else response.text[:500],
                )
            )
        return outcomes
