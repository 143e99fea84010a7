"""The per-track policy (Articles 4-18) on plain data: who is kept, who is redacted, and why."""

import dataclasses
import datetime as dt
from fractions import Fraction

import pytest

from schemas.codes import Action, ConsentKind, IdentitySource, Purpose, QuarantineReason, ReasonCode
from schemas.elements import Detection, MediaInfo, MediaSource, StreamInfo, Track
from schemas.registries import Camera, Consent, Registry, Session
from transforms.logic.policy import PolicyConfig, decide, revoke, screen

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
STREAM = StreamInfo(frames=100, fps=Fraction(10), width=200, height=100, has_audio=False)
WHOLE = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
DESK = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0))
CAMERA = Camera("desk", "branch", "counter", Purpose.SERVICE, True, WHOLE, {"desk": DESK})
SESSION = Session("s1", "acct", "desk", START, START + dt.timedelta(minutes=5), "desk", "c1")
CONSENT = Consent("c1", "acct", ConsentKind.WRITTEN, False, START - dt.timedelta(days=1))


def _media(camera="desk", start=START):
    return MediaInfo(MediaSource("/in/a.mp4", "/in/a.mp4", "video"), "m", "sha", camera, start, IdentitySource.MANIFEST)


def _track(track_id, centre, frames=range(0, 50)):
    x, y = centre
    return Track(track_id, tuple(Detection(f, (x - 5, y - 5, 10, 10), 0.9) for f in frames))


def _registry(camera=CAMERA, sessions=(SESSION,), consents=(CONSENT,)):
    return Registry({camera.camera_id: camera}, tuple(sessions), {c.consent_id: c for c in consents})


CUSTOMER = (150, 75)  # inside the desk zone (right half, lower half of a 200 x 100 frame)
BYSTANDER = (40, 20)  # outside it


DEFAULTS = PolicyConfig()


def _decisions(tracks, registry=None, media=None, config=DEFAULTS):
    return [(d.action, d.reason) for d in decide(tracks, media or _media(), STREAM, registry or _registry(), config)]


def test_a_consented_customer_in_the_zone_is_kept_and_bystanders_are_redacted():
    decisions = decide([_track(0, CUSTOMER), _track(1, BYSTANDER)], _media(), STREAM, _registry(), PolicyConfig())
    kept, bystander = decisions
    assert (kept.action, kept.reason, kept.session_id, kept.consent_id, kept.account_id) == (
        Action.KEEP,
        ReasonCode.CONSENTED_SERVICE_SUBJECT,
        "s1",
        "c1",
        "acct",
    )
    assert kept.zone_share == 1.0
    assert (bystander.action, bystander.reason, bystander.account_id) == (
        Action.REDACT,
        ReasonCode.NO_SERVICE_LINK,
        None,
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"expires_at": START + dt.timedelta(seconds=2)}, ReasonCode.CONSENT_EXPIRED),
        ({"withdrawn_at": START + dt.timedelta(seconds=1)}, ReasonCode.CONSENT_WITHDRAWN),
        ({"granted_at": START + dt.timedelta(seconds=3)}, ReasonCode.CONSENT_NOT_YET_GRANTED),
        ({"subject_minor": True}, ReasonCode.GUARDIAN_CONSENT_MISSING),
        ({"account_id": "someone-else"}, ReasonCode.REGISTRY_CONFLICT),
    ],
)
def test_a_consent_that_does_not_cover_every_moment_the_face_is_seen_redacts_it(change, reason):
    consent = dataclasses.replace(CONSENT, **change)
    assert _decisions([_track(0, CUSTOMER)], _registry(consents=(consent,))) == [(Action.REDACT, reason)]


def test_guardian_consent_keeps_a_minor_and_a_consent_expiring_after_the_clip_keeps_an_adult():
    guardian = dataclasses.replace(CONSENT, kind=ConsentKind.GUARDIAN, subject_minor=True)
    assert _decisions([_track(0, CUSTOMER)], _registry(consents=(guardian,)))[0][0] is Action.KEEP
    later = dataclasses.replace(CONSENT, expires_at=START + dt.timedelta(seconds=5))
    assert _decisions([_track(0, CUSTOMER)], _registry(consents=(later,)))[0][0] is Action.KEEP


def test_a_session_without_a_known_consent_keeps_nobody():
    session = dataclasses.replace(SESSION, consent_id=None)
    assert _decisions([_track(0, CUSTOMER)], _registry(sessions=(session,))) == [
        (Action.REDACT, ReasonCode.CONSENT_MISSING)
    ]
    assert _decisions([_track(0, CUSTOMER)], _registry(consents=())) == [(Action.REDACT, ReasonCode.CONSENT_MISSING)]


def test_two_people_in_the_zone_for_a_one_subject_session_keep_exactly_the_better_fit():
    steady = _track(0, CUSTOMER)
    passing = Track(1, tuple(Detection(f, ((150 if f < 30 else 40) - 5, 70, 10, 10), 0.9) for f in range(50)))
    decisions = _decisions([passing, steady])
    assert decisions == [
        (Action.REDACT, ReasonCode.EXCESS_SUBJECT),
        (Action.KEEP, ReasonCode.CONSENTED_SERVICE_SUBJECT),
    ]
    two_seats = _registry(sessions=(dataclasses.replace(SESSION, subjects=2),))
    assert [a for a, _ in _decisions([passing, steady], two_seats)] == [Action.KEEP, Action.KEEP]


def test_a_track_needs_the_configured_share_of_its_frames_in_the_zone_during_the_session():
    half_in = Track(0, tuple(Detection(f, ((150 if f % 2 else 40) - 5, 70, 10, 10), 0.9) for f in range(50)))
    assert _decisions([half_in], config=PolicyConfig(zone_share=0.6)) == [(Action.REDACT, ReasonCode.NO_SERVICE_LINK)]
    assert _decisions([half_in], config=PolicyConfig(zone_share=0.5))[0][0] is Action.KEEP
    after = dataclasses.replace(SESSION, start=START + dt.timedelta(seconds=3))
    assert _decisions([_track(0, CUSTOMER)], _registry(sessions=(after,))) == [
        (Action.REDACT, ReasonCode.NO_SERVICE_LINK)
    ], "seen mostly before the session began"
    elsewhere = dataclasses.replace(SESSION, camera_id="other")
    assert _decisions([_track(0, CUSTOMER)], _registry(sessions=(elsewhere,))) == [
        (Action.REDACT, ReasonCode.NO_SERVICE_LINK)
    ]


def test_camera_rules_redact_every_face_whatever_the_sessions_say():
    tracks = [_track(0, CUSTOMER)]
    assert _decisions(tracks, media=_media(camera=None)) == [(Action.REDACT, ReasonCode.UNKNOWN_CAMERA)]
    assert _decisions(tracks, media=_media(camera="nowhere")) == [(Action.REDACT, ReasonCode.UNREGISTERED_CAMERA)]
    assert _decisions(tracks, media=_media(start=None)) == [(Action.REDACT, ReasonCode.UNKNOWN_START_TIME)]
    for purpose in (Purpose.PUBLIC_SAFETY, Purpose.INTERNAL_MANAGEMENT):
        camera = dataclasses.replace(CAMERA, purpose=purpose)
        assert _decisions(tracks, _registry(camera=camera)) == [(Action.REDACT, ReasonCode.PURPOSE_KEEPS_NO_FACES)]
    narrow = dataclasses.replace(CAMERA, capture_area=((0.0, 0.0), (0.7, 0.0), (0.7, 1.0), (0.0, 1.0)))
    assert _decisions(tracks, _registry(camera=narrow)) == [(Action.REDACT, ReasonCode.OUTSIDE_CAPTURE_AREA)]


def test_private_locations_and_untrustworthy_camera_rows_are_screened_out_before_processing():
    bathroom = dataclasses.replace(CAMERA, location_category="bathroom")
    refused = screen(_media(), _registry(camera=bathroom), PolicyConfig())
    assert refused is not None and refused[0] is QuarantineReason.PROHIBITED_LOCATION and "Article 6" in refused[1]
    clinic = dataclasses.replace(CAMERA, location_category="clinic_room")
    assert screen(_media(), _registry(camera=clinic), PolicyConfig()) is None
    configured = PolicyConfig(private_categories=frozenset({"clinic_room"}))
    assert screen(_media(), _registry(camera=clinic), configured)[0] is QuarantineReason.PROHIBITED_LOCATION
    broken = Registry(invalid_cameras=frozenset({"desk"}))
    assert screen(_media(), broken, PolicyConfig())[0] is QuarantineReason.INVALID_CAMERA_REGISTRY
    assert screen(_media(camera="nowhere"), _registry(), PolicyConfig()) is None, "unregistered: redacted, not refused"


def test_a_track_never_serves_two_sessions_and_each_session_keeps_its_own():
    second = Session("s2", "acct2", "desk", START, START + dt.timedelta(minutes=5), "desk", "c2")
    consent2 = Consent("c2", "acct2", ConsentKind.SEPARATE, False, START - dt.timedelta(days=1))
    decisions = decide(
        [_track(0, CUSTOMER), _track(1, (160, 80))],
        _media(),
        STREAM,
        _registry(sessions=(SESSION, second), consents=(CONSENT, consent2)),
        PolicyConfig(),
    )
    assert sorted((d.action, d.session_id) for d in decisions) == [(Action.KEEP, "s1"), (Action.KEEP, "s2")]


def test_a_cancelled_account_keeps_nothing_and_its_face_stays_linked_to_its_own_session():
    other = Consent("c2", "acct-2", ConsentKind.WRITTEN, False, START - dt.timedelta(days=1))
    registry = revoke(_registry(consents=(CONSENT, other)), {"acct"})
    assert set(registry.consents) == {"c2"} and registry.sessions == (SESSION,)
    assert _decisions([_track(0, CUSTOMER)], registry) == [(Action.REDACT, ReasonCode.CONSENT_MISSING)]
    assert revoke(_registry(), set()) == _registry()
