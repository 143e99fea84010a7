"""Per-track decisions (Articles 4-18): a face is kept only when place and time link it to a consented session.

Linking never looks at the face itself (Article 4): a track is related to a service session when, for
at least ``zone_share`` of its detections, the face centre lies in the session's zone on the same
camera while the session runs. Every rule that cannot be checked redacts: the order of the checks
below is the order of the reasons a redacted track reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from schemas.codes import PRIVATE_LOCATIONS, Action, ConsentKind, Purpose, QuarantineReason, ReasonCode
from schemas.elements import Decision, MediaInfo, StreamInfo, Track
from schemas.options import config_default
from schemas.registries import Camera, Consent, Registry, Session
from transforms.logic.geometry import centre, inside_polygon


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """zone_share: share of a track's detections that must lie in a session's zone during the session.

    private_categories: camera location categories whose footage is never processed (Article 6).
    """

    zone_share: float = config_default("policy", "zone_share")
    private_categories: frozenset[str] = PRIVATE_LOCATIONS

    def __post_init__(self) -> None:
        if not 0 < self.zone_share <= 1:
            raise ValueError(f"zone share must be in (0, 1], got {self.zone_share}")


def screen(media: MediaInfo, registry: Registry, config: PolicyConfig) -> tuple[QuarantineReason, str] | None:
    """Why an input must not be processed at all, or None: private locations and untrustworthy camera rows."""
    if media.camera_id in registry.invalid_cameras:
        return (
            QuarantineReason.INVALID_CAMERA_REGISTRY,
            f"camera {media.camera_id}'s registry row is malformed or contradictory, so its location "
            f"category cannot be trusted; fix the registry and re-run",
        )
    camera = registry.cameras.get(media.camera_id or "")
    if camera is not None and camera.location_category in config.private_categories:
        return (
            QuarantineReason.PROHIBITED_LOCATION,
            f"camera {camera.camera_id} is registered at a {camera.location_category} (Article 6): its "
            f"footage is never processed and is due for purge",
        )
    return None


@dataclasses.dataclass(frozen=True)
class _Fit:
    track: Track
    session: Session
    share: float
    inside: int


def decide(
    tracks: Sequence[Track], media: MediaInfo, stream: StreamInfo, registry: Registry, config: PolicyConfig
) -> list[Decision]:
    """A decision for every track of one input, in the order of ``tracks``."""
    camera = registry.cameras.get(media.camera_id or "")
    shared = _camera_reason(media, camera)
    if shared is not None:
        return [Decision(t.track_id, Action.REDACT, shared) for t in tracks]
    times = {t.track_id: [_time_of(media.start_time, stream, d.frame) for d in t.detections] for t in tracks}
    decided: dict[int, Decision] = {}
    candidates = []
    for track in tracks:
        if not all(inside_polygon(_normalised(d.box, stream), camera.capture_area) for d in track.detections):
            decided[track.track_id] = Decision(track.track_id, Action.REDACT, ReasonCode.OUTSIDE_CAPTURE_AREA)
        elif camera.purpose is not Purpose.SERVICE:
            decided[track.track_id] = Decision(track.track_id, Action.REDACT, ReasonCode.PURPOSE_KEEPS_NO_FACES)
        else:
            fits = [
                _fit(track, times[track.track_id], s, camera, stream)
                for s in registry.sessions
                if s.camera_id == camera.camera_id
            ]
            fits = [f for f in fits if f.share >= config.zone_share]
            if not fits:
                decided[track.track_id] = Decision(track.track_id, Action.REDACT, ReasonCode.NO_SERVICE_LINK)
            candidates.extend(fits)
    # Best fit first: a session keeps at most `subjects` tracks, a track belongs to at most one session.
    candidates.sort(key=lambda f: (-f.share, -f.inside, f.track.first_frame, f.track.track_id, f.session.session_id))
    seats = {s.session_id: s.subjects for s in registry.sessions}
    for fit in candidates:
        track_id = fit.track.track_id
        if track_id in decided or seats[fit.session.session_id] == 0:
            continue
        seats[fit.session.session_id] -= 1
        reason = _consent_reason(fit.session, registry.consents.get(fit.session.consent_id or ""), times[track_id])
        action = Action.KEEP if reason is ReasonCode.CONSENTED_SERVICE_SUBJECT else Action.REDACT
        decided[track_id] = Decision(
            track_id,
            action,
            reason,
            round(fit.share, 4),
            fit.session.session_id,
            fit.session.consent_id,
            fit.session.account_id,
        )
    for fit in candidates:
        if fit.track.track_id not in decided:
            decided[fit.track.track_id] = Decision(
                fit.track.track_id, Action.REDACT, ReasonCode.EXCESS_SUBJECT, round(fit.share, 4)
            )
    return [decided[t.track_id] for t in tracks]


def _camera_reason(media: MediaInfo, camera: Camera | None) -> ReasonCode | None:
    if media.camera_id is None:
        return ReasonCode.UNKNOWN_CAMERA
    if camera is None:
        return ReasonCode.UNREGISTERED_CAMERA
    if media.start_time is None:
        return ReasonCode.UNKNOWN_START_TIME
    return None


def _time_of(start: dt.datetime, stream: StreamInfo, frame: int) -> dt.datetime:
    return start + dt.timedelta(seconds=float(frame / stream.fps))


def _normalised(box, stream: StreamInfo) -> tuple[float, float]:
    x, y = centre(box)
    return x / stream.width, y / stream.height


def _fit(track: Track, times: list[dt.datetime], session: Session, camera: Camera, stream: StreamInfo) -> _Fit:
    zone = camera.zones.get(session.zone_id)
    inside = (
        0
        if zone is None
        else sum(
            session.start <= when < session.end and inside_polygon(_normalised(d.box, stream), zone)
            for d, when in zip(track.detections, times)
        )
    )
    return _Fit(track, session, inside / len(track.detections), inside)


def _consent_reason(session: Session, consent: Consent | None, times: list[dt.datetime]) -> ReasonCode:
    """Whether the session's consent covers every moment the face was seen (Articles 5, 13)."""
    if consent is None:
        return ReasonCode.CONSENT_MISSING
    if consent.account_id != session.account_id:
        return ReasonCode.REGISTRY_CONFLICT
    if consent.subject_minor and consent.kind is not ConsentKind.GUARDIAN:
        return ReasonCode.GUARDIAN_CONSENT_MISSING
    if times[0] < consent.granted_at:
        return ReasonCode.CONSENT_NOT_YET_GRANTED
    if consent.withdrawn_at is not None and times[-1] >= consent.withdrawn_at:
        return ReasonCode.CONSENT_WITHDRAWN
    if consent.expires_at is not None and times[-1] >= consent.expires_at:
        return ReasonCode.CONSENT_EXPIRED
    return ReasonCode.CONSENTED_SERVICE_SUBJECT


def revoke(registry: Registry, accounts: set[str]) -> Registry:
    """The registry less the consents of ``accounts`` (cancelled ones). Their sessions stay, so a cancelled
    customer's face is still linked to its own session, and redacted there as ``consent_missing``, rather than
    taken for another session's subject."""
    if not accounts:
        return registry
    return dataclasses.replace(
        registry, consents={k: c for k, c in registry.consents.items() if c.account_id not in accounts}
    )
