"""Settings of the notifier (``RUJUKAN_*`` environment variables on top of the core settings)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import AliasChoices, Field, IPvAnyNetwork

from rujukan.core.settings import CoreSettings
from rujukan.notifier.retry import RetryPolicy
from rujukan.notifier.secretbox import SecretBox


class NotifierSettings(CoreSettings):
    notifier_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("notifier_database_url", "RUJUKAN_NOTIFIER_DATABASE_URL"),
        description="SQLAlchemy URL of the notifier database (default: SQLite in the data dir).",
    )
    notifier_group_id: str = Field(default="rujukan-notifier-v1", description="Kafka consumer group.")
    referral_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the referral service, which vouches for agency credentials on the notifier API.",
    )
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='Non-public networks webhooks may go to, as JSON, e.g. ["127.0.0.0/8"] (SSRF guard); '
        "an entry that is not a network is refused at start.",
    )
    webhook_allow_http: bool = Field(default=False, description="Allow plain-http webhook URLs (tests, local demo).")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Timeout of one webhook attempt.")
    webhook_workers: int = Field(default=16, ge=1, le=256, description="Webhook attempts in flight in total.")
    webhook_max_in_flight: int = Field(
        default=4, ge=1, le=64, description="Webhook attempts in flight per subscription (a slow receiver's share)."
    )
    webhook_retry_hours: float = Field(default=72.0, ge=1, description="How long a delivery is retried.")
    webhook_first_retry_s: float = Field(default=30.0, gt=0, description="Delay before the first retry.")
    webhook_max_retry_s: float = Field(default=6 * 3600.0, gt=0, description="Longest delay between two retries.")
    notifier_key_file: Path | None = Field(
        default=None,
        description="Key that seals webhook secrets at rest (default: notifier.key in the data dir, made on the "
        "first start); a configured file that is missing is an error.",
    )
    secret_overlap_hours: float = Field(
        default=24.0, ge=0, le=24 * 30, description="How long a replaced webhook secret still signs deliveries."
    )

    def database_url(self) -> str:
        if self.notifier_database_url:
            return self.notifier_database_url
        return f"sqlite:///{(self.data_dir / 'notifier.db').resolve()}"

    def secret_box(self) -> SecretBox:
        if self.notifier_key_file is not None:
            return SecretBox.load(self.notifier_key_file, create=False)
        return SecretBox.load(self.data_dir / "notifier.key", create=True)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            window=dt.timedelta(hours=self.webhook_retry_hours),
            first_delay=dt.timedelta(seconds=self.webhook_first_retry_s),
            max_delay=dt.timedelta(seconds=self.webhook_max_retry_s),
        )

    def secret_overlap(self) -> dt.timedelta:
        return dt.timedelta(hours=self.secret_overlap_hours)
