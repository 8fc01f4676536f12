"""Consent as a marketing team changes it: opt-outs, do-not-contact and erasure requests land in
the CRM export, the documented daily run goes through on a day the models are held back, and
`nextsale sync` takes the people off every destination (local vendor servers)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from nextsale.cli import main
from nextsale.config import Settings
from nextsale.sync import DESTINATIONS
from tests.conftest import settings_for
from tests.support.sync import servers

__all__ = ["servers"]  # a fixture, used by name
NEW_VERSION_AT = "2026-11-30T09:00:00Z"  # after every generated update (END_DATE 2026-11-01)


@pytest.fixture
def changed(activation_run, pipeline_settings, tmp_path, monkeypatch) -> Settings:
    """The session's warehouse and landing folder, copied: this test loads files into them."""
    assert activation_run.success
    landing = tmp_path / "landing"
    shutil.copytree(pipeline_settings.landing_dir, landing)
    settings = settings_for(tmp_path, landing)
    shutil.copy(pipeline_settings.duckdb_path, settings.duckdb_path)
    if pipeline_settings.artifacts_dir.is_dir():
        shutil.copytree(pipeline_settings.artifacts_dir, settings.artifacts_dir)
    for variable, value in {
        "NEXTSALE_DUCKDB_PATH": settings.duckdb_path,
        "NEXTSALE_LANDING_DIR": landing,
        "NEXTSALE_ARTIFACTS_DIR": settings.artifacts_dir,
    }.items():
        monkeypatch.setenv(variable, str(value))
    return settings


def pick_audience_members(database: Path, n: int) -> list[dict]:
    """People sent an email audience, with their CRM contact and any other email they have."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            """with other as (
                select k.customer_key, min(substr(k.node_id, 7)) as other_email
                from intermediate.int_identity__customer_keys k
                join intermediate.int_activation__people p using (customer_key)
                where k.identifier_type = 'email' and substr(k.node_id, 7) <> p.email
                group by 1)
            select p.customer_key, p.email, p.contact_id, p.phone, other.other_email
            from intermediate.int_activation__people p
            left join other using (customer_key)
            where p.contact_id is not null and p.email is not null
              and p.customer_key in (select customer_key from activation.audience_members
                                     where is_sendable and channel = 'email')
            order by (other.other_email is null), (p.phone is null), p.customer_key
            limit ?""",
            [n],
        ).fetchall()
    columns = ("customer_key", "email", "contact_id", "phone", "other_email")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def write_crm_changes(landing: Path, opt_outs, do_not_contact, erased) -> None:
    """Today's CRM export: a second contact record that opts out under the same email, a new
    version of a contact that says do not contact, and erasure requests that name the person by
    another address, their phone, or their email with a stray tab."""
    contacts = landing / "crm" / "contacts"
    with (contacts / "part-00000.csv").open() as f:
        current = {row["contact_id"]: row for row in csv.DictReader(f)}
        columns = list(next(iter(current.values())))
    changes = []
    for person in opt_outs:
        second = {c: "" for c in columns} | {
            "contact_id": f"second-{person['contact_id']}",
            "email": person["email"],
            "created_at": NEW_VERSION_AT,
            "updated_at": NEW_VERSION_AT,
            "email_opt_in": "false",
            "sms_opt_in": "false",
            "do_not_contact": "false",
        }
        changes.append(second)
    for person in do_not_contact:
        changes.append(
            current[person["contact_id"]] | {"updated_at": NEW_VERSION_AT, "do_not_contact": "true"}
        )
    with (contacts / "part-00001.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(changes)
    requests = landing / "crm" / "erasure_requests" / "part-00001.csv"
    with requests.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "phone", "requested_at"])
        for person in erased:
            if person["other_email"]:
                writer.writerow([person["other_email"].upper(), "", NEW_VERSION_AT])
            elif person["phone"]:
                writer.writerow(["", person["phone"], NEW_VERSION_AT])
            else:
                writer.writerow([f"{person['email']}\t", "", NEW_VERSION_AT])


def daily_run_without_syncs(settings: Settings) -> dg.ExecuteInProcessResult:
    """`dg launch --assets 'not group:sync'`, the README's daily run."""
    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] != "sync"]
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=keys
    )


def sync_everywhere() -> None:
    for name in DESTINATIONS:
        result = CliRunner().invoke(main, ["sync", name])
        assert result.exit_code == 0, result.output


def reachable(servers, person: dict, how: str) -> list[str]:
    """Where the person can still be marketed to: an email list, or, after do-not-contact or
    erasure, any nextsale field or record at all."""
    hubspot, klaviyo, salesforce = servers["hubspot"], servers["klaviyo"], servers["salesforce"]
    emails = {person["email"], person["other_email"]} - {None}
    found = []
    for email in emails:
        contact = hubspot.contacts.get(email)
        if contact and contact.get("nextsale_audiences"):
            found.append(f"hubspot list {email}")
        if (
            contact
            and how != "opt-out"
            and any(
                v
                for k, v in contact.items()
                if k.startswith("nextsale_") and k != "nextsale_customer_key"
            )
        ):
            found.append(f"hubspot fields {email}")
        if contact and how == "erased":
            found.append(f"hubspot contact {email}")
        if any(email in v["members"] for v in klaviyo.lists.values()):
            found.append(f"klaviyo list {email}")
        profile = klaviyo.profiles.get(email)
        if profile and how == "erased":
            found.append(f"klaviyo profile {email}")
        if profile and how == "do not contact" and any(profile.get("properties", {}).values()):
            found.append(f"klaviyo fields {email}")
    if how != "opt-out" and person["customer_key"] in salesforce.records:
        found.append(f"salesforce {person['customer_key']}")
    return found


def test_consent_changed_in_the_crm_reaches_every_destination_while_models_are_held_back(
    changed, servers
):
    sync_everywhere()
    people = pick_audience_members(changed.duckdb_path, 12)  # 14 qualify among 600 people
    assert len(people) == 12
    groups = {"opt-out": people[:4], "do not contact": people[4:8], "erased": people[8:]}
    before = {
        how: sum(bool(reachable(servers, p, how)) for p in group) for how, group in groups.items()
    }
    assert before == {"opt-out": 4, "do not contact": 4, "erased": 4}
    write_crm_changes(changed.landing_dir, *groups.values())

    run = daily_run_without_syncs(changed)
    held_back = [
        e.asset_key.path[-1]
        for e in run.get_asset_check_evaluations()
        if e.check_name == "beats_baselines" and not e.passed
    ]
    assert held_back, "on 600 people some model is held back"
    assert run.success, "a held-back model no longer stops the run"
    with duckdb.connect(str(changed.duckdb_path), read_only=True) as con:
        still_sendable = con.execute(
            "select count(distinct customer_key) from activation.audience_members "
            "where is_sendable and customer_key in (select unnest(?::varchar[]))",
            [[p["customer_key"] for p in people]],
        ).fetchone()[0]
        erased = {
            r[0] for r in con.execute("select email from activation.erasure_requests").fetchall()
        }
    print(
        f"\nheld back: {', '.join(sorted(held_back))}; of {len(people)} changed people, "
        f"{still_sendable} still sendable"
    )
    assert still_sendable == 0
    # every address of an erased person, whichever one the request named
    assert {p["email"] for p in groups["erased"]} <= erased

    sync_everywhere()
    after = {
        how: [r for p in group for r in reachable(servers, p, how)] for how, group in groups.items()
    }
    assert after == {"opt-out": [], "do not contact": [], "erased": []}
    # the records of the do-not-contact people are kept in HubSpot and Klaviyo (they are the
    # customer's own contacts), emptied of nextsale's fields; Salesforce's were nextsale's
    for person in groups["do not contact"]:
        assert person["email"] in servers["hubspot"].contacts
        assert person["email"] in servers["klaviyo"].profiles
