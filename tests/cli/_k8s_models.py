"""Strict validation of Kubernetes documents against the OpenAPI models of the official ``kubernetes``
client: every field must be one the model declares (an unknown or misspelt field is an error, where
the API server would silently prune it), of the declared type, and required fields must be set (the
models' own client-side validation)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

#: (apiVersion, kind) -> the client's model class name.
MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): "V1ValidatingWebhookConfiguration",
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): "V1MutatingWebhookConfiguration",
}


def _check(data: Any, type_name: str, path: str) -> Any:
    models = pytest.importorskip("kubernetes.client.models", reason="pip install -e '.[test]' (kubernetes)")
    if type_name == "str":
        assert isinstance(data, str), f"{path}: {data!r} is not a string"
        return data
    if type_name == "int":
        assert isinstance(data, int) and not isinstance(data, bool), f"{path}: {data!r} is not an integer"
        return data
    if type_name == "bool":
        assert isinstance(data, bool), f"{path}: {data!r} is not a boolean"
        return data
    if type_name in ("bytes", "bytearray"):  # base64 in JSON and YAML
        assert isinstance(data, str), f"{path}: {data!r} is not base64 text"
        base64.b64decode(data, validate=True)
        return data
    if type_name == "object":  # IntOrString, Quantity
        assert isinstance(data, str | int) and not isinstance(data, bool), f"{path}: {data!r}"
        return data
    if listed := re.fullmatch(r"[Ll]ist\[(.+)\]", type_name):
        assert isinstance(data, list), f"{path}: {data!r} is not a list"
        return [_check(item, listed[1], f"{path}[{i}]") for i, item in enumerate(data)]
    if mapped := re.fullmatch(r"[Dd]ict[(\[](\w+), (.+)[)\]]", type_name):
        assert isinstance(data, dict), f"{path}: {data!r} is not a map"
        return {k: _check(v, mapped[2], f"{path}.{k}") for k, v in data.items()}
    model = getattr(models, type_name)
    assert isinstance(data, dict), f"{path}: {data!r} is not an object ({type_name})"
    by_json = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json))
    assert not unknown, f"{path}: {type_name} has no field {', '.join(unknown)}"
    kwargs = {by_json[k]: _check(v, model.openapi_types[by_json[k]], f"{path}.{k}") for k, v in data.items()}
    try:
        return model(**kwargs)
    except ValueError as exc:  # a required field missing, an enum value refused
        raise AssertionError(f"{path}: {type_name}: {exc}") from None


def validate(document: dict[str, Any]) -> Any:
    """The client model of ``document``; an AssertionError names the first field that does not fit."""
    key = (document.get("apiVersion"), document.get("kind"))
    assert key in MODELS, f"no model for {key}"
    return _check(document, MODELS[key], document["kind"])  # type: ignore[index]
