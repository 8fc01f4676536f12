"""Consent and erasure at each destination, and the one guard every sync goes through: a build
older than the latest consent load is not sent from (erasures and suppressions still apply),
do-not-contact empties or deletes what the vendor holds, an erased address nextsale never sent
is deleted too, and generated people never leave this machine."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from nextsale.sync import SyncError, sync
from tests.support.sync import (
    CREDENTIALS,
    TABLES,
    TOKEN,
    activation_tables,
    delivered,
    identity,
    run,
    server,
    warehouse,
)

__all__ = ["activation_tables", "server", "warehouse"]  # fixtures, used by name
pytestmark = pytest.mark.parametrize("vendor", list(TABLES))


def person(warehouse: Path, vendor: str, index: int) -> tuple[str, str]:
    """(customer key, email) of a person the table sends to an email list."""
    table, key, email = TABLES[vendor]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"""select t."{key}", t."{email}" from activation.{table} t
            join activation.audience_members a on a.customer_key = t."{key}"
            where a.is_sendable and a.channel = 'email'
            group by all order by 1 limit 1 offset {index}"""
        ).fetchone()


def mark_do_not_contact(con, customer_key: str, email: str, leave_table: bool, vendor: str):
    """What dbt does when the CRM says do not contact: into activation.suppressions, out of the
    destination tables and the audiences (a fresh build) or not yet (a stale one)."""
    con.execute(
        "insert into activation.suppressions values (?, ?, 'do not contact')", [customer_key, email]
    )
    if leave_table:
        table, key, _ = TABLES[vendor]
        con.execute(f'delete from activation.{table} where "{key}" = ?', [customer_key])
        con.execute(
            "delete from activation.audience_members where customer_key = ?", [customer_key]
        )


def on_email_lists(vendor: str, server, email: str) -> bool:
    if vendor == "klaviyo":
        return any(email in v["members"] for v in server.lists.values())
    if vendor == "hubspot":
        return bool(server.contacts.get(email, {}).get("nextsale_audiences"))
    return False


def test_do_not_contact_empties_what_the_vendor_holds_once(vendor, warehouse, server):
    run(vendor, warehouse, server)
    key, email = person(warehouse, vendor, 2)
    assert vendor == "salesforce" or on_email_lists(vendor, server, email)
    with duckdb.connect(str(warehouse)) as con:
        mark_do_not_contact(con, key, email, leave_table=True, vendor=vendor)
    result = run(vendor, warehouse, server)
    assert result.log["status"] == "success" and result.log["planned_clears"] == 1
    assert not on_email_lists(vendor, server, email)
    if vendor == "hubspot":  # the CRM's own contact stays, nextsale's properties are emptied
        fields = {k: v for k, v in server.contacts[email].items() if k.startswith("nextsale_")}
        assert fields.pop("nextsale_customer_key") == key and set(fields.values()) == {""}
    elif vendor == "klaviyo":  # the profile stays, out of every list, properties nulled
        properties = server.profiles[email]["properties"]
        assert properties and all(v is None for v in properties.values())
    else:  # Salesforce holds nextsale's own record under its external id: deleted
        assert key not in server.records and server.deleted == [key]
    again = run(vendor, warehouse, server)
    assert again.log["planned_clears"] == 0 and again.log["planned_deletes"] == 0


def test_a_build_older_than_the_latest_consent_load_sends_nothing_but_applies_consent(
    vendor, warehouse, server
):
    run(vendor, warehouse, server)
    stays, stays_email = person(warehouse, vendor, 0)
    erased_key, erased_email = person(warehouse, vendor, 1)
    dnc_key, dnc_email = person(warehouse, vendor, 2)
    table, key, email = TABLES[vendor]
    column = "Purchase_Propensity__c" if vendor == "salesforce" else "nextsale_purchase_propensity"
    with duckdb.connect(str(warehouse)) as con:
        # the CRM export loaded after the build: the tables still hold everyone, changed scores
        # included; only the ungated erasures and suppressions are current
        con.execute(f'update activation.{table} set "{column}" = 0.4242')
        con.execute("insert into activation.erasure_requests values (?)", [erased_email])
        mark_do_not_contact(con, dnc_key, dnc_email, leave_table=False, vendor=vendor)
        con.execute(
            "insert into raw.crm_contacts (contact_id, _loaded_at) "
            "values ('late', current_timestamp)"
        )
    server.applied.clear()
    with pytest.raises(SyncError, match="nothing was sent: CRM contacts were loaded at"):
        run(vendor, warehouse, server)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        status, planned = con.execute(
            "select status, planned_upserts from sync.log order by started_at desc limit 1"
        ).fetchone()
    assert (status, planned) == ("refused", 0)
    # nothing from the stale build was delivered: only Klaviyo's import nulling the
    # do-not-contact person's properties
    assert set(delivered(vendor, server)) <= ({dnc_email} if vendor == "klaviyo" else set())
    gone = server.deleted if vendor == "salesforce" else server.erased
    assert (erased_key if vendor == "salesforce" else erased_email) in gone
    assert not on_email_lists(vendor, server, dnc_email)
    if vendor == "salesforce":
        assert dnc_key not in server.records
    if vendor != "salesforce":
        assert on_email_lists(vendor, server, stays_email)  # the others' lists are untouched


def test_mirror_never_empties_lists_from_a_stale_build(vendor, warehouse, server):
    run(vendor, warehouse, server)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
        con.execute("update raw.crm_erasure_requests set _loaded_at = current_timestamp")
    with pytest.raises(SyncError, match="erasure requests were loaded at"):
        run(vendor, warehouse, server, mirror=True)
    if vendor == "klaviyo":
        assert all(v["members"] for v in server.lists.values())


def test_an_erased_address_nextsale_never_sent_is_deleted_too(vendor, warehouse, server):
    run(vendor, warehouse, server)
    elsewhere = "the.same.person@elsewhere.example"
    if vendor == "hubspot":  # a contact the CRM made itself, under the person's second address
        server.contacts[elsewhere] = {"email": elsewhere}
        server.ids[elsewhere] = "999001"
    elif vendor == "klaviyo":
        server.profiles[elsewhere] = {"email": elsewhere, "properties": {}}
        server.profile_ids[elsewhere] = "01ELSEWHERE"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into activation.erasure_requests values (?)", [elsewhere])
    result = run(vendor, warehouse, server)
    if vendor == "salesforce":  # it holds only what nextsale upserted under its own key
        assert result.log["planned_deletes"] == 0
        return
    assert elsewhere in server.erased and result.log["deleted"] >= 1
    again = run(vendor, warehouse, server)
    assert again.log["planned_deletes"] == 0, "an erased address is deleted once"


def test_generated_people_never_reach_a_host_that_is_not_local(vendor, warehouse, server):
    token_env, url_env = CREDENTIALS[vendor]
    with pytest.raises(SyncError, match="were generated .* nothing was sent"):
        sync(vendor, warehouse, env={token_env: TOKEN, url_env: "https://api.example-crm.com"})
    with duckdb.connect(str(warehouse)) as con:
        assert not con.execute(
            "select * from duckdb_schemas() where schema_name = 'sync'"
        ).fetchall()
        con.execute("update raw._provenance set generated = false")  # a real shop's data
    assert run(vendor, warehouse, server).log["sent"] == len(identity(vendor, warehouse))
