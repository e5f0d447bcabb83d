"""``rujukan keys rotate``: a new master key for every subject key, the old ones retired."""

from __future__ import annotations

import typer

from rujukan.cli.data_dir import DataDir, referral_context, referral_settings
from rujukan.cli.output import err, fail
from rujukan.referral.keys import rotate_keys

keys_app = typer.Typer(help="The keyring: master keys and their rotation.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate(data_dir: DataDir = None) -> None:
    """Re-wrap every subject key under a new master key and retire the old one (safe on a live system:
    running services follow the key file). Back up the new key file; copies of the old one open nothing
    wrapped since."""
    settings = referral_settings(data_dir)
    if settings.master_key is not None:
        fail("the master key comes from RUJUKAN_MASTER_KEY: rotation rewrites a key file (RUJUKAN_MASTER_KEY_FILE)")
    err.print(f"rotating the master key in {settings.key_file()} ...", markup=False)
    with referral_context(data_dir) as ctx:
        done = rotate_keys(ctx, key_file=settings.key_file())
    err.print(
        f"{done.rewrapped} subject keys re-wrapped under key {done.active}; retired: {', '.join(done.retired) or '-'}",
        markup=False,
    )
