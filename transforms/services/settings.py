"""What the stages of an anonymize job are configured with: one object, built once from the options."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from fractions import Fraction

from schemas.codes import RedactionMode
from schemas.registries import Registry
from transforms.logic.archive import ArchiveLimits
from transforms.logic.audit import AuditConfig
from transforms.logic.identity import Identity
from transforms.logic.policy import PolicyConfig
from transforms.logic.retention import RetentionPolicy
from transforms.logic.scanning import DetectorConfig
from transforms.logic.tracking import TrackerConfig
from transforms.services.media import EncoderConfig


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """What the stages of an anonymize job are configured with, batch or streaming alike."""

    input: str
    output: str
    run_id: str
    """The run's id; a streaming job's stream id."""
    started: dt.datetime
    done: frozenset
    """(input_uri, sha256, settings_hash) of the inputs earlier runs anonymized, unless --force."""
    manifest: Mapping[str, Identity]
    template: re.Pattern[str] | None
    settings_hash: str
    registry: Registry
    policy: PolicyConfig
    image_fps: Fraction
    segment_frames: int
    detector: DetectorConfig
    tracker: TrackerConfig
    mode: RedactionMode
    encoder: EncoderConfig
    audit: AuditConfig
    keystore: str
    keep_audio: bool
    limits: ArchiveLimits
    retention: RetentionPolicy
    options_json: str
    measures: Mapping[str, object]
    progress: str | None
    """The local folder stages note what they finished in, for the launcher's progress line (None: no line)."""
    """The protective measures in force, for the run report (Article 15)."""
