"""The Chargebee emulator's own rules beyond what the SDK test drives: chaos answers in Chargebee's error shape
(its `/api/v2` is AvaTax's too), refusals naming the parameter."""

from __future__ import annotations

from fastapi.testclient import TestClient

from sandbox.chargebee.app import API_KEY, create_app
from sandbox.faults import ChaosProfile, ChaosRates

AUTH = (API_KEY, "")


def test_chaos_answers_carry_chargebees_error_body_and_retry_after() -> None:
    app = create_app()
    app.state.faults.arm_chaos(ChaosProfile(seed=1, rates=ChaosRates(status_429=1.0)))
    answer = TestClient(app).get("/api/v2/customers", auth=AUTH)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"]
    assert answer.json()["api_error_code"] == "api_request_limit_exceeded"


def test_refusals_name_the_parameter_and_write_nothing() -> None:
    client = TestClient(create_app())
    cases = [
        ("customers", {"id": "has space"}, "id"),
        ("customers", {"net_term_days": "ten"}, "net_term_days"),
        ("customers", {"billing_address[country]": "germany"}, "billing_address[country]"),
        ("item_prices", {"id": "p", "item_id": "nothing", "name": "p", "price": "1"}, None),
        ("credit_notes", {"type": "adjustment"}, "reference_invoice_id"),
        ("customers", {"a[b]": "1", "a": "2"}, "a"),
    ]
    for path, form, param in cases:
        answer = client.post(f"/api/v2/{path}", data=form, auth=AUTH)
        assert 400 <= answer.status_code < 500, answer.text
        body = answer.json()
        assert body["http_status_code"] == answer.status_code
        if param is not None:
            assert body["param"] == param, body
    assert client.get("/_sandbox/state").json()["customers"] == []


def test_a_list_refuses_an_unknown_filter_and_a_made_up_offset() -> None:
    client = TestClient(create_app())
    assert client.get("/api/v2/invoices", params={"colour[is]": "red"}, auth=AUTH).json()["param"] == "colour"
    assert client.get("/api/v2/invoices", params={"offset": "x"}, auth=AUTH).json()["param"] == "offset"
    assert client.get("/api/v2/invoices", params={"limit": "101"}, auth=AUTH).json()["param"] == "limit"


def test_an_idempotency_key_longer_than_chargebees_limit_is_refused() -> None:
    client = TestClient(create_app())
    answer = client.post(
        "/api/v2/customers", data={"id": "k"}, auth=AUTH, headers={"chargebee-idempotency-key": "k" * 101}
    )
    assert answer.status_code == 400
    assert client.get("/_sandbox/state").json()["customers"] == []
