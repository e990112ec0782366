"""The Kubernetes admission webhook surface: an ASGI app that hands AdmissionReviews to the core.

Routes (see :mod:`harbourmaster.webhook.app`): ``POST /validate/{environment}``,
``POST /mutate/{environment}``, ``GET /healthz``, ``GET /policy/{environment}``.  The rules are in
:mod:`harbourmaster.services.admission`.
"""

from __future__ import annotations

from harbourmaster.webhook.app import create_webhook_app

__all__ = ["create_webhook_app"]
