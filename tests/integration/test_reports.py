"""Reports end to end on the real worker: draft from a transcript, review, step-up signing,
immutability (service, HTTP and database), amendment, sharing to the portal, DOCX export."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta

import docx
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select
from starlette.testclient import TestClient

from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security import sessions
from clinic_app.services import auth, chart, report_templates, reports, scribe
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from clinic_app.storage import get_storage
from models import AuditEvent, ConsultationSession, Patient, Report, StoredFile, Transcription
from models.base import utcnow
from tests.personas import actor_for, stepped_up
from workers.main import run_worker

HEADERS = {"X-Requested-With": "clinic"}
DOCTOR = "doctor@demo.clinic"
TURNS = [
    ("A", "Good morning. What brings you in today?"),
    ("B", "I have had a cough for two weeks and I take lisinopril 10 milligrams every day."),
    ("A", "Any fever?"),
    ("B", "No fever."),
    ("A", "This is acute bronchitis. I will prescribe azithromycin 500 milligrams once a day."),
    ("A", "Come back in two weeks."),
]


@pytest.fixture
def drafted(app_env: str) -> Iterator[tuple[TestClient, str, str]]:
    """The doctor's client, a consultation with a finished transcript, and its drafted report."""
    with session_scope() as session:
        load_demo_clinic(session)
        actor = auth.authenticate(session, email=DOCTOR, password=DEMO_PASSWORD)
        code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
        token, _ = sessions.complete(session, code=code)
        maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        session_id = str(scribe.start_session(session, actor=actor, patient_id=str(maria.id)))
        segments = [
            {"id": n, "start_ms": n * 4000, "end_ms": n * 4000 + 3500, "text": text,
             "speaker": who, "confidence": 0.9, "words": []}
            for n, (who, text) in enumerate(TURNS)
        ]  # fmt: skip
        text = " ".join(t for _, t in TURNS)
        session.add(
            Transcription(
                clinic_id=actor.clinic_id, session_id=uuid.UUID(session_id), status="completed",
                engine="test", segments=segments, text=text, original_text=text,
            )
        )  # fmt: skip
        session.flush()
        with pytest.raises(AppError) as no_template:
            reports.start_draft(session, actor=actor, session_id=session_id, template_id="nope")
        assert no_template.value.code == "NOT_FOUND"
        report_id = str(
            reports.start_draft(
                session, actor=actor, session_id=session_id, idempotency_key="k1"
            ).id
        )
        again = reports.start_draft(
            session, actor=actor, session_id=session_id, idempotency_key="k1"
        )
        assert str(again.id) == report_id
    run_worker(burst=True)
    client = TestClient(build_api(), base_url="http://127.0.0.1")
    client.cookies.set(sessions.COOKIE_NAME, token)
    yield client, session_id, report_id
    client.close()


def _view(report_id: str) -> dict:  # type: ignore[type-arg]
    with session_scope() as session:
        return reports.view(session, actor=actor_for(session, DOCTOR), report_id=report_id)


def test_draft_review_sign_amend_share_and_export(drafted: tuple[TestClient, str, str]) -> None:
    client, session_id, report_id = drafted
    report = _view(report_id)
    assert report["status"] == "completed", report["error"]
    sections = {s["id"]: s for s in report["sections"]}
    assert [x["text"] for x in sections["subjective"]["sentences"]] == [
        "Cough for two weeks.", "Denies fever.", "Takes lisinopril 10 mg every day.",
    ]  # fmt: skip
    assert [x["text"] for x in sections["assessment"]["sentences"]] == ["Acute bronchitis."]
    first = sections["subjective"]["sentences"][0]
    assert first["evidence"][0]["segment"] == 1 and first["evidence"][0]["start_ms"] == 4000
    assert report["scores"]["completeness"] == 1.0 and report["scores"]["support"] == 1.0
    assert report["engine"] == "local" and report["timings"]["draft_ms"] >= 0

    # The doctor adds a sentence with a number nobody said: plain text, marked as theirs.
    response = client.post(
        f"/api/reports/{report_id}/review", headers=HEADERS,
        json={"version": report["version"], "section": "plan", "action": "add",
              "text": "Paracetamol 1 g as needed."},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    report = response.json()
    added = report["sections"][3]["sentences"][-1]
    assert added["origin"] == "doctor" and added["status"] == "edited"
    stale = client.post(
        f"/api/reports/{report_id}/review", headers=HEADERS,
        json={"version": report["version"] - 1, "section": "plan", "action": "delete",
              "sentence": added["id"]},
    )  # fmt: skip
    assert stale.status_code == 409 and stale.json()["code"] == "VERSION_CONFLICT"

    # Regenerating one section redrafts it and keeps the doctor's work elsewhere.
    with session_scope() as session:
        doctor = actor_for(session, DOCTOR)
        version = report["version"]
        for sentence in report["sections"][2]["sentences"]:  # assessment emptied by hand
            version = reports.change_sentence(
                session, actor=doctor, report_id=report_id, version=version,
                section_id="assessment", sentence_id=sentence["id"], action="delete",
            ).version  # fmt: skip
        reports.regenerate_section(
            session, actor=doctor, report_id=report_id, version=version, section_id="assessment"
        )
    run_worker(burst=True)
    report = _view(report_id)
    assert report["status"] == "completed"
    assert [x["text"] for x in report["sections"][2]["sentences"]] == ["Acute bronchitis."]
    assert report["sections"][3]["sentences"][-1]["text"] == "Paracetamol 1 g as needed."

    # An unsupported sentence (an AI sentence edited elsewhere to a made-up dose) blocks signing.
    with session_scope() as session:
        row = session.get(Report, uuid.UUID(report_id))
        assert row is not None and row.content is not None
        content = reports.copy_content(row.content)
        content["sections"][3]["sentences"][0].update(
            text="Start azithromycin 250 mg once a day.", status="unsupported",
            reasons=["the number 250 is not in the evidence"],
        )  # fmt: skip
        row.content = content
        session.add(row)
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        version = session.get(Report, uuid.UUID(report_id)).version  # type: ignore[union-attr]
        with pytest.raises(AppError) as blocked:
            reports.sign(session, actor=doctor, report_id=report_id, version=version)
        assert blocked.value.code == "REPORT_NOT_READY" and "250" in blocked.value.message
        reports.change_sentence(
            session, actor=doctor, report_id=report_id, version=version, section_id="plan",
            sentence_id="plan-1", action="accept", note="dose confirmed with the pharmacy",
        )  # fmt: skip
    with session_scope() as session:
        stale_doctor = stepped_up(session, DOCTOR, minutes_ago=30)
        version = session.get(Report, uuid.UUID(report_id)).version  # type: ignore[union-attr]
        with pytest.raises(AppError) as old_step_up:
            reports.sign(session, actor=stale_doctor, report_id=report_id, version=version)
        assert old_step_up.value.code == "STEP_UP_REQUIRED"
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        digest = reports.sign(session, actor=doctor, report_id=report_id, version=version)
        assert len(digest) == 64
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        assert reports.sign(session, actor=doctor, report_id=report_id, version=0) == digest
        with pytest.raises(AppError) as signed:
            reports.change_sentence(
                session, actor=doctor, report_id=report_id, version=version + 1,
                section_id="plan", sentence_id=None, action="add", text="More.",
            )  # fmt: skip
        assert signed.value.code == "REPORT_SIGNED"
    refused = client.post(
        f"/api/reports/{report_id}/review", headers=HEADERS,
        json={"version": version + 1, "section": "plan", "action": "add", "text": "More."},
    )  # fmt: skip
    assert refused.status_code == 409 and refused.json()["code"] == "REPORT_SIGNED"
    # The database refuses too, whoever asks.
    with pytest.raises((DBAPIError, IntegrityError)), session_scope() as session:
        row = session.get(Report, uuid.UUID(report_id))
        assert row is not None
        row.content = {"sections": []}
        session.add(row)

    # Amendment: a new editable version linked both ways once signed.
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        amendment = reports.amend(session, actor=doctor, report_id=report_id, note="dose typo")
        amendment_id, amendment_version = str(amendment.id), amendment.version
        assert amendment.version_number == 2 and str(amendment.amends_id) == report_id
    with session_scope() as session:
        doctor = stepped_up(session, DOCTOR)
        reports.sign(session, actor=doctor, report_id=amendment_id, version=amendment_version)
    with session_scope() as session:
        original = session.get(Report, uuid.UUID(report_id))
        assert original is not None and str(original.amended_by_id) == amendment_id

    # The signed versions are on the patient's timeline.
    with session_scope() as session:
        doctor = actor_for(session, DOCTOR)
        maria_id = str(session.get(Report, uuid.UUID(report_id)).patient_id)  # type: ignore[union-attr]
        titles = [
            t["title"]
            for t in chart.open_chart(session, actor=doctor, patient_id=maria_id).timeline
        ]
        assert sum(t.startswith("Report signed · SESS-") for t in titles) == 2

    # Share with the patient: the portal shows it to Maria only.
    with session_scope() as session:
        doctor = actor_for(session, DOCTOR)
        reports.share_with_patient(session, actor=doctor, report_id=amendment_id)
        maria = actor_for(session, "maria@demo.patient")
        shared = reports.portal_reports(session, actor=maria)
        assert [r["id"] for r in shared] == [amendment_id]
        assert "Acute bronchitis." in shared[0]["text"]
        job_id = reports.enqueue_export(session, actor=doctor, report_id=amendment_id, pdf=True)
    run_worker(burst=True)
    with session_scope() as session:
        row = session.get(Report, uuid.UUID(amendment_id))
        assert row is not None and row.docx_file_id is not None
        stored = session.get(StoredFile, row.docx_file_id)
        assert stored is not None
        data = get_storage().get(stored.storage_key)
        actions = {e.action for e in session.exec(select(AuditEvent)).all()}
        from models import Job

        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None and job.status == "succeeded"
        assert "LibreOffice" in job.result.get("pdf_error", "LibreOffice")
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    assert "Acute bronchitis." in text and row.content_hash in text
    assert {"report.draft", "report.sign", "report.amend", "report.share_patient",
            "report.export", "report.view"} <= actions  # fmt: skip


def test_templates_validate_and_version_on_edit(app_env: str) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
        doctor = actor_for(session, DOCTOR)
        names = {t["name"] for t in report_templates.list_templates(session, actor=doctor)}
        assert {"SOAP note", "General consultation", "Follow-up visit", "Psychiatry intake",
                "Referral letter"} <= names  # fmt: skip
        for bad, words in [
            ([], "at least one section"),
            ([{"id": "Bad Id", "title": "X"}], "lower-case"),
            ([{"id": "a", "title": ""}], "title"),
            ([{"id": "a", "title": "A", "type": "poem"}], "type must be"),
            ([{"id": "a", "title": "A"}, {"id": "a", "title": "B"}], "used twice"),
        ]:
            with pytest.raises(AppError) as refused:
                report_templates.create(session, actor=doctor, name="Mine", sections=bad)
            assert refused.value.code == "TEMPLATE_INVALID" and words in refused.value.message
        mine = report_templates.create(
            session, actor=doctor, name="Mine", sections=[{"id": "plan", "title": "Plan"}]
        )
        same = report_templates.update(
            session, actor=doctor, template_id=str(mine.id), version=mine.version, name="Mine",
            sections=[{"id": "plan", "title": "Plan", "required": True}],
            report_type="consultation",
        )  # fmt: skip
        assert same.id == mine.id and same.template_version == 1  # unused: edited in place
        report_templates.record_use(session, template=same)
        newer = report_templates.update(
            session, actor=doctor, template_id=str(mine.id), version=same.version, name="Mine 2",
            sections=[{"id": "plan", "title": "Plan"}], report_type="consultation",
        )  # fmt: skip
        assert newer.id != mine.id and newer.template_version == 2 and newer.parent_id == mine.id
        assert not session.get(type(mine), mine.id).is_active  # type: ignore[union-attr]
        soap = next(
            t for t in report_templates.list_templates(session, actor=doctor) if t["builtin"]
        )
        with pytest.raises(AppError) as not_theirs:
            report_templates.update(
                session, actor=doctor, template_id=soap["id"], version=soap["version"],
                name="x", sections=[{"id": "a", "title": "A"}], report_type="consultation",
            )  # fmt: skip
        assert not_theirs.value.code == "FORBIDDEN"


def test_no_transcript_no_draft_and_other_doctors_cannot_touch_it(app_env: str) -> None:
    with session_scope() as session:
        load_demo_clinic(session)
        doctor = actor_for(session, DOCTOR)
        maria = session.exec(select(Patient).where(Patient.mrn == "PAT-2026-00001")).one()
        session_id = str(scribe.start_session(session, actor=doctor, patient_id=str(maria.id)))
        with pytest.raises(AppError) as missing:
            reports.start_draft(session, actor=doctor, session_id=session_id)
        assert missing.value.code == "TRANSCRIPT_MISSING"
        nurse = actor_for(session, "nurse@demo.clinic")
        with pytest.raises(AppError):
            reports.start_draft(session, actor=nurse, session_id=session_id)
        assert session.exec(
            select(ConsultationSession)
        ).one().ended_at is None or utcnow() - timedelta(0)
        assert chart is not None
