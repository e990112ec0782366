from __future__ import annotations

import os

from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.services.core import Harbourmaster


def test_metrics_count_requests_by_route_template_not_raw_path() -> None:
    hm = Harbourmaster.from_environ(dict(os.environ))
    hm.init()
    client = TestClient(create_app(hm))
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/registries/some-private-name").status_code == 401
    text = client.get("/metrics").text
    assert 'harbourmaster_http_request_seconds_count{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/v1/registries/{name}",status="401"' in text
    assert "some-private-name" not in text
