"""The OpenAPI 3.1 document matches the live app: schemathesis fuzzes it on 127.0.0.1, and a hand check."""

from __future__ import annotations

import uuid

import jsonschema
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from reviewq.web.openapi import openapi_document
from tests.support.api import bearer, issue_token


def test_live_app_conforms_to_its_openapi_document(live_server, database, now):
    """No generated request (25 per operation) gets a 500 or an answer the document does not describe."""
    token = issue_token(database, now=now)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    # NUL is refused on purpose (PostgreSQL cannot store it), as the document's description says.
    schema.config.generation.update(allow_x00=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5  # every route (openapi.json itself may be left out as unauthenticated)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            # callback_url passes only if on this deployment's allow-list, which no schema can say:
            # schema-valid bodies may still get a 422, so acceptance of positive data is not checked.
            case.call_and_validate(headers=bearer(token), excluded_checks=[positive_data_acceptance])

        check()


def validator(name: str):
    doc = openapi_document()
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **doc})


def test_document_lists_every_api_route(app):
    """Every /api/v1 route of the app is in the document, and nothing else is."""
    routes = {
        (rule.rule.replace("<public_id>", "{public_id}"), method.lower())
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in openapi_document()["paths"].items() for method in ops}
    assert routes == documented
    assert openapi_document()["openapi"].startswith("3.1")


def test_live_responses_validate_against_the_schemas(live_server, database, now):
    """Real answers (created, replayed, waited, cancelled, errors) validate against their documented schemas."""
    token = issue_token(database, now=now)
    url = live_server.url
    h = bearer(token)
    single = requests.post(f"{url}/api/v1/items", headers=h, timeout=10,
                           json={"trace_id": "t", "category": "billing", "input": "i", "output": "o"})
    validator("OutputResult").validate(single.json())
    batch = requests.post(f"{url}/api/v1/items", headers=h, timeout=10,
                          json={"items": [{"trace_id": "u", "category": "billing", "input": "i", "output": "o"}]})
    validator("OutputBatchResult").validate(batch.json())
    validator("ItemPublic").validate(requests.get(f"{url}/api/v1/items/{single.json()['id']}", headers=h,
                                                  timeout=10).json())
    body = {"trace_id": str(uuid.uuid4()), "actor": "a", "intent": "refund", "tool_call": {"name": "r", "args": {}}}
    created = requests.post(f"{url}/api/v1/approvals", headers=h | {"Idempotency-Key": "x"}, json=body, timeout=10)
    assert created.status_code == 201
    for response in (
        created,
        requests.post(f"{url}/api/v1/approvals", headers=h | {"Idempotency-Key": "x"}, json=body, timeout=10),
        requests.get(f"{url}/api/v1/approvals/{created.json()['id']}?wait=0.1", headers=h, timeout=10),
        requests.post(f"{url}/api/v1/approvals/{created.json()['id']}/cancel", headers=h, timeout=10),
    ):
        validator("ApprovalPublic").validate(response.json())
    for response in (
        requests.post(f"{url}/api/v1/approvals", headers=h, json={"actor": 1}, timeout=10),
        requests.post(f"{url}/api/v1/approvals", headers=h | {"Idempotency-Key": "x"}, json={**body, "actor": "b"},
                      timeout=10),
        requests.get(f"{url}/api/v1/approvals/nope", headers=h, timeout=10),
        requests.get(f"{url}/api/v1/approvals/nope", timeout=10),
    ):
        assert str(response.status_code) in openapi_document()["paths"]["/api/v1/approvals"]["post"]["responses"] \
            or response.status_code == 404
        validator("Error").validate(response.json())
