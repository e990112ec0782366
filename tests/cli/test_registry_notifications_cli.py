"""``registry notifications``: the snippet once, then only with --rotate; unknown names are bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def test_the_snippet_is_printed_once_then_only_when_rotated(cli: Any, applied: Path) -> None:
    made = cli("registry", "notifications", "harbor-payments", "--url", "https://hm.corp")
    assert made.exit_code == 0, made.output
    (endpoint,) = yaml.safe_load(made.stdout)["notifications"]["endpoints"]
    assert endpoint["url"] == "https://hm.corp/api/v1/registry-events/harbor-payments"
    secret = endpoint["headers"]["Authorization"][0].removeprefix("Bearer ")
    again = cli("registry", "notifications", "harbor-payments")
    assert again.exit_code == 2
    assert "write-only" in again.output and "--rotate" in again.output and secret not in again.output
    rotated = cli("registry", "notifications", "harbor-payments", "--rotate", "--json")
    assert rotated.exit_code == 0, rotated.output
    body = json.loads(rotated.stdout)
    assert body["rotated"] is True and secret not in body["config"]


def test_an_unknown_registry_is_bad_input_naming_the_closest(cli: Any, applied: Path) -> None:
    result = cli("registry", "notifications", "harbor-paymnts")
    assert result.exit_code == 2
    assert "harbor-paymnts" in result.output and "harbor-payments" in result.output
