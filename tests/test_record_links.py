"""Record links: where a deal (or a lead) opens in its CRM, from what each sync learned (kpi/links.py).

The API connectors' own learning (HubSpot's account details, Salesforce's instance, Pipedrive's users/me) is
specified in their test files; here: the URL shapes, the checks on what a CRM answers, csv.yaml's ``url:``,
and what a sync stores, keeps or replaces.
"""

from __future__ import annotations

import datetime as dt

import pytest

from crm.csv_source import csv_connector
from crm.sync import run_sync
from kpi.config import ConfigError
from kpi.links import link_templates, record_url, template_problem, templates
from tests.test_csv_sync import MAPPING, write
from tests.test_sync_runner import FakeConnector, rep_pages

NOW = dt.datetime(2026, 4, 2, 12, 0)
LATER = dt.datetime(2026, 4, 3, 12, 0)


def test_each_crm_gives_its_deals_an_address_from_what_its_api_tells():
    hubspot = templates("hubspot", {"portal_id": "62515", "ui_domain": "app-eu1.hubspot.com"})
    salesforce = templates("salesforce", {"instance_url": "https://acme.my.salesforce.com"})
    pipedrive = templates("pipedrive", {"company_domain": "cafe-zurich"})

    assert hubspot == {
        "deals": "https://app-eu1.hubspot.com/contacts/62515/record/0-3/{id}",
        "leads": "https://app-eu1.hubspot.com/contacts/62515/record/0-1/{id}",
    }
    assert salesforce == {
        "deals": "https://acme.my.salesforce.com/lightning/r/Opportunity/{id}/view",
        "leads": "https://acme.my.salesforce.com/lightning/r/Lead/{id}/view",
    }
    assert pipedrive == {"deals": "https://cafe-zurich.pipedrive.com/deal/{id}"}
    assert record_url(hubspot["deals"], {"id": "1017"}) == "https://app-eu1.hubspot.com/contacts/62515/record/0-3/1017"
    assert record_url(salesforce["deals"], {"id": "0065g00000AbCdE"}) == (
        "https://acme.my.salesforce.com/lightning/r/Opportunity/0065g00000AbCdE/view"
    )


@pytest.mark.parametrize(
    ("source", "base", "wrong"),
    [
        ("hubspot", {"portal_id": "62515", "ui_domain": "evil.example.com"}, "ui_domain 'evil.example.com'"),
        ("hubspot", {"portal_id": "None", "ui_domain": "app.hubspot.com"}, "portal_id 'None'"),
        ("salesforce", {"instance_url": "https://acme.my.salesforce.com/x?y"}, "instance_url"),
        ("pipedrive", {"company_domain": "evil.com/"}, "company_domain 'evil.com/'"),
        ("pipedrive", {"company_domain": None}, "company_domain None"),
    ],
)
def test_an_answer_of_another_shape_makes_no_link_that_could_lead_elsewhere(source, base, wrong):
    with pytest.raises(ValueError, match=f"{source}'s {wrong}"):
        templates(source, base)


def test_a_value_put_in_an_address_stays_one_path_segment_and_a_missing_one_makes_no_link():
    template = "https://crm.example.com/deals/{id}?name={name}"

    assert record_url(template, {"id": "a/b c", "name": "Café & co"}) == (
        "https://crm.example.com/deals/a%2Fb%20c?name=Caf%C3%A9%20%26%20co"
    )
    assert record_url(template, {"id": "D1", "name": None}) is None


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("https://crm.example.com/deals/{id}", None),
        ("https://crm.example.com/{name}/{id}", None),
        ("crm.example.com/deals/{id}", "is not an address: start it with https://"),
        ("https://crm.example.com/deals/{deal_id}", "{deal_id} is neither {id} nor a field of this import (name)"),
        ("https://crm.example.com/deals/{id:>5}", "write {id} without a format"),
        ("https://crm.example.com/deals/{name}", "has no {id}: every record would open the same page"),
        ("https://crm.example.com/deals/{id", "write {id} where the record's id goes"),
    ],
)
def test_a_csv_url_template_is_checked_before_any_link_is_made(template, problem):
    found = template_problem(template, {"name"})

    assert found == problem if problem is None else problem in found


def test_csv_yaml_gives_deals_a_link_and_the_sync_stores_it(engine, tmp_path):
    export = tmp_path / "export"
    write(export, "deals.csv", "deal_id,name,amount,stage\nD1,Acme,100,Closed Won\n")
    url = '    url: "https://crm.example.com/deals/{id}"\n'
    config = write(tmp_path / "config", "csv.yaml", MAPPING.replace("    fields:\n", url + "    fields:\n")).parent
    write(config, "org.yaml", "timezone: UTC\n")

    run_sync(engine, csv_connector(export, config), full=True, now=NOW)

    with engine.connect() as connection:
        assert link_templates(connection) == {("csv", "deals"): "https://crm.example.com/deals/{id}"}


def test_a_wrong_csv_url_names_the_key_and_the_fix(tmp_path):
    export = tmp_path / "export"
    write(export, "deals.csv", "deal_id,name,amount,stage\nD1,Acme,100,Closed Won\n")
    url = '    url: "https://crm.example.com/deals/{deal_id}"\n'
    path = write(tmp_path / "config", "csv.yaml", MAPPING.replace("    fields:\n", url + "    fields:\n"))

    with pytest.raises(ConfigError) as error:
        csv_connector(export, path.parent)

    assert f"{path}: key 'imports.0.url': " in str(error.value)
    assert "{deal_id} is neither {id} nor a field of this import (amount, name, status)" in str(error.value)


class LinkingConnector(FakeConnector):
    """Reps, and the links a CRM answered (or the problem it raised) when asked where records open."""

    def __init__(self, answer: dict[str, str] | Exception) -> None:
        super().__init__(rep_pages([("r1", "Ann")]))
        self.answer = answer

    def links(self) -> dict[str, str]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_each_sync_replaces_the_links_of_its_source_and_leaves_the_others(engine):
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO record_links (source, object, template, learned_at) "
            "VALUES ('csv', 'deals', 'https://crm.example.com/{id}', '2026-01-01 00:00:00')"
        )
    run_sync(
        engine,
        LinkingConnector({"deals": "https://a.example.com/{id}", "leads": "https://a.example.com/l/{id}"}),
        full=True,
        now=NOW,
    )

    run_sync(engine, LinkingConnector({"deals": "https://b.example.com/{id}"}), full=True, now=LATER)

    with engine.connect() as connection:
        assert link_templates(connection) == {
            ("csv", "deals"): "https://crm.example.com/{id}",
            ("fake", "deals"): "https://b.example.com/{id}",
        }


def test_links_a_sync_could_not_learn_keep_the_previous_ones_and_say_so(engine):
    run_sync(engine, LinkingConnector({"deals": "https://a.example.com/{id}"}), full=True, now=NOW)

    report = run_sync(engine, LinkingConnector(ValueError("pipedrive's company_domain None ...")), full=True, now=LATER)

    assert report.status == "ok"
    assert report.warnings == [
        "record links not learned, the previous ones are kept: pipedrive's company_domain None ..."
    ]
    with engine.connect() as connection:
        assert link_templates(connection) == {("fake", "deals"): "https://a.example.com/{id}"}
