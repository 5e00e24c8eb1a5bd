"""Schemathesis against the app: generated requests for every operation of ``/openapi.json``;
every answer must be documented (status, content type, headers) and match its schema, and
none may be a 500. Bounded and derandomised, so a run is short and the same every time."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from payflow.models import Notification
from payflow.extensions import db

from .webhook_helpers import release_test_session

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES_PER_OPERATION = 6
# An authenticated stream never ends by itself: its answers are checked in test_stream.py.
NOT_FUZZED = {("GET", "/payments/stream")}


def fuzz(operation, strategy, headers: dict) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(case=strategy)
    def run(case):
        release_test_session()
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("role", ["company", "influencer"])
def test_every_operation_answers_as_documented(app, factory, role):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.payment(company, influencer, status="HELD")
    caller = company if role == "company" else influencer
    note_id = db.session.scalar(db.select(Notification.id).where(Notification.user_id == caller.id))
    known_ids = {"payment_id": payment.id, "notification_id": note_id or "ntf_none", "payout_id": "po_none"}
    release_test_session()

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = factory.headers(caller)
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        strategy = operation.as_strategy()
        path_names = {parameter.name for parameter in operation.path_parameters}
        if path_names:
            # Half the cases name objects that exist, so that success answers are checked too.
            strategy = st.one_of(strategy, operation.as_strategy(
                path_parameters={name: known_ids[name] for name in path_names}))
        fuzz(operation, strategy, headers)
        tested += 1
    assert tested >= 25
