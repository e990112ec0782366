from __future__ import annotations

from harbourmaster.api.schemas import RegistryCreate, RegistryUpdate
from harbourmaster.services.document import PROVIDER_FIELDS, ProviderFieldsSpec, RegistrySpec


def test_every_provider_field_is_known_to_the_document_and_the_api() -> None:
    # registry_from_spec checks each field against PROVIDER_FIELDS: a field missing there would be dropped.
    assert set(PROVIDER_FIELDS) == set(ProviderFieldsSpec.model_fields)
    for model in (RegistrySpec, RegistryCreate, RegistryUpdate):
        assert set(ProviderFieldsSpec.model_fields) <= set(model.model_fields)
