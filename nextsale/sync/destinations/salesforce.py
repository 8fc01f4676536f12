"""Salesforce contacts: sObject Collections upserts under nextsale's external id, on the
org's own host (../shared/specs/README.md)."""

from __future__ import annotations

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
from nextsale.sync.http import Call
from nextsale.sync.state import Outcome


class Salesforce(BatchUpserts):
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
                outcomes.append(
                    Outcome(
                        r["record_key"],
                        gone,
                        status_code=200,
                        message=None if gone else _errors(result),
                    )
                )
        return outcomes


def _errors(result: dict) -> str:
    return (
        "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
        or "not saved"
    )
