"""Settings of the referral service (``RUJUKAN_*`` environment variables on top of the core settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr

from rujukan.core.sealing import MasterKey
from rujukan.core.settings import CoreSettings
from rujukan.core.signatures import SigningKeyError, SigningKeys


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
    signing_key: SecretStr | None = Field(
        default=None, description="Base64 of the 32-byte secret of the signing keys (events and checkpoints)."
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="The signing key file: in production outside the data dir, and it must exist. Default: "
        "signing.key in the data dir, created on the first start of an empty data dir.",
    )
    log_origin: str = Field(
        default="rujukan.local/referral-log",
        min_length=1,
        max_length=200,
        pattern=r"^[^\s+]+$",
        description="The transparency log's origin line and its checkpoint key's name: this deployment's host "
        "name and a path, such as rujukan.kemensos.go.id/log.",
    )
    checkpoint_interval_s: float = Field(
        default=5.0, gt=0, le=10, description="Seconds between signed checkpoints while events flow."
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

    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.data_dir / "signing.key"

    def load_signing_keys(self, *, create: bool = True) -> SigningKeys:
        """The event and checkpoint keys. A configured key file must exist; the default one is made on first
        use (a data dir from before signatures gets one, and its events are signed once at that start). A
        lost key cannot be replaced unnoticed: the log records its key, and a service with another refuses
        to start (``rujukan.referral.transparency.adopt_log``)."""
        if self.signing_key is not None:
            return SigningKeys.parse(self.signing_key.get_secret_value(), self.log_origin)
        path = self.signing_key_path()
        if path.exists() or not create or self.signing_key_file is not None:
            return SigningKeys.read(path, self.log_origin)
        try:
            return SigningKeys.create(path, self.log_origin)
        except SigningKeyError:  # another process made it first
            return SigningKeys.read(path, self.log_origin)
