"""`sla import`: HubSpot history (a recorded API session, a contacts export) as events.

The expected events (`tests/fixtures/report/*.expected.jsonl`) were written by hand from the
recorded pages and the export, following the mapping in `sla_lang/history/mapping.py`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from sla_lang import hubspot_portal
from sla_lang.cli import cli

from .hubspot_spec import ASSOCIATIONS_V4, CALLS_V3, CONTACTS_V3, spec_errors, validator

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "hubspot_scoring.sla"
HERE = ROOT / "tests" / "fixtures" / "report"
TOKEN = "pat-na1-1111-HISTORY-SECRET-9999"


def expected(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def written(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------ the contacts export


def test_csv_export_becomes_the_expected_events(tmp_path):
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "csv", "--csv", str(HERE / "export.csv"),
                                      "-o", str(out), "--isolated"])
    assert result.exit_code == 1  # two bad rows
    assert written(out) == expected("export.expected.jsonl")
    err = result.stderr
    assert "Traceback" not in err
    # bad rows: where, and why
    assert f"{HERE / 'export.csv'}:4:4: error SLA870 (bad-history-row) record 103: `Create Date` is 'yesterday'" in err
    assert f"{HERE / 'export.csv'}:5:1: error SLA870 (bad-history-row) the row has no record id" in err
    assert "imported 4 contacts as 12 events" in err
    # nothing dropped silently: every left-out value is counted under its reason, with its place
    assert re.search(r"2 × Last Contacted: only the last touch is in a contacts export .*export.csv:2:17", err)
    assert re.search(r"1 × Industry: a current value without a date, and conditions read it .*export.csv:2:12", err)
    assert re.search(r"1 × lifecyclestage 'evangelist': lifecycle stage not declared by any stage .*export.csv:8:11", err)


def test_export_without_the_required_columns(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Email,Lifecycle Stage\na@example.com,Lead\n", encoding="utf-8")
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "csv", "--csv", str(export), "-o", str(out),
                                      "--isolated"])
    assert result.exit_code == 1
    assert f"{export}:1:1: error SLA870" in result.stderr and "`Record ID` and `Create Date`" in result.stderr
    assert out.read_text(encoding="utf-8") == ""


def test_export_that_is_not_utf8_is_refused_cleanly(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes("Record ID,Create Date\n1,2026-11-02 10:00\n".encode("utf-16"))
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "csv", "--csv", str(export), "-o",
                                      str(tmp_path / "e.jsonl"), "--isolated"])
    assert result.exit_code == 1 and "not UTF-8 text" in result.stderr and "Traceback" not in result.stderr
    assert f"{export}:1:1: not UTF-8 text" in result.stderr  # the UTF-16 byte-order mark
    assert not (tmp_path / "e.jsonl").exists()  # nothing half-written


def test_a_bad_byte_deep_in_an_export_is_reported_at_its_line_and_column(tmp_path):
    """The text stream decodes in chunks and its error offset counts from the chunk: the
    position must be the file's. Rows of 40 bytes, CRLF line ends, one Latin-1 'é' on row 5,001
    (line 5,002 counting the header), after 「佐藤,caf」: column 7 (characters, not bytes)."""
    export = tmp_path / "export.csv"
    rows = [f"{n:09d},2026-11-02 10:00,a{n:09d}@example.com\r\n".encode() for n in range(5000)]
    export.write_bytes(b"Record ID,Create Date,Email\r\n" + b"".join(rows)
                       + "佐藤,".encode() + b"caf\xe9\r\n")
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "csv", "--csv", str(export), "-o",
                                      str(tmp_path / "e.jsonl"), "--isolated"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{export}:5002:7: not UTF-8 text" in result.stderr, result.stderr
    assert not (tmp_path / "e.jsonl").exists()


def test_report_straight_from_an_export():
    result = CliRunner().invoke(cli, ["report", str(POLICY), "--from", "csv", "--csv", str(HERE / "export.csv"),
                                      "--period", "2026-11", "--format", "json", "--isolated"])
    doc = json.loads(result.stdout)
    assert doc["history"]["import_left_out"]["Industry: a current value without a date, and conditions read it"] == 1
    assert sum(doc["history"]["import_left_out"].values()) == 6
    mql = next(c for c in doc["compliance"] if c["clause"] == "mql.respond")
    # The export has no pricing-page views, so none of 101, 102, 104 viewed the pricing page when
    # it became an MQL: under policy 3.3.0 (`via call when pricing_page_view, email otherwise`)
    # only an e-mail meets their first response, due 24 h after entering MQL.
    # 101: a call 1 h after MQL, never an e-mail: breached Nov 3 10:00, still open;
    # 102: an e-mail 30 h after MQL: breached, answered 6 h late;
    # 104: a meeting 5 h after MQL, then SQL on Nov 17 09:00, an hour before it was due: cancelled.
    assert (mql["met"], mql["breached"], mql["cancelled"]) == (0, 2, 1)
    late = {b["lead"]: (b["at"], b["late_minutes"]) for b in doc["breaches"] if b["clause"] == "mql.respond"}
    assert late["101"][0] is None and late["102"] == ("2026-11-10T16:00:00+09:00", 360)
    # 104's meeting in SQL (Nov 18 10:00, 25 h after entering it) meets `respond within 48h` but not
    # its 24 h target: an imported activity that meets a deadline
    sql = next(c for c in doc["compliance"] if c["clause"] == "sql.respond")
    assert (sql["met"], sql["at_risk"], sql["breached"]) == (0, 1, 0)
    assert doc["history"]["leads"] == 4


# ------------------------------------------------------------------ the API (a recorded session)


class RecordedPortal:
    """Answers the read endpoints from the recorded pages; every request body is checked against
    HubSpot's published request schema first (a body the spec rejects is answered 400)."""

    REQUESTS: ClassVar[dict[str, tuple[str, str]]] = {
        "/crm/v3/objects/contacts/search": (CONTACTS_V3, "PublicObjectSearchRequest"),
        "/crm/v3/objects/contacts/batch/read": (CONTACTS_V3, "BatchReadInputSimplePublicObjectId"),
    }

    def __init__(self) -> None:
        self.pages = json.loads((HERE / "hubspot_api_pages.json").read_text(encoding="utf-8"))
        self.log: list[tuple[str, dict]] = []
        self.violations: list[str] = []
        self.rate_limited = False

    def handle(self, request: Request) -> Response:
        body = json.loads(request.data) if request.data else None
        path = request.path
        self.log.append((path, body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"message": "Authentication credentials not found."}, 401)
        schema = self.REQUESTS.get(path)
        if schema is None and path.startswith("/crm/v4/associations/"):
            schema = (ASSOCIATIONS_V4, "BatchInputPublicFetchAssociationsBatchRequest")
        elif schema is None and path.endswith("/batch/read"):
            schema = (CALLS_V3, "BatchReadInputSimplePublicObjectId")  # emails and meetings: the same schema
        errors = spec_errors(*schema, body) if schema else [f"unexpected request {path}"]
        if errors:
            self.violations += [f"{path}: {e}" for e in errors]
            return _json({"message": "; ".join(errors)}, 400)
        if path.endswith("/contacts/search"):
            if not self.rate_limited:  # the first search is rate-limited once
                self.rate_limited = True
                return _json({"message": "You have reached your secondly limit.", "category": "RATE_LIMITS"}, 429,
                             {"Retry-After": "3"})
            return _json(self.pages["search"][body["after"]], 200, {}, (CONTACTS_V3,
                         "CollectionResponseWithTotalSimplePublicObject"))
        if path == "/crm/v3/objects/contacts/batch/read":
            results = [self.pages["contacts"][i["id"]] for i in body["inputs"] if i["id"] in self.pages["contacts"]]
            return _json(_batch(results), 200, {}, (CONTACTS_V3, "BatchResponseSimplePublicObject"))
        if path.startswith("/crm/v4/associations/contacts/"):
            kind = path.split("/")[5]
            results = []
            for item in body["inputs"]:
                pages = self.pages["associations"][kind].get(item["id"], [{"to": []}])
                page = pages[1] if item.get("after") == "a1" else pages[0]
                row = {"from": {"id": item["id"]},
                       "to": [{"toObjectId": t, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1}]}
                              for t in page["to"]]}
                if page.get("after"):
                    row["paging"] = {"next": {"after": page["after"]}}
                results.append(row)
            return _json(_batch(results), 200, {}, (ASSOCIATIONS_V4, "BatchResponsePublicAssociationMultiWithLabel"))
        kind = path.split("/")[4]
        stamps = self.pages["engagements"][kind]
        results = [{"id": i["id"], "properties": {"hs_timestamp": stamps[i["id"]]}, "archived": False,
                    "createdAt": stamps[i["id"]], "updatedAt": stamps[i["id"]]} for i in body["inputs"]]
        return _json(_batch(results), 200, {}, (CALLS_V3, "BatchResponseSimplePublicObject"))


def _batch(results: list) -> dict:
    return {"status": "COMPLETE", "results": results, "startedAt": "2026-12-01T00:00:00Z",
            "completedAt": "2026-12-01T00:00:01Z"}


def _json(data, status: int, headers: dict | None = None, schema: tuple[str, str] | None = None) -> Response:
    if schema is not None:  # the recorded answers are themselves what HubSpot's spec says it answers
        assert validator(*schema).is_valid(data), schema
    return Response(json.dumps(data), status=status, headers=headers or {}, content_type="application/json")


@pytest.fixture
def portal():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    recorded = RecordedPortal()
    server.expect_request(re.compile("^/.*")).respond_with_handler(recorded.handle)
    recorded.url = server.url_for("").rstrip("/")
    yield recorded
    server.clear()
    server.stop()


def test_api_history_becomes_the_expected_events(portal, tmp_path, monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(hubspot_portal, "_sleep", waited.append)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "hubspot", "--since", "2026-11-01",
                                      "--until", "2026-12-01", "--api-url", portal.url, "-o", str(out), "--isolated"])
    assert portal.violations == []
    assert result.exit_code == 0, result.output
    assert written(out) == expected("hubspot_api.expected.jsonl")
    assert waited == [3.0]  # the 429's Retry-After was honoured, once
    assert TOKEN not in result.output and TOKEN not in result.stderr
    # the search asked for the range, oldest first; the history for the policy's names
    search = next(body for path, body in portal.log if path.endswith("/search"))
    filters = search["filterGroups"][0]["filters"]
    assert [f["operator"] for f in filters] == ["GTE", "LT"] and search["sorts"] == ["createdate"]
    assert filters[0]["value"] == "1793458800000"  # 2026-11-01 00:00 in Asia/Tokyo = 2026-10-31 15:00 UTC, in ms
    read = next(body for path, body in portal.log if path.endswith("/contacts/batch/read"))
    assert {"lifecyclestage", "hubspot_owner_id", "numberofemployees", "recycle_reason"} <= set(
        read["propertiesWithHistory"])
    # the paging cursor of one contact's emails was followed
    assert any(path.endswith("/contacts/emails/batch/read") and body["inputs"] == [{"id": "202", "after": "a1"}]
               for path, body in portal.log)
    err = result.stderr
    assert "1 × industry: not an option of the policy's enum" in err and "contact 202, industry" in err
    assert "1 × contact not returned by the batch read" in err and "contact 203" in err


def test_api_errors_are_messages_without_the_token(portal, tmp_path, monkeypatch):
    monkeypatch.setattr(hubspot_portal, "_sleep", lambda seconds: None)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-wrong-token-0000")
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "hubspot", "--api-url", portal.url, "-o",
                                      str(tmp_path / "e.jsonl"), "--isolated"])
    assert result.exit_code == 1
    assert "HubSpot rejected the access token (401)" in result.stderr
    assert "pat-wrong-token-0000" not in result.output + result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "e.jsonl").exists()


def test_import_needs_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["import", str(POLICY), "--from", "hubspot", "-o", str(tmp_path / "e.jsonl"),
                                      "--isolated"])
    assert result.exit_code == 2 and "HUBSPOT_ACCESS_TOKEN" in result.stderr
