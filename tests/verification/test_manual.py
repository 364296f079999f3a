"""The manual provider end to end: the claim is checked against the registry before
anything is stored, the photos are checked and kept encrypted, operators decide, the
enterprise is told, and the photos are deleted after the retention period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from puhui.audit.models import AuditEvent
from puhui.config import get_settings
from puhui.core.errors import PuhuiError, ValidationFailed
from puhui.core.orm import utcnow
from puhui.core.pagination import PageParams
from puhui.entities import service as entities
from puhui.notifications.models import Message
from puhui.verification import service
from puhui.verification.errors import AlreadyVerified, VerificationNotFound, WrongState
from puhui.verification.models import IdentityDocument, IdentityVerification
from puhui.verification.schemas import ReviewDecision, VerificationStart
from tests.entities.factories import record
from tests.verification.conftest import OTHER_ID, REP_ID, REP_NAME, jpeg, png, valid_id

BASE = "http://testserver"


def _start(session, town, name=REP_NAME, number=REP_ID):
    return service.start(
        session,
        actor=town.ent_actor,
        data=VerificationStart(legal_rep_name=name, legal_rep_id_number=number),
        base_url=BASE,
    )


def _submitted(session, town):
    row = _start(session, town)
    service.upload_documents(
        session, actor=town.ent_actor, photos={"id_card": png(), "holding": jpeg()}
    )
    return row


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


class TestStart:
    def test_a_claim_that_is_not_the_registrys_legal_rep_is_refused_and_nothing_is_stored(
        self, session, town
    ):
        before = _count(session, IdentityVerification)
        for name, number in ((REP_NAME, OTHER_ID), ("李四", REP_ID)):
            with pytest.raises(ValidationFailed) as err:
                _start(session, town, name, number)
            assert err.value.code == "legal_rep_mismatch"
            assert {d["field"] for d in err.value.details} == {
                "legal_rep_name",
                "legal_rep_id_number",
            }
        assert _count(session, IdentityVerification) == before

    def test_spaces_full_width_characters_and_a_lower_case_x_are_normalised(self, session, town):
        wide = "".join(chr(ord(c) + 0xFEE0) for c in REP_ID)  # full-width digits
        data = VerificationStart(
            legal_rep_name=" 王 建国 ", legal_rep_id_number=f"{wide[:9]} {wide[9:]}"
        )
        assert data.legal_rep_name == REP_NAME and data.legal_rep_id_number == REP_ID
        with_x = next(
            n for i in range(100) if (n := valid_id(f"330203198005{i:02d}123")).endswith("X")
        )
        assert (
            VerificationStart(
                legal_rep_name=REP_NAME, legal_rep_id_number=with_x.lower()
            ).legal_rep_id_number
            == with_x
        )

    def test_a_malformed_id_number_names_the_field(self):
        with pytest.raises(ValueError, match="legal_rep_id_number"):
            VerificationStart(legal_rep_name=REP_NAME, legal_rep_id_number=REP_ID[:-1] + "0")

    def test_an_entity_without_a_legal_rep_on_record_cannot_start(self, session, town):
        rec = record("无法人公司", legal_rep_name=None, legal_rep_id=None)
        entities.upsert(session, [rec])
        town.ent.entity_uscc = rec.uscc
        actor = town.ent_actor.__class__(**{**town.ent_actor.__dict__, "entity_uscc": rec.uscc})
        with pytest.raises(ValidationFailed) as err:
            service.start(
                session,
                actor=actor,
                data=VerificationStart(legal_rep_name=REP_NAME, legal_rep_id_number=REP_ID),
                base_url=BASE,
            )
        assert err.value.details[0]["field"] == "legal_rep_name"

    def test_a_new_start_replaces_a_pending_one_but_not_a_submitted_one(self, session, town):
        first = _start(session, town)
        second = _start(session, town)
        assert first.status == "expired" and second.status == "pending"
        service.upload_documents(
            session, actor=town.ent_actor, photos={"id_card": png(), "holding": png()}
        )
        with pytest.raises(WrongState):
            _start(session, town)


class TestPhotos:
    @pytest.mark.parametrize(
        ("photos", "field"),
        [
            ({"id_card": b"", "holding": png()}, "id_card"),
            ({"id_card": png(), "holding": b"plain text, not a photo"}, "holding"),
            ({"id_card": png(50, 50), "holding": png()}, "id_card"),
            ({"id_card": png()[:-12], "holding": png()}, "id_card"),  # truncated
            ({"id_card": png(), "holding": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40}, "holding"),
            ({"id_card": png(), "holding": b"\xff\xd8\xff\xe0" + b"\x00" * 100}, "holding"),
        ],
    )
    def test_bad_photos_are_refused_by_field_and_nothing_is_stored(
        self, session, town, photos, field
    ):
        _start(session, town)
        before = _count(session, IdentityDocument)
        folder = get_settings().data_dir / "verification"
        files = set(folder.iterdir()) if folder.exists() else set()
        with pytest.raises(ValidationFailed) as err:
            service.upload_documents(session, actor=town.ent_actor, photos=photos)
        assert err.value.details[0]["field"] == field
        assert _count(session, IdentityDocument) == before
        assert (set(folder.iterdir()) if folder.exists() else set()) == files

    def test_photos_are_stored_encrypted_and_the_operators_are_told(self, session, town):
        row = _submitted(session, town)
        assert row.status == "submitted"
        docs = session.scalars(
            select(IdentityDocument).where(IdentityDocument.verification_id == row.id)
        ).all()
        assert {d.kind for d in docs} == {"id_card", "holding"}
        folder = get_settings().data_dir / "verification"
        for doc in docs:
            raw = (folder / doc.stored_name).read_bytes()
            assert raw.startswith(b"PHID1")
            assert b"IHDR" not in raw and b"JFIF" not in raw
        told = session.scalars(
            select(Message.user_id).where(Message.purpose == "verification.submitted")
        ).all()
        assert town.operator.id in told

    def test_key_rotation_encrypts_the_kept_photos_again_under_the_new_key(self, session, town):
        from puhui.core.security import fields

        row = _submitted(session, town)
        docs = session.scalars(
            select(IdentityDocument).where(IdentityDocument.verification_id == row.id)
        ).all()
        folder = get_settings().data_dir / "verification"
        before = {d.kind: service.document(session, actor=town.op_actor,
                                           verification_id=row.id, kind=d.kind)[1]
                  for d in docs}  # fmt: skip
        keyring = fields.add_data_key()
        assert service.reseal_documents(session) >= 2
        for doc in docs:
            raw = (folder / doc.stored_name).read_bytes()
            assert raw[5:9] == keyring.active.to_bytes(4, "big"), doc.kind
        after = {d.kind: service.document(session, actor=town.op_actor,
                                          verification_id=row.id, kind=d.kind)[1]
                 for d in docs}  # fmt: skip
        assert after == before
        assert not any(p.name.endswith(".part") for p in folder.iterdir())

    def test_photos_only_for_a_pending_manual_verification(self, session, town):
        with pytest.raises(WrongState):
            service.upload_documents(
                session, actor=town.ent_actor, photos={"id_card": png(), "holding": png()}
            )


class TestReview:
    def test_the_queue_lists_submissions_masked_with_their_age(self, session, town):
        row = _submitted(session, town)
        later = utcnow() + timedelta(hours=30)
        page = service.queue(session, params=PageParams(page=1, per_page=100), now=later)
        (item,) = [i for i in page.items if i.id == row.id]
        assert item.age_hours == 30
        assert item.legal_rep_id_number == REP_ID[:6] + "********" + REP_ID[-4:]
        assert item.legal_rep_name == "王**"

    def test_the_whole_number_and_the_photos_need_a_recent_second_factor_check(self, session, town):
        from dataclasses import replace

        from puhui.verification.errors import ReviewNeedsSecondFactor

        row = _submitted(session, town)
        for at in (None, utcnow() - timedelta(hours=2)):
            unchecked = replace(town.op_actor, second_factor_at=at)
            with pytest.raises(ReviewNeedsSecondFactor):
                service.review(session, actor=unchecked, verification_id=row.id, full=True)
            with pytest.raises(ReviewNeedsSecondFactor):
                service.document(session, actor=unchecked, verification_id=row.id, kind="id_card")
            masked = service.review(session, actor=unchecked, verification_id=row.id)
            assert masked.legal_rep_id_number != REP_ID

    def test_the_review_shows_the_whole_number_to_compare_and_every_view_is_audited(
        self, session, town
    ):
        row = _submitted(session, town)
        detail = service.review(session, actor=town.op_actor, verification_id=row.id, full=True)
        assert detail.legal_rep_id_number == REP_ID and detail.registry_matches
        assert detail.documents == ["id_card", "holding"]
        kind, content = service.document(
            session, actor=town.op_actor, verification_id=row.id, kind="id_card"
        )
        assert (kind, content) == ("image/png", png())
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == str(row.id))
        ).all()
        assert {"identity.review_open", "identity.document_read"} <= set(actions)

    def test_approval_verifies_and_tells_the_enterprise_in_app_and_by_sms(self, session, town):
        row = _submitted(session, town)
        assert not service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)
        service.decide(
            session,
            actor=town.op_actor,
            verification_id=row.id,
            data=ReviewDecision(approve=True),
        )
        assert row.status == "verified" and row.decided_by == town.operator.id
        assert service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)
        channels = session.scalars(
            select(Message.channel).where(
                Message.user_id == town.ent.id, Message.purpose == "verification.verified"
            )
        ).all()
        assert sorted(channels) == ["inbox", "sms"]
        with pytest.raises(AlreadyVerified):
            _start(session, town)

    def test_a_rejection_needs_a_reason_which_the_enterprise_sees(self, session, town):
        row = _submitted(session, town)
        with pytest.raises(ValidationFailed) as err:
            service.decide(
                session,
                actor=town.op_actor,
                verification_id=row.id,
                data=ReviewDecision(approve=False, reason=" "),
            )
        assert err.value.details[0]["field"] == "reason"
        service.decide(
            session,
            actor=town.op_actor,
            verification_id=row.id,
            data=ReviewDecision(approve=False, reason="照片模糊，无法辨认"),
        )
        status = service.status(session, actor=town.ent_actor)
        assert not status.verified
        assert status.latest.status == "rejected" and status.latest.reason == "照片模糊，无法辨认"
        assert status.latest.legal_rep_id_number != REP_ID
        with pytest.raises(WrongState):  # decided once
            service.decide(
                session,
                actor=town.op_actor,
                verification_id=row.id,
                data=ReviewDecision(approve=True),
            )
        _start(session, town)  # and the enterprise may try again

    def test_a_new_legal_rep_in_the_registry_asks_for_a_new_verification(self, session, town):
        row = _submitted(session, town)
        service.decide(
            session, actor=town.op_actor, verification_id=row.id, data=ReviewDecision(approve=True)
        )
        (entity,) = entities.many(session, entities.ids_for(session, [town.uscc]).values())
        entity.legal_rep_name = "赵六"
        session.flush()
        assert not service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)


class TestRetention:
    def test_photos_are_deleted_after_the_retention_period(self, session, town):
        row = _submitted(session, town)
        decided = utcnow()
        service.decide(
            session,
            actor=town.op_actor,
            verification_id=row.id,
            data=ReviewDecision(approve=True),
            now=decided,
        )
        days = get_settings().identity_document_retention_days
        folder = get_settings().data_dir / "verification"
        docs = session.scalars(
            select(IdentityDocument).where(IdentityDocument.verification_id == row.id)
        ).all()
        assert (
            service.sweep(session, now=decided + timedelta(days=days) - timedelta(minutes=1)).purged
            == 0
        )
        assert all((folder / d.stored_name).exists() for d in docs)
        result = service.sweep(session, now=decided + timedelta(days=days, minutes=1))
        assert result.purged == 2
        assert not any((folder / d.stored_name).exists() for d in docs)
        assert all(d.purged_at is not None for d in docs)
        with pytest.raises(VerificationNotFound):
            service.document(session, actor=town.op_actor, verification_id=row.id, kind="holding")
        assert service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)  # kept

    def test_unfinished_verifications_expire_and_their_photos_follow(self, session, town):
        row = _submitted(session, town)
        hours = get_settings().identity_verification_pending_hours
        at = utcnow() + timedelta(hours=hours, minutes=1)
        assert service.sweep(session, now=at).expired >= 1
        assert row.status == "expired"
        days = get_settings().identity_document_retention_days
        assert service.sweep(session, now=at + timedelta(days=days, minutes=1)).purged == 2


def test_photos_no_row_names_are_deleted_by_the_sweep(session, town):
    from puhui.verification import storage

    folder = get_settings().data_dir / "verification"
    orphan = storage.save(folder, verification_id=999_999, kind="id_card", data=png())
    kept = _submitted(session, town)
    service.sweep(session, now=utcnow() + timedelta(minutes=30))
    assert (folder / orphan).exists()  # might be a request still running
    service.sweep(session, now=utcnow() + timedelta(hours=2))
    assert not (folder / orphan).exists()
    docs = session.scalars(
        select(IdentityDocument).where(IdentityDocument.verification_id == kept.id)
    ).all()
    assert all((folder / d.stored_name).exists() for d in docs)


def test_only_operators_attest_in_person(session, town):
    with pytest.raises(PuhuiError):
        service.attest_in_person(
            session, actor=town.ent_actor, user_id=town.ent.id, uscc=town.uscc, note="x"
        )
    service.attest_in_person(
        session, actor=town.op_actor, user_id=town.ent.id, uscc=town.uscc, note="柜面核验"
    )
    assert service.is_verified(session, user_id=town.ent.id, uscc=town.uscc)
