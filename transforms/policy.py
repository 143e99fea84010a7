"""Decide per track what happens to the face, and turn the decisions into regions to destroy per frame."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import apache_beam as beam

from schemas.codes import Action, LedgerAction
from schemas.elements import Box, MediaInfo, MediaPlan, MediaTracks, QuarantineRecord, Regions, Track
from schemas.registries import Registry
from transforms.logic.ledger import from_lines, subject_token
from transforms.logic.policy import PolicyConfig, decide, revoke, screen
from transforms.logic.tracking import TrackerConfig, track_regions
from transforms.quarantine import QUARANTINE
from transforms.services.keystore import open_keystore, subject_secret
from transforms.services.ledger_store import read_ledger
from transforms.stage import Stage, Step


class _ScreenFn(beam.DoFn):
    """Pass an input on, or quarantine it when its camera must not be processed."""

    def __init__(self, registry: Registry, policy: PolicyConfig):
        self._registry = registry
        self._policy = policy
        self._prohibited = beam.metrics.Metrics.counter("veil", "inputs_refused_by_camera")

    def process(self, media: MediaInfo):
        refused = screen(media, self._registry, self._policy)
        if refused is None:
            yield media
            return
        self._prohibited.inc()
        reason, message = refused
        # No copy goes into quarantine: footage that must not exist is not duplicated (source_uri None).
        yield beam.pvalue.TaggedOutput(
            QUARANTINE,
            QuarantineRecord(media.source.origin_uri, reason, message, media.media_id, None, media.camera_id),
        )


class ScreenCameras(Stage):
    """Refuse inputs before decoding when their camera is at a private location (Article 6) or its row is unusable.

    Reads ``identified``; writes ``screened``, the inputs that may be processed, and QUARANTINE records of the
    refused ones.
    """

    def __init__(self, registry: Registry, policy: PolicyConfig):
        super().__init__(
            Step("Screen By Camera", _ScreenFn(registry, policy), ("identified",), "screened", (QUARANTINE,), False)
        )


def _regions(tracks: Iterable[Track], config: TrackerConfig, frames: int) -> Regions:
    regions: dict[int, list[Box]] = defaultdict(list)
    for track in tracks:
        for frame, box in track_regions(track, config, frames).items():
            regions[frame].append(box)
    return {f: tuple(b) for f, b in regions.items()}


def plan(tracks: MediaTracks, registry: Registry, policy: PolicyConfig, config: TrackerConfig) -> MediaPlan:
    """Decisions for every track of an input; the public copy destroys every face, a restricted copy all but one
    account's kept faces."""
    if tracks.failure is not None:
        return MediaPlan(tracks, (), {})
    decisions = tuple(decide(tracks.tracks, tracks.media, tracks.stream, registry, policy))
    frames = tracks.stream.frames
    accounts = sorted({d.account_id for d in decisions if d.action is Action.KEEP})
    restricted = {
        account: _regions(
            (t for t, d in zip(tracks.tracks, decisions) if not (d.action is Action.KEEP and d.account_id == account)),
            config,
            frames,
        )
        for account in accounts
    }
    return MediaPlan(tracks, decisions, _regions(tracks.tracks, config, frames), restricted)


class _DecideFn(beam.DoFn):
    """Plan one input's tracks; with ``ledger`` (output root, key store), accounts cancelled since the job started
    keep nothing either."""

    def __init__(self, registry: Registry, policy: PolicyConfig, config: TrackerConfig, ledger: tuple[str, str] | None):
        self._registry, self._policy, self._config, self._ledger = registry, policy, config, ledger

    def process(self, tracks: MediaTracks):
        registry = without_cancelled(self._registry, *self._ledger) if self._ledger else self._registry
        yield plan(tracks, registry, self._policy, self._config)


class ApplyPolicy(Stage):
    """Give every face track a decision with a reason code; the decisions become per-frame regions per copy.

    Reads ``tracks``, writes ``plans``. With ``ledger`` (output root and key store), the ledger's cancellations are
    looked up again for each input: a streaming job runs for days while account events land.
    """

    def __init__(
        self, registry: Registry, policy: PolicyConfig, config: TrackerConfig, ledger: tuple[str, str] | None = None
    ):
        super().__init__(
            Step("Decide Per Track", _DecideFn(registry, policy, config, ledger), ("tracks",), "plans", guarded=False)
        )


def without_cancelled(registry: Registry, output: str, keystore: str) -> Registry:
    """The registry less the consents of accounts whose cancellation the ledger under ``output`` records, so no
    run keeps (or makes a new key for) a face of a cancelled account, even while its sessions are still listed."""
    tokens = {
        e.subject_token
        for name, data in read_ledger(output)
        for e in from_lines(data, name)
        if e.action == LedgerAction.DESTROY_KEY.value and e.subject_token
    }
    if not tokens:
        return registry
    secret = subject_secret(open_keystore(keystore))
    return revoke(
        registry, {c.account_id for c in registry.consents.values() if subject_token(c.account_id, secret) in tokens}
    )
