"""``harbourmaster assess``: the same report as a table, as JSON (the API's answer) and as one HTML file;
``-o`` writes it atomically; bad input exits 2 without a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harbourmaster.cli.main import COMMANDS


def test_the_table_names_every_decision_and_the_level(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli("assess")
    assert result.exit_code == 0, result.output
    for n in range(1, 10):
        assert f"Ch5-D-0{n}" in result.stdout
    assert "L2-anonymous-hidden" in result.stdout
    assert "assumed: hosting:" in result.stdout
    assert "no admission webhook or pull gate was asked" in result.stdout
    assert result.stdout.rstrip().endswith("maturity level 1")


def test_json_is_the_report_model(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli("assess", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["level"] == 1
    statuses = {d["id"]: d["status"] for d in data["decisions"]}
    assert statuses["Ch5-D-05"] == "met" and statuses["Ch5-D-08"] == "partly met"
    assert [lvl["number"] for lvl in data["levels"]] == [1, 2, 3, 4]
    attested = json.loads(cli("assess", "--format", "json", "--egress-restricted", "prod-eu").stdout)
    assert not any("prod-eu" in a for a in attested["assumed"] if a.startswith("egress:"))


def test_html_to_stdout_and_to_a_file(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shown = cli("assess", "--format", "html")
    assert shown.exit_code == 0 and shown.stdout.startswith("<!DOCTYPE html>")
    target = tmp_path / "report.html"
    written = cli("assess", "--format", "html", "-o", str(target))
    assert written.exit_code == 0, written.output
    assert f"wrote {target}: maturity level 1" in written.stdout
    html = target.read_text(encoding="utf-8")
    assert "Maturity assessment: level 1" in html and html.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "<script" not in html.lower()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left behind


def test_json_and_table_to_a_file(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    as_json = tmp_path / "report.json"
    assert cli("assess", "--format", "json", "-o", str(as_json)).exit_code == 0
    assert json.loads(as_json.read_text())["level"] == 1
    table = tmp_path / "report.txt"
    assert cli("assess", "-o", str(table)).exit_code == 0
    text = table.read_text()
    assert "Ch5-D-09" in text and "maturity level 1" in text


def test_bad_input_exits_2_without_a_traceback(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    unwritable = cli("assess", "--format", "json", "-o", str(tmp_path / "missing" / "report.json"))
    assert unwritable.exit_code == 2
    assert "cannot write" in unwritable.stderr and "Traceback" not in unwritable.output
    unknown = cli("assess", "--format", "pdf")
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    env = cli("assess", "--egress-restricted", "prod-us")
    assert env.exit_code == 2 and "no such environment" in env.stderr


def test_the_summary_is_the_first_docstring_line() -> None:
    from harbourmaster.cli.assess import assess

    assert (assess.__doc__ or "").splitlines()[0] == COMMANDS["assess"].summary
