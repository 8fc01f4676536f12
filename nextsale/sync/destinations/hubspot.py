"""HubSpot CRM contacts: custom properties in a `nextsale` group, batch upserts matched on
email, GDPR deletes for erasure (../shared/specs/README.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Self

import requests

from nextsale.sync.destinations.base import (
    BatchRejected,
    BatchUpserts,
    Context,
    chunks,
    ctx_columns,
    fail,
    fatal_if_unauthorised,
    jsonable,
    planned,
)
from nextsale.sync.http import Call, TransportError
from nextsale.sync.state import Outcome


class HubSpot(BatchUpserts):
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
    def from_env(cls, env: Mapping[str, str]) -> Self:
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
