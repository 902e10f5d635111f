"""Scheduling setup service: weekly hours, exceptions, visit types, policy (SQLite + Postgres)."""

from __future__ import annotations

import threading
import time as time_module
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import scheduling_setup as setup
from clinic_app.services.scheduling import find_slots, list_visit_types
from clinic_app.services.scheduling_setup import PolicyInput, SessionRow, VisitTypeInput
from models import (
    AuditEvent,
    AvailabilityException,
    AvailabilityTemplate,
    Membership,
    SchedulingPolicy,
    User,
    VisitType,
)
from tests.scheduling_helpers import World, build_world
from tests.unit.test_state_access import App, demo_db, run  # noqa: F401  (demo_db: fixture)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def _monday(weeks_ahead: int = 2) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)


def _admin(session: Session, world: World) -> Actor:
    user = User(email=f"admin-{uuid.uuid4().hex[:8]}@test.clinic", full_name="Ada Admin")
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, clinic_id=world.clinic.id, role="clinic_admin"))
    return Actor(user.id, world.clinic.id, "clinic_admin", user.full_name, user.email)


def _audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _slot_times(session: Session, world: World, day: date, visit: str = "consultation") -> set:
    slots = find_slots(
        session,
        actor=world.reception,
        provider_ids=[str(world.provider.id)],
        visit_type=visit,
        start_date=day,
        end_date=day,
    )
    return {datetime.fromisoformat(s.starts_at).astimezone(BERLIN).strftime("%H:%M") for s in slots}


# ---- weekly hours -------------------------------------------------------------------------------


def test_hours_round_trip_split_sessions_and_slot_search(session: Session, world: World) -> None:
    pid = str(world.provider.id)
    form = setup.weekly_hours(session, actor=world.reception, provider_id=pid)
    assert [(s.weekday, s.start, s.end) for s in form.sessions] == [
        (d, "09:00", "17:00") for d in range(5)
    ]
    assert form.valid_from == "" and not form.mixed_dates
    monday = _monday()
    saved = setup.save_weekly_hours(
        session,
        actor=world.reception,
        provider_id=pid,
        stamp=form.stamp,
        sessions=[
            SessionRow(0, "13:00", "17:00"),
            SessionRow(0, "08:00", "12:00"),
            SessionRow(2, "10:00", "00:00"),  # until midnight
        ],
        valid_from=monday.isoformat(),
    )
    assert [(s.weekday, s.start, s.end) for s in saved.sessions] == [
        (0, "08:00", "12:00"),
        (0, "13:00", "17:00"),
        (2, "10:00", "00:00"),
    ]
    assert saved.valid_from == monday.isoformat() and saved.stamp != form.stamp
    times = _slot_times(session, world, monday)
    assert "08:00" in times and "11:40" in times and "16:40" in times
    assert "12:00" not in times and "12:40" not in times and "07:40" not in times
    assert _slot_times(session, world, monday + timedelta(days=1)) == set()  # Tuesday: off
    assert "23:40" in _slot_times(session, world, monday + timedelta(days=2))
    assert _slot_times(session, world, monday - timedelta(days=7)) == set()  # before valid_from
    old = session.exec(
        select(AvailabilityTemplate).where(
            AvailabilityTemplate.provider_id == world.provider.id,
            col(AvailabilityTemplate.deleted_at).is_not(None),
        )
    ).all()
    assert len(old) == 5  # replaced rows stay as history
    assert _audits(session, "availability.set_hours")


def test_stale_hours_form_is_a_version_conflict(session: Session, world: World) -> None:
    pid = str(world.provider.id)
    stale = setup.weekly_hours(session, actor=world.reception, provider_id=pid)
    setup.save_weekly_hours(
        session,
        actor=_admin(session, world),
        provider_id=pid,
        stamp=stale.stamp,
        sessions=[SessionRow(1, "09:00", "12:00")],
    )
    with pytest.raises(AppError) as caught:
        setup.save_weekly_hours(
            session,
            actor=world.reception,
            provider_id=pid,
            stamp=stale.stamp,
            sessions=[SessionRow(4, "09:00", "12:00")],
        )
    assert caught.value.code == "VERSION_CONFLICT"
    now = setup.weekly_hours(session, actor=world.reception, provider_id=pid)
    assert [(s.weekday, s.start) for s in now.sessions] == [(1, "09:00")]


@pytest.mark.parametrize(
    ("sessions", "valid_from", "valid_until", "message"),
    [
        ([SessionRow(0, "08:00", "12:00"), SessionRow(0, "11:00", "14:00")], "", "", "overlap"),
        ([SessionRow(0, "12:00", "08:00")], "", "", "end after it starts"),
        ([SessionRow(0, "09:00", "09:00")], "", "", "end after it starts"),
        ([SessionRow(0, "", "12:00")], "", "", "start and an end"),
        ([SessionRow(0, "9 am", "12:00")], "", "", "like 08:00"),
        ([SessionRow(7, "09:00", "12:00")], "", "", "Monday to Sunday"),
        ([SessionRow(0, "09:00", "12:00")], "2030-02-01", "2030-01-01", "before"),
        ([SessionRow(0, "09:00", "12:00")], "next week", "", "not a date"),
    ],
)
def test_bad_hours_are_refused_and_nothing_changes(
    session: Session,
    world: World,
    sessions: list[SessionRow],
    valid_from: str,
    valid_until: str,
    message: str,
) -> None:
    pid = str(world.provider.id)
    form = setup.weekly_hours(session, actor=world.reception, provider_id=pid)
    with pytest.raises(AppError) as caught:
        setup.save_weekly_hours(
            session,
            actor=world.reception,
            provider_id=pid,
            stamp=form.stamp,
            sessions=sessions,
            valid_from=valid_from,
            valid_until=valid_until,
        )
    assert caught.value.code == "VALIDATION" and message in caught.value.message
    assert setup.weekly_hours(session, actor=world.reception, provider_id=pid) == form
    assert not _audits(session, "availability.set_hours")


def test_mixed_valid_dates_are_flagged(session: Session, world: World) -> None:
    row = session.exec(
        select(AvailabilityTemplate).where(AvailabilityTemplate.provider_id == world.provider.id)
    ).first()
    assert row is not None
    row.valid_until = date(2031, 1, 1)
    session.add(row)
    session.flush()
    form = setup.weekly_hours(session, actor=world.reception, provider_id=str(world.provider.id))
    assert form.mixed_dates and form.valid_until == ""


def test_access_is_checked_and_foreign_ids_are_not_found(session: Session, world: World) -> None:
    pid = str(world.provider.id)
    for actor in (world.doctor, world.accountant):
        with pytest.raises(AppError) as caught:
            setup.weekly_hours(session, actor=actor, provider_id=pid)
        assert caught.value.code == "FORBIDDEN"
        with pytest.raises(AppError):
            setup.list_exceptions(session, actor=actor)
        with pytest.raises(AppError):
            setup.create_visit_type(session, actor=actor, data=VisitTypeInput("X", 10))
        with pytest.raises(AppError):
            setup.read_policy(session, actor=actor)
    other = build_world(session)
    for provider_id in (str(other.provider.id), "not-an-id"):
        with pytest.raises(AppError) as caught:
            setup.weekly_hours(session, actor=world.reception, provider_id=provider_id)
        assert caught.value.code == "NOT_FOUND"
    visit = session.exec(select(VisitType).where(VisitType.clinic_id == other.clinic.id)).first()
    assert visit is not None
    with pytest.raises(AppError) as caught:
        setup.update_visit_type(
            session,
            actor=world.reception,
            visit_type_id=str(visit.id),
            version=visit.version,
            data=VisitTypeInput("Taken over", 30),
        )
    assert caught.value.code == "NOT_FOUND"


def test_two_desks_saving_one_providers_hours_at_once(app_env: str) -> None:
    """Both opened the same week: one save wins, the other is a VERSION_CONFLICT (never both)."""
    from clinic_app.db import session_scope

    with session_scope() as db:
        world = build_world(db)
        form = setup.weekly_hours(db, actor=world.reception, provider_id=str(world.provider.id))
    outcomes: list[str] = []
    first_has_written = threading.Event()

    def save(weekday: int, hold: float) -> None:
        try:
            with session_scope(clinic_id=world.clinic.id, immediate=True) as db:
                setup.save_weekly_hours(
                    db,
                    actor=world.reception,
                    provider_id=str(world.provider.id),
                    stamp=form.stamp,
                    sessions=[SessionRow(weekday, "09:00", "12:00")],
                )
                first_has_written.set()
                time_module.sleep(hold)  # keep the transaction open while the other desk saves
            outcomes.append("saved")
        except AppError as exc:
            outcomes.append(exc.code)

    first = threading.Thread(target=save, args=(0, 0.6))
    second = threading.Thread(target=save, args=(1, 0))
    first.start()
    assert first_has_written.wait(30), "the first desk never saved"
    second.start()
    first.join()
    second.join()
    assert sorted(outcomes) == ["VERSION_CONFLICT", "saved"]
    with session_scope() as db:
        active = db.exec(
            select(AvailabilityTemplate).where(
                AvailabilityTemplate.provider_id == world.provider.id,
                col(AvailabilityTemplate.deleted_at).is_(None),
            )
        ).all()
        assert [(t.weekday, t.start_time) for t in active] == [(0, time(9))]


# ---- exceptions ---------------------------------------------------------------------------------


def test_exceptions_listed_local_and_removed_softly(session: Session, world: World) -> None:
    monday = _monday()
    leave = setup.add_exception_local(
        session,
        actor=world.reception,
        kind="leave",
        provider_id=str(world.provider.id),
        starts_local=f"{monday.isoformat()}T09:00",
        ends_local=f"{monday.isoformat()}T12:00",
        note="Conference",
    )
    setup.add_exception_local(
        session,
        actor=world.reception,
        kind="holiday",
        provider_id="all",
        starts_local=f"{(monday + timedelta(days=3)).isoformat()}T00:00",
        ends_local=f"{(monday + timedelta(days=4)).isoformat()}T00:00",
    )
    past = datetime.now(UTC) - timedelta(days=3)
    session.add(
        AvailabilityException(
            clinic_id=world.clinic.id,
            kind="blocked",
            starts_at=past,
            ends_at=past + timedelta(hours=2),
        )
    )
    session.flush()
    assert "09:00" not in _slot_times(session, world, monday)

    rows = setup.list_exceptions(session, actor=world.reception)
    assert [(r.kind_label, r.provider_name) for r in rows] == [
        ("Leave", "Dr. Test Provider"),
        ("Holiday", "All providers"),
    ]  # the past one is not listed
    assert rows[0].when.endswith(f"{monday.strftime('%d %b %Y')}, 09:00–12:00")
    assert rows[0].note == "Conference" and " – " in rows[1].when

    with pytest.raises(AppError) as caught:
        setup.remove_exception(
            session, actor=world.reception, exception_id=str(leave), version=rows[0].version + 1
        )
    assert caught.value.code == "VERSION_CONFLICT"
    setup.remove_exception(
        session, actor=world.reception, exception_id=str(leave), version=rows[0].version
    )
    stored = session.get(AvailabilityException, leave)
    assert stored is not None and stored.deleted_at is not None and stored.version == 2
    assert [r.kind for r in setup.list_exceptions(session, actor=world.reception)] == ["holiday"]
    assert "09:00" in _slot_times(session, world, monday)  # the hours count again
    (event,) = _audits(session, "availability.exception_removed")
    assert event.entity_id == str(leave) and event.before and event.before["kind"] == "leave"
    with pytest.raises(AppError) as caught:  # removing twice: it is gone
        setup.remove_exception(session, actor=world.reception, exception_id=str(leave), version=2)
    assert caught.value.code == "NOT_FOUND"


def test_bad_exceptions_are_refused(session: Session, world: World) -> None:
    day = _monday().isoformat()
    cases = [
        ("vacation", "all", f"{day}T09:00", f"{day}T10:00"),
        ("leave", "all", "", f"{day}T10:00"),
        ("leave", "all", f"{day}T10:00", f"{day}T09:00"),
        ("extra", "all", f"{day}T18:00", f"{day}T20:00"),
    ]
    for kind, provider, start, end in cases:
        with pytest.raises(AppError) as caught:
            setup.add_exception_local(
                session,
                actor=world.reception,
                kind=kind,
                provider_id=provider,
                starts_local=start,
                ends_local=end,
            )
        assert caught.value.code == "VALIDATION"
    assert setup.list_exceptions(session, actor=world.reception) == []


# ---- visit types --------------------------------------------------------------------------------


def test_visit_types_create_edit_retire(session: Session, world: World) -> None:
    created = setup.create_visit_type(
        session,
        actor=world.reception,
        data=VisitTypeInput("  Flu   shot ", "10", "#DC2626", portal_bookable=True),
    )
    assert (created.code, created.name, created.duration_minutes, created.color) == (
        "flu_shot",
        "Flu shot",
        10,
        "#dc2626",
    )
    assert created.version == 1 and created.is_active and created.portal_bookable
    twin = setup.create_visit_type(session, actor=world.reception, data=VisitTypeInput("Long", 45))
    assert twin.code == "long_2"  # "long" belongs to "Long visit"
    codes = [v.code for v in list_visit_types(session, actor=world.reception)]
    assert "flu_shot" in codes and "long_2" in codes
    monday = _monday()
    assert "16:50" in _slot_times(session, world, monday, visit="flu_shot")  # 10-minute grid

    edited = setup.update_visit_type(
        session,
        actor=_admin(session, world),
        visit_type_id=created.id,
        version=created.version,
        data=VisitTypeInput("Flu vaccination", 15, "#dc2626", portal_bookable=False),
    )
    assert (edited.code, edited.name, edited.duration_minutes, edited.version) == (
        "flu_shot",
        "Flu vaccination",
        15,
        2,
    )
    with pytest.raises(AppError) as caught:  # the list another desk had open
        setup.update_visit_type(
            session,
            actor=world.reception,
            visit_type_id=created.id,
            version=created.version,
            data=VisitTypeInput("Flu", 5),
        )
    assert caught.value.code == "VERSION_CONFLICT"
    retired = setup.update_visit_type(
        session,
        actor=world.reception,
        visit_type_id=created.id,
        version=edited.version,
        data=VisitTypeInput("Flu vaccination", 15, "#dc2626", is_active=False),
    )
    assert not retired.is_active and retired.version == 3
    assert "flu_shot" not in [v.code for v in list_visit_types(session, actor=world.reception)]
    listed = setup.list_all_visit_types(session, actor=world.reception)
    assert listed[-1].code == "flu_shot"  # retired ones last, still editable
    assert len(_audits(session, "visit_type.create")) == 2
    updates = _audits(session, "visit_type.update")
    assert len(updates) == 2 and updates[-1].after == {"is_active": False}
    unchanged = setup.update_visit_type(
        session,
        actor=world.reception,
        visit_type_id=created.id,
        version=retired.version,
        data=VisitTypeInput("Flu vaccination", 15, "#dc2626", is_active=False),
    )
    assert unchanged.version == 3 and len(_audits(session, "visit_type.update")) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (VisitTypeInput("   ", 20), "name"),
        (VisitTypeInput("Quick", 4), "5 to 480"),
        (VisitTypeInput("Marathon", 481), "5 to 480"),
        (VisitTypeInput("Odd", "twenty"), "5 to 480"),
        (VisitTypeInput("Pink", 20, "pink"), "Colour"),
        (VisitTypeInput("consultation", 20), "already a visit type"),
    ],
)
def test_bad_visit_types_are_refused(
    session: Session, world: World, data: VisitTypeInput, message: str
) -> None:
    before = setup.list_all_visit_types(session, actor=world.reception)
    with pytest.raises(AppError) as caught:
        setup.create_visit_type(session, actor=world.reception, data=data)
    assert caught.value.code == "VALIDATION" and message in caught.value.message
    assert setup.list_all_visit_types(session, actor=world.reception) == before
    assert not _audits(session, "visit_type.create")


def test_renaming_onto_another_name_is_refused(session: Session, world: World) -> None:
    long = next(
        v for v in setup.list_all_visit_types(session, actor=world.reception) if v.code == "long"
    )
    with pytest.raises(AppError) as caught:
        setup.update_visit_type(
            session,
            actor=world.reception,
            visit_type_id=long.id,
            version=long.version,
            data=VisitTypeInput("CONSULTATION", 40),
        )
    assert caught.value.code == "VALIDATION"


# ---- policy -------------------------------------------------------------------------------------


def test_policy_defaults_then_saved_with_versions(session: Session, world: World) -> None:
    form = setup.read_policy(session, actor=world.reception)
    assert (form.version, form.reminder_offsets, form.reminder_channel) == (0, "24, 2", "sms")
    data = PolicyInput("2, 48h; 24", "email", True, True, True, "30")
    saved = setup.update_policy(session, actor=world.reception, version=0, data=data)
    assert saved.version == 1 and saved.reminder_offsets == "48, 24, 2"
    stored = session.get(SchedulingPolicy, world.clinic.id)
    assert stored is not None and stored.reminder_offsets_hours == "48,24,2"
    assert stored.portal_booking_horizon_days == 30 and stored.no_show_include_confirmed
    with pytest.raises(AppError) as caught:  # a second first save from a stale form
        setup.update_policy(session, actor=_admin(session, world), version=0, data=data)
    assert caught.value.code == "VERSION_CONFLICT"
    off = PolicyInput("", "sms", False, False, False, 1)
    again = setup.update_policy(session, actor=_admin(session, world), version=1, data=off)
    assert again.version == 2 and again.reminder_offsets == "" and not again.no_show_enabled
    first, second = _audits(session, "scheduling_policy.update")
    assert first.before is None and first.after and first.after["reminder_channel"] == "email"
    assert second.before == {
        "reminder_offsets_hours": "48,24,2",
        "reminder_channel": "email",
        "no_show_enabled": True,
        "no_show_include_confirmed": True,
        "portal_booking_enabled": True,
        "portal_booking_horizon_days": 30,
    }


@pytest.mark.parametrize(
    ("offsets", "channel", "horizon", "message"),
    [
        ("24, soon", "sms", 60, "hours before"),
        ("0", "sms", 60, "hours before"),
        ("-2", "sms", 60, "hours before"),
        ("1,2,3,4,5,6", "sms", 60, "At most 5"),
        ("24", "fax", 60, "SMS, WhatsApp or email"),
        ("24", "sms", 0, "1 to 365"),
        ("24", "sms", 366, "1 to 365"),
        ("24", "sms", "two months", "1 to 365"),
    ],
)
def test_bad_policy_is_refused_and_nothing_is_stored(
    session: Session, world: World, offsets: str, channel: str, horizon: object, message: str
) -> None:
    data = PolicyInput(offsets, channel, True, False, True, horizon)  # type: ignore[arg-type]
    with pytest.raises(AppError) as caught:
        setup.update_policy(session, actor=world.reception, version=0, data=data)
    assert caught.value.code == "VALIDATION" and message in caught.value.message
    assert session.get(SchedulingPolicy, world.clinic.id) is None
    assert not _audits(session, "scheduling_policy.update")


def test_hours_form_times_are_wall_clock(session: Session, world: World) -> None:
    """Stored template times are the clinic's local times, not UTC."""
    form = setup.weekly_hours(session, actor=world.reception, provider_id=str(world.provider.id))
    setup.save_weekly_hours(
        session,
        actor=world.reception,
        provider_id=str(world.provider.id),
        stamp=form.stamp,
        sessions=[SessionRow(5, "07:30", "11:15")],
    )
    row = session.exec(
        select(AvailabilityTemplate).where(
            AvailabilityTemplate.provider_id == world.provider.id,
            col(AvailabilityTemplate.deleted_at).is_(None),
        )
    ).one()
    assert (row.weekday, row.start_time, row.end_time) == (5, time(7, 30), time(11, 15))


# ---- the page state, driven like a browser ------------------------------------------------------


@pytest.mark.usefixtures("demo_db")
def test_receptionist_uses_the_page_state_and_a_doctor_is_refused() -> None:
    from clinic_app.db import session_scope
    from models import Provider
    from state.scheduling_setup import SchedulingSetupState as S

    async def scenario(app: App) -> None:
        token = "setup-desk"
        await app.sign_in(token, "reception@demo.clinic")
        assert await app.call(token, S.load) is None
        state = await app.state(token, S)
        assert state.access == "ok" and state.loaded and state.provider_id
        assert {v["code"] for v in state.visit_types} >= {"consultation", "follow_up"}
        weber = next(p["id"] for p in state.providers if p["name"] == "Dr. Jonas Weber")
        assert await app.call(token, S.choose_provider, provider_id=weber) is None
        state = await app.state(token, S)
        assert len(state.week[4]) == 0 and len(state.week[0]) == 1  # Mon–Thu 09–17

        for _ in range(2):
            assert await app.call(token, S.add_session, weekday=4) is None
        state = await app.state(token, S)
        assert [(r["start"], r["end"]) for r in state.week[4]] == [
            ("09:00", "17:00"),
            ("18:00", "22:00"),
        ]
        first, second = (int(r["index"]) for r in state.week[4])
        for index, key, value in ((first, "end", "12:00"), (second, "start", "11:00")):
            await app.call(token, S.edit_session, index=index, key=key, value=value)
        assert await app.call(token, S.save_hours) is None
        state = await app.state(token, S)
        assert "overlap" in state.hours_error and state.hours_dirty  # the edits stay
        await app.call(token, S.edit_session, index=second, key="start", value="13:00")
        assert await app.call(token, S.save_hours) is None
        state = await app.state(token, S)
        assert state.hours_error == "" and not state.hours_dirty
        assert "Dr. Jonas Weber" in state.hours_notice and not state.hours_saving
        assert [(r["start"], r["end"]) for r in state.week[4]] == [
            ("09:00", "12:00"),
            ("13:00", "22:00"),
        ]

        bad = {"name": "Vaccination", "duration_minutes": "3", "color": "#ff0000"}
        assert await app.call(token, S.new_visit_type) is None
        assert await app.call(token, S.save_visit_type, form=bad) is None
        state = await app.state(token, S)
        assert "5 to 480" in state.visit_error and state.visit_open
        good = {**bad, "duration_minutes": "10", "is_active": "on", "portal_bookable": "on"}
        assert await app.call(token, S.save_visit_type, form=good) is None
        state = await app.state(token, S)
        assert not state.visit_open and state.visit_error == ""
        added = next(v for v in state.visit_types if v["code"] == "vaccination")
        assert added["duration_minutes"] == 10 and added["portal_bookable"]

        policy = {
            "reminder_offsets": "48, 2",
            "reminder_channel": "email",
            "no_show_enabled": "on",
            "portal_booking_horizon_days": "30",
        }
        assert await app.call(token, S.save_policy, form=policy) is None
        state = await app.state(token, S)
        assert state.policy_error == "" and state.policy["reminder_offsets"] == "48, 2"
        assert not state.policy["portal_booking_enabled"]

        doctor = "setup-doctor"
        await app.sign_in(doctor, "doctor@demo.clinic")
        assert await app.call(doctor, S.load) is None
        assert (await app.state(doctor, S)).access == "forbidden"
        error = await app.call(doctor, S.save_hours)
        assert getattr(error, "code", "") == "FORBIDDEN"

    run(scenario)
    with session_scope() as session:
        weber_row = session.exec(
            select(Provider).where(Provider.display_name == "Dr. Jonas Weber")
        ).one()
        friday = session.exec(
            select(AvailabilityTemplate).where(
                AvailabilityTemplate.provider_id == weber_row.id,
                AvailabilityTemplate.weekday == 4,
                col(AvailabilityTemplate.deleted_at).is_(None),
            )
        ).all()
        assert sorted((t.start_time, t.end_time) for t in friday) == [
            (time(9), time(12)),
            (time(13), time(22)),
        ]
        assert len(session.exec(select(SchedulingPolicy)).all()) == 1
