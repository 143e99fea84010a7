"""The anonymize job's settings from its options: the configs of the stages, the hash of what changes an output,
the registries and manifest it reads, and the protective measures its report records. Shared by the batch and
streaming jobs, and by ``veil validate``, which reports on a run from the options it recorded."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from apache_beam.io.filesystems import FileSystems

from pipelines.options import AnonymizeOptions, config_of
from schemas import tables
from schemas.codes import PRIVATE_LOCATIONS, MediaStatus, Purpose
from schemas.registries import Registry
from transforms.logic.identity import parse_manifest
from transforms.logic.policy import PolicyConfig
from transforms.logic.registry import load_registry
from transforms.logic.scanning import DetectorConfig
from transforms.logic.tracking import TrackerConfig
from transforms.services import layout, storage
from transforms.services.keystore import open_keystore, subject_secret
from transforms.services.table_files import read_table


def settings_of(opts: AnonymizeOptions, registry_digest: str) -> dict:
    """The options that change what an output looks like; their hash decides whether a re-run may skip an input."""
    policy = policy_config(opts)
    return {
        "registries": registry_digest,
        "zone_share": policy.zone_share,
        "private_categories": sorted(policy.private_categories),
        "redact": opts.redact,
        "detector": repr(dataclasses.replace(detector_config(opts), threads=1)),
        "crf": opts.crf,
        "preset": opts.preset,
        "keep_audio": opts.keep_audio,
        "image_fps": opts.image_fps,
        "tracker": repr(tracker_config(opts)),
    }


def settings_hash(opts: AnonymizeOptions, registry_digest: str) -> str:
    return hashlib.sha256(json.dumps(settings_of(opts, registry_digest), sort_keys=True).encode()).hexdigest()[:16]


def policy_config(opts: AnonymizeOptions) -> PolicyConfig:
    extra = {c.strip() for c in opts.private_categories.split(",") if c.strip()}
    return config_of(PolicyConfig, "policy", opts, private_categories=PRIVATE_LOCATIONS | extra)


def measures(opts: AnonymizeOptions) -> dict:
    """The protective measures a run had in force, for its report (Article 15)."""
    keystore = layout.keystore_of(opts.output, opts.keystore)
    policy = policy_config(opts)
    return {
        "redaction_mode": opts.redact,
        "encryption": "AES-256-GCM, one data key per account",
        "keystore": keystore,
        "keystore_beside_data": storage.contains(opts.output, keystore),
        "leak_audit_rate": opts.audit_rate,
        "zone_share": policy.zone_share,
        "private_categories": sorted(policy.private_categories),
        "audio_kept": opts.keep_audio,
    }


def _read(uri: str | None) -> tuple[str, bytes] | None:
    if not uri:
        return None
    with FileSystems.open(uri) as handle:
        return uri, handle.read()


def load_registries(opts: AnonymizeOptions) -> tuple[Registry, str]:
    """The run's registries, and a digest of their bytes (a changed registry re-processes every input)."""
    files = [_read(opts.cameras), _read(opts.sessions), _read(opts.consents)]
    digest = hashlib.sha256()
    for found in files:
        digest.update(hashlib.sha256(found[1]).digest() if found else b"-")
    return load_registry(*files), digest.hexdigest()[:16]


def prepare_keys(registry: Registry, keystore: str) -> None:
    """Create the data keys of every account a session may keep a face for, and the secret of subject tokens,
    before any worker needs one.

    Created here, in the launching process, so workers only read the key store and never race to write it.
    """
    accounts = {
        s.account_id
        for s in registry.sessions
        if s.consent_id in registry.consents
        and getattr(registry.cameras.get(s.camera_id), "purpose", None) is Purpose.SERVICE
    }
    if accounts:
        store = open_keystore(keystore)
        subject_secret(store)
        for account in sorted(accounts):
            store.key_for(account)


def load_manifest(uri: str | None) -> dict:
    if not uri:
        return {}
    with FileSystems.open(uri) as handle:
        return parse_manifest(handle.read().decode("utf-8-sig"), uri)


def done_inputs(output: str, force: bool) -> frozenset:
    """(input_uri, sha256, settings_hash) of inputs earlier runs anonymized, unless --force."""
    media = None if force else read_table(output, "media")
    if media is None:
        return frozenset()
    rows = media.filter(media.column("status").to_numpy(zero_copy_only=False) == MediaStatus.ANONYMIZED.value)
    return frozenset(zip(*(rows.column(c).to_pylist() for c in tables.DONE_KEY)))


def detector_config(opts: AnonymizeOptions, threads: int = 1) -> DetectorConfig:
    return config_of(DetectorConfig, "detector", opts, threads=threads)


def tracker_config(opts: AnonymizeOptions) -> TrackerConfig:
    """The tracker, its cover reaching over the frames between two looks for heads (the sparser scan)."""
    return TrackerConfig().covering(detector_config(opts).head_stride)
