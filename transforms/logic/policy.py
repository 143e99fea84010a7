"""Per-track decisions: until service sessions are registered, no face is linked to a service (Article 18)."""
from __future__ import annotations

from schemas.codes import Action, ReasonCode
from schemas.elements import Decision, MediaInfo, Track


def decide(track: Track, media: MediaInfo) -> Decision:
    """Redact every face: unknown cameras fail closed, known ones have no consented session to link it to."""
    reason = ReasonCode.UNKNOWN_CAMERA if not media.camera_known else ReasonCode.NO_SERVICE_LINK
    return Decision(track_id=track.track_id, action=Action.REDACT, reason=reason)
