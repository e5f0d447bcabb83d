"""``rujukan audit public-key``, ``rujukan audit checkpoint``, and what ``audit replay`` needs to check the
transparency log: the public keys, a saved checkpoint, and the names of leaves (from the referral service's
record, when its database is at hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from rujukan.audit.log_check import LeafNames, SignedCheckpoint
from rujukan.cli.data_dir import DataDir, referral_context, referral_settings
from rujukan.cli.output import fail
from rujukan.core.db import make_engine
from rujukan.core.errors import RujukanError
from rujukan.core.signatures import PublicKeys, SigningKeyError
from rujukan.referral.checkpoints import latest_checkpoint
from rujukan.referral.transparency import leaf_names


def public_key_command(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also the event signing key (a second line), as a replay needs both.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the checkpoint key as a note verifier key (<name>+<key hash>+<base64 key>), for anyone who
    verifies checkpoints; with --all the event key too."""
    keys = _own_keys(data_dir)
    print(keys.log.text)
    if show_all:
        print(keys.events.text)


def checkpoint_command(data_dir: DataDir = None) -> None:
    """Print the newest signed checkpoint of the log (a C2SP signed note): save it, and later prove with
    `rujukan audit replay --checkpoint FILE` that the log only grew."""
    with referral_context(data_dir) as ctx:
        found = latest_checkpoint(ctx)
    if found is None:
        fail("the log has no checkpoint yet: one is signed within seconds of the first published event")
    print(found.note, end="")


def _own_keys(data_dir: Path | None) -> PublicKeys:
    try:
        return referral_settings(data_dir).load_signing_keys(create=False).public
    except SigningKeyError as exc:
        fail(str(exc))


def public_keys_of(data_dir: Path | None, given: list[str] | None) -> PublicKeys | None:
    if given:
        try:
            return PublicKeys.parse(given)
        except RujukanError as exc:
            fail(f"--public-key: {exc}")
    try:
        return referral_settings(data_dir).load_signing_keys(create=False).public
    except SigningKeyError:
        return None


def saved_checkpoint(path: Path | None) -> SignedCheckpoint | None:
    if path is None:
        return None
    try:
        return SignedCheckpoint(path.read_text(encoding="utf-8"), f"saved checkpoint {path.name}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the checkpoint {path}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}")


def leaf_names_of(data_dir: Path | None) -> LeafNames | None:
    """Names of missing leaves from the referral service's record of its leaves, read from its database
    when it is at hand (nothing is created or migrated; a database that cannot be read names nothing)."""
    settings = referral_settings(data_dir)
    if settings.referral_database_url is None and not (settings.data_dir / "referral.db").exists():
        return None

    def names(indexes: list[int]) -> dict[int, tuple[str, str]]:
        engine = make_engine(settings.database_url())
        try:
            return leaf_names(engine, indexes)
        except SQLAlchemyError:
            return {}
        finally:
            engine.dispose()

    return names
