"""Settings of the referral service (``RUJUKAN_*`` environment variables on top of the core settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr

from rujukan.core.sealing import MasterKey
from rujukan.core.settings import CoreSettings


class ReferralSettings(CoreSettings):
    referral_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("referral_database_url", "RUJUKAN_REFERRAL_DATABASE_URL", "RUJUKAN_DATABASE_URL"),
        description="SQLAlchemy URL of the referral database (default: SQLite in the data dir). "
        "RUJUKAN_DATABASE_URL is accepted as well.",
    )
    master_key: SecretStr | None = Field(default=None, description="Base64 of the 32-byte master key.")
    master_key_file: Path | None = Field(
        default=None,
        description="The key file (keyring): in production outside the data dir, and it must exist. Default: "
        "master.key in the data dir, created on the first start of an empty data dir.",
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest request body accepted.")
    max_page_size: int = Field(default=200, ge=1, le=1000, description="Largest page a list returns.")
    relay_in_process: bool = Field(default=True, description="Run the outbox relay inside `referral serve`.")
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {"default": 1825},
        description="Days a subject's data is kept after its last referral closed, per subject category and "
        '"default", as JSON; then it is erased (unless held).',
    )
    idempotency_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, description="How long an Idempotency-Key is kept (creates and actions)."
    )

    def database_url(self) -> str:
        if self.referral_database_url:
            return self.referral_database_url
        return f"sqlite:///{(self.data_dir / 'referral.db').resolve()}"

    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    def load_master_key(self) -> MasterKey:
        """The keyring. A configured key file that is missing is an error, and so is a missing default one
        beside an existing database: a new key would open none of it (and erased-looking referrals would
        hide the mistake)."""
        if self.master_key is not None:
            return MasterKey.from_base64(self.master_key.get_secret_value())
        path = self.key_file()
        if self.master_key_file is not None or (self.data_dir / "referral.db").exists():
            return MasterKey.from_file(path)
        return MasterKey.load_or_create(path)
