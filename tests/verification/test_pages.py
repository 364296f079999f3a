"""The manual flow through the pages and the API, as its users do it; the ID number is
masked everywhere but on the operator's review page."""

from __future__ import annotations

import pyotp

from puhui.core.masking import mask_id_number
from tests import factories
from tests.verification.conftest import OTHER_ID, REP_ID, REP_NAME, jpeg, png


def test_the_manual_flow_end_to_end(client, session, town):
    csrf = factories.web_login(client, town.ent.username)
    page = client.get("/verification")
    assert page.status_code == 200 and 'name="legal_rep_id_number"' in page.text
    refused = client.post(
        "/verification/start",
        data={"legal_rep_name": REP_NAME, "legal_rep_id_number": OTHER_ID, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and "legal_rep_id_number" in refused.text
    started = client.post(
        "/verification/start",
        data={"legal_rep_name": REP_NAME, "legal_rep_id_number": REP_ID, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert started.status_code == 303
    assert 'name="holding"' in client.get("/verification").text
    sent = client.post(
        "/verification/documents",
        data={"csrf_token": csrf},
        files={
            "id_card": ("card.png", png(), "image/png"),
            "holding": ("me.jpg", jpeg(), "image/jpeg"),
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    mine = client.get("/verification").text
    assert REP_ID not in mine and mask_id_number(REP_ID) in mine
    ent_api = factories.token(client, town.ent.username)
    status = client.get("/api/v1/verification", headers=ent_api).json()
    assert status["latest"]["status"] == "submitted" and not status["verified"]
    assert status["latest"]["legal_rep_id_number"] == mask_id_number(REP_ID)

    client.cookies.clear()
    op_csrf = factories.web_login(client, town.operator.username)
    queue = client.get("/verification/reviews")
    assert queue.status_code == 200
    assert REP_ID not in queue.text and mask_id_number(REP_ID) in queue.text
    vid = status["latest"]["id"]
    op_api = factories.token(client, town.operator.username)
    listed = client.get("/api/v1/verification/reviews", headers=op_api).json()
    assert vid in [i["id"] for i in listed["items"]]
    one = client.get(f"/api/v1/verification/reviews/{vid}", headers=op_api).json()
    assert one["legal_rep_id_number"] == mask_id_number(REP_ID)
    # without a recent second-factor check: masked, no photos, the code form
    review = client.get(f"/verification/reviews/{vid}")
    assert review.status_code == 200 and REP_ID not in review.text
    assert 'name="otp"' in review.text and "/photos/id_card" not in review.text
    assert client.get(f"/verification/reviews/{vid}/photos/id_card").status_code == 403
    secret = factories.enrol_second_factor(session, town.operator)
    wrong = client.get(f"/verification/reviews/{vid}", params={"otp": "000000"})
    assert wrong.status_code == 422 and REP_ID not in wrong.text
    review = client.get(f"/verification/reviews/{vid}", params={"otp": pyotp.TOTP(secret).now()})
    assert REP_ID in review.text  # compared with the photo, here only
    photo = client.get(f"/verification/reviews/{vid}/photos/id_card")
    assert photo.status_code == 200 and photo.content == png()
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["cache-control"] == "no-store"
    decided = client.post(
        f"/verification/reviews/{vid}/decision",
        data={"decision": "approve", "reason": "", "csrf_token": op_csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert client.get(f"/verification/reviews/{vid}").status_code == 200

    assert client.get("/api/v1/verification", headers=ent_api).json()["verified"]


def test_the_api_decision_needs_a_reason_to_reject(client, session, town):
    from puhui.verification import service
    from puhui.verification.schemas import VerificationStart

    service.start(
        session,
        actor=town.ent_actor,
        data=VerificationStart(legal_rep_name=REP_NAME, legal_rep_id_number=REP_ID),
        base_url="http://testserver",
    )
    row = service.upload_documents(
        session, actor=town.ent_actor, photos={"id_card": png(), "holding": png()}
    )
    op_api = factories.token(client, town.operator.username)
    r = client.post(
        f"/api/v1/verification/reviews/{row.id}/decision",
        json={"approve": False},
        headers=op_api,
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "reason"
    r = client.post(
        f"/api/v1/verification/reviews/{row.id}/decision",
        json={"approve": False, "reason": "手持照片看不清人脸"},
        headers=op_api,
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["legal_rep_id_number"] == mask_id_number(REP_ID)
    assert client.get("/api/v1/verification/reviews/999999", headers=op_api).status_code == 404
