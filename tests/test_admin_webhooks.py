"""GET /admin/webhooks: the delivery log is shown to leads and admins, never to reviewers."""

from __future__ import annotations

import uuid
from datetime import timedelta

from reviewq.domain.approvals import expire_due, request_approval
from reviewq.models import Role
from reviewq.models.approvals import ApprovalCreate
from tests.support.api import add_reviewer, issue_token
from tests.support.web import login


def test_delivery_log_lists_deliveries_for_leads_only(app, client, database, settings, now):
    """A lead sees each delivery with its webhook-id and status; a reviewer gets 403."""
    hooks = settings.replace(webhooks={"allowed_hosts": ("hooks.example.com",)})
    token = issue_token(database, now=now)
    with database.session_scope() as s:
        data = ApprovalCreate(trace_id=str(uuid.uuid4()), actor="a", intent="refund",
                              tool_call={"name": "refund", "args": {}}, callback_url="https://hooks.example.com/rq",
                              timeout_s=60)
        request_approval(session=s, token=token.token, data=data, idempotency_key=None, settings=hooks, now=now)
    with database.session_scope() as s:
        expire_due(session=s, now=now + timedelta(minutes=5), settings=hooks)
    add_reviewer(database, "lena", role=Role.LEAD, now=now)
    add_reviewer(database, "rita", now=now)

    reviewer = app.test_client()
    login(reviewer, "rita")
    assert reviewer.get("/admin/webhooks").status_code == 403

    login(client, "lena")
    page = client.get("/admin/webhooks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://hooks.example.com/rq" in html and "msg_" in html and "pending" in html
    assert "approval.decided" in html
    filtered = client.get("/admin/webhooks?status=delivered").get_data(as_text=True)
    assert "https://hooks.example.com/rq" not in filtered
