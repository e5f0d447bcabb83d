"""Use case: rotate the master key (``rujukan keys rotate``) on a live system.

1. A new wrapping key becomes active in the key file, beside the old ones; every process reading the file
   wraps new subject keys under it within a second (see ``MasterKey.keyring``).
2. After a grace of a few seconds, every subject key not yet under the new key is re-wrapped, in batches,
   until a pass finds none (a subject made meanwhile by a process that had not switched is caught by the
   next pass). Subjects from before per-controller scoping get their person link while their NIK is open.
3. The old keys are removed from the file: an old copy of the key file, with an old backup, opens nothing
   wrapped since. The purpose keys (NIK index, fingerprints, aliases) stay, so lookups still match.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from rujukan.core.keyring import Keyring, KeyringError
from rujukan.core.sealing import DataKey, wrapped_key_id
from rujukan.referral.context import ReferralContext
from rujukan.referral.models import Referral, Subject

GRACE_S = 2.0
BATCH = 500


@dataclass(frozen=True, slots=True)
class Rotation:
    active: str
    retired: list[str]
    rewrapped: int


def rotate_keys(ctx: ReferralContext, *, key_file: Path, grace_s: float = GRACE_S) -> Rotation:
    if not key_file.exists():
        raise KeyringError("rotation needs the keyring in a key file (RUJUKAN_MASTER_KEY_FILE), not a variable")
    before = Keyring.read(key_file)
    rotated = before.rotated()
    rotated.write(key_file)
    time.sleep(grace_s)
    rewrapped = 0
    while True:
        done = _rewrap_pass(ctx, rotated)
        rewrapped += done
        if done == 0:
            break
    rotated.retired().write(key_file)
    return Rotation(active=rotated.active, retired=sorted(set(before.wrapping) - {rotated.active}), rewrapped=rewrapped)


def _rewrap_pass(ctx: ReferralContext, target: Keyring) -> int:
    """Re-wrap every subject key not under ``target``'s active key; how many were."""
    done, after = 0, ""
    while True:
        with ctx.transaction() as session:
            query = (
                select(Subject)
                .where(col(Subject.wrapped_key).is_not(None), Subject.id > after)
                .order_by(col(Subject.id))
                .limit(BATCH)
            )
            subjects = list(session.exec(query.with_for_update()).all())
            for subject in subjects:
                wrapped = subject.wrapped_key or b""
                if wrapped_key_id(wrapped) == target.active:
                    continue
                data_key = ctx.master_key.unwrap_bytes(wrapped, subject.id)
                subject.wrapped_key = ctx.master_key.wrap(data_key, subject.id, keyring=target)
                if subject.person_index is None:
                    subject.person_index = _person_link(ctx, session, subject.id, DataKey(data_key))
                session.add(subject)
                done += 1
        if len(subjects) < BATCH:
            return done
        after = subjects[-1].id


def _person_link(ctx: ReferralContext, session: Session, subject_id: str, key: DataKey) -> str | None:
    """The person link of a subject made before it had one, from the NIK sealed in its first referral."""
    referral = session.exec(select(Referral).where(Referral.subject_id == subject_id).limit(1)).first()
    if referral is None:
        return None
    identity = key.open(referral.sealed_subject, subject_id=subject_id, referral_id=referral.id, field="subject")
    nik = json.loads(identity).get("nik")
    return ctx.master_key.person_index(str(nik)) if nik else None
