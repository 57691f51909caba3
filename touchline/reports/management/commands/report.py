import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope

from touchline.core.accounts import account_by_reference
from touchline.reports.exports import result_to_xlsx
from touchline.reports.pipeline import ReportParamError, ReportTimedOut, UnknownReport, report_list, report_run
from touchline.reports.selectors import report_inputs


class Command(BaseCommand):
    help = ("Run a report: `touchline report --list`, `touchline report NAME --param key=value --json|--csv`, "
            "or `--xlsx FILE` to write a workbook. Prints the same result as the report's page and its API endpoint.")

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the report's key (see --list)")
        parser.add_argument("--list", action="store_true", dest="list_reports",
                            help="list the reports and their parameters")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                            help="a report parameter; repeat for several")
        parser.add_argument("--account", help="account name or id (optional when there is only one account)")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", dest="as_json",
                            help="print the result as JSON (the API's shape)")
        output.add_argument("--csv", action="store_true", dest="as_csv", help="print the table as CSV")
        output.add_argument("--xlsx", metavar="FILE", dest="xlsx_file",
                            help="write the table to FILE as an Excel workbook (with a Parameters sheet)")

    def handle(self, *args, name, list_reports, param, account, as_json, as_csv, xlsx_file=None, **options):
        if list_reports:
            self._print_list()
            return
        if not name:
            raise CommandError("name a report (see `touchline report --list`)", returncode=2)
        data = {}
        for item in param:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--param takes KEY=VALUE, not {item!r}", returncode=2)
            data[key.strip()] = value.strip()
        try:
            target = account_by_reference(account)
        except LookupError as error:
            raise CommandError(str(error), returncode=2) from None
        with scope(account=target):
            try:
                result = report_run(name, account=target, data=data)
            except UnknownReport:
                raise CommandError(f"no report named {name!r} (see `touchline report --list`)", returncode=2) \
                    from None
            except ReportParamError as error:
                raise CommandError(f"bad parameters: {error}", returncode=2) from None
            except ReportTimedOut as error:
                raise CommandError(str(error), returncode=1) from None
        if xlsx_file:
            Path(xlsx_file).write_bytes(result_to_xlsx(result))
            self.stdout.write(f"{result.title}: {len(result.rows)} rows written to {xlsx_file}")
        elif as_csv:
            self.stdout.write(result.to_csv(), ending="")
        elif as_json:
            self.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        else:
            self._print_table(result)

    def _print_list(self):
        for report in report_list():
            self.stdout.write(f"{report.key}\t{report.title}: {report.description}")
            for p in report_inputs(report):  # campaign reports' own values (metric, unit, asset_type) too
                default = f" (default {p.default})" if p.default else ""
                self.stdout.write(f"    --param {p.key}=…\t{p.help}{default}")

    def _print_table(self, result):
        data = result.to_json()
        headers = [c["label"] for c in data["columns"]]
        body = [[str(row.get(c["key"], "")) for c in data["columns"]] for row in data["rows"]]
        body.append(["Total", *(str(data["totals"].get(c["key"], "")) for c in data["columns"][1:])])
        widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
        self.stdout.write(result.title)
        for row in [headers, *body]:
            self.stdout.write("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        for note in result.notes:
            self.stdout.write(note)

