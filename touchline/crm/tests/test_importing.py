from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from touchline.crm.importing import ImportFileError, import_file
from touchline.crm.models import Company, Contact, Deal, DealStatus

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "import"


def test_import_creates_rows_and_resolves_references_declared_later_in_the_file(account_scope):
    report = import_file(account=account_scope, path=FIXTURES / "crm.jsonl")
    assert report.ok, report.rejections
    assert {t: c["created"] for t, c in report.counts.items()} == {"company": 1, "contact": 2, "deal": 2}
    acme = Company.objects.get(account=account_scope, external_id="co-1")
    assert acme.domain == "acme.test"
    ada = Contact.objects.get(account=account_scope, external_id="c-1")
    assert (ada.email, ada.company, ada.lifecycle_stage) == ("ada@acme.test", acme, "customer")
    assert ada.created_at == datetime(2025, 1, 10, 9, tzinfo=UTC)
    assert Contact.objects.get(account=account_scope, external_id="c-2").company == acme  # by domain
    pilot = Deal.objects.get(account=account_scope, external_id="d-1")
    assert (pilot.amount, pilot.currency, pilot.status) == (Decimal("1200.50"), "EUR", DealStatus.WON)
    assert pilot.closed_at == datetime(2025, 3, 15, 16, 30, tzinfo=UTC)
    assert sorted(pilot.contacts.values_list("external_id", flat=True)) == ["c-1", "c-2"]
    expansion = Deal.objects.get(account=account_scope, external_id="d-2")
    assert (expansion.amount, expansion.status, expansion.stage.name) == (Decimal("800"), "open",
                                                                          "Appointment scheduled")


def test_import_changes_nothing_when_the_same_file_is_imported_again(account_scope):
    import_file(account=account_scope, path=FIXTURES / "crm.jsonl")
    before = list(Contact.objects.filter(account=account_scope).values_list("id", "updated_at"))
    report = import_file(account=account_scope, path=FIXTURES / "crm.jsonl")
    assert {t: dict(c) for t, c in report.counts.items()} == {
        "company": {"unchanged": 1}, "contact": {"unchanged": 2}, "deal": {"unchanged": 2}}
    assert list(Contact.objects.filter(account=account_scope).values_list("id", "updated_at")) == before


def test_import_updates_a_row_whose_fields_changed(account_scope, tmp_path):
    import_file(account=account_scope, path=FIXTURES / "crm.jsonl")
    changed = tmp_path / "changed.jsonl"
    changed.write_text('{"type": "contact", "external_id": "c-2", "last_name": "Hopper"}\n')
    report = import_file(account=account_scope, path=changed)
    assert dict(report.counts["contact"]) == {"updated": 1}
    grace = Contact.objects.select_related("company").get(account=account_scope, external_id="c-2")
    # Only the field the row carries changed; the email, name and company it left out are kept.
    assert (grace.last_name, grace.first_name, grace.email, grace.company.external_id) == \
        ("Hopper", "Grace", "grace@acme.test", "co-1")


def test_import_reports_each_bad_row_with_its_line_and_keeps_the_good_ones(account_scope):
    report = import_file(account=account_scope, path=FIXTURES / "bad.jsonl")
    problems = {(r.line, r.field) for r in report.rejections}
    assert problems == {
        (2, "email"),                 # not an email
        (3, ""),                      # not JSON
        (4, "type"),                  # unknown type
        (5, "company_external_id"),   # unknown company
        (8, "email"),                 # duplicate of line 7 (case-insensitive)
        (9, "created_at"),            # not a date
        (10, "amount"),               # negative
        (12, ""),                     # unknown field
    }
    assert "line 5 (contact): company_external_id: no company with external_id 'co-404'" in \
        [str(r) for r in report.rejections]
    assert sorted(Contact.objects.filter(account=account_scope).values_list("external_id", flat=True)) == \
        ["c-3", "c-4"]
    assert list(Deal.objects.filter(account=account_scope).values_list("external_id", flat=True)) == ["d-3"]


def test_import_reads_csv_with_a_multiline_field_and_reports_physical_lines(account_scope, tmp_path):
    import_file(account=account_scope, path=FIXTURES / "companies.csv")
    report = import_file(account=account_scope, path=FIXTURES / "contacts.csv", forced_type="contact")
    assert dict(report.counts["contact"]) == {"created": 2}
    assert Contact.objects.get(account=account_scope, external_id="c-10").last_name == "Mc\nCarthy"
    broken = tmp_path / "broken.csv"
    broken.write_text("external_id,email\nc-20,ok@x.test\nc-21,broken\n")
    report = import_file(account=account_scope, path=broken, forced_type="contact")
    assert [(r.line, r.field) for r in report.rejections] == [(3, "email")]


def test_import_refuses_the_whole_file_when_csv_columns_are_unknown(account_scope, tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("external_id,email,shoe_size\nc-1,a@x.test,44\n")
    with pytest.raises(ImportFileError, match="unknown column"):
        import_file(account=account_scope, path=odd, forced_type="contact")
    assert not Contact.objects.filter(account=account_scope).exists()


def test_import_refuses_a_file_that_is_not_utf8(account_scope, tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"type": "contact", "email": "j@x.test", "first_name": "Jos\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        import_file(account=account_scope, path=latin)


def test_import_dry_run_writes_nothing(account_scope):
    report = import_file(account=account_scope, path=FIXTURES / "crm.jsonl", dry_run=True)
    assert report.counts["contact"]["created"] == 2
    assert not Contact.objects.filter(account=account_scope).exists()


def test_import_command_exits_1_on_row_errors_and_2_for_an_unknown_account(account, capsys):
    with pytest.raises(CommandError) as error:
        call_command("import", str(FIXTURES / "bad.jsonl"), account="Acme")
    assert error.value.returncode == 1
    assert "rejected line 2 (contact): email:" in capsys.readouterr().err
    with pytest.raises(CommandError) as error:
        call_command("import", str(FIXTURES / "crm.jsonl"), account="Nobody")
    assert error.value.returncode == 2
