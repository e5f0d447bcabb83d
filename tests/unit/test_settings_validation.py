"""Settings are validated types, refused at start with one line: a bad value never reaches a loop."""

from __future__ import annotations

import datetime as dt
from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rujukan.cli.main import app
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.settings import TrackerSettings

RUNNER = CliRunner()


def test_webhook_networks_are_networks() -> None:
    settings = NotifierSettings(_env_file=None, webhook_allowed_networks=["127.0.0.0/8", "fd00::/8"])  # type: ignore[call-arg, list-item]
    assert settings.webhook_allowed_networks == [ip_network("127.0.0.0/8"), ip_network("fd00::/8")]
    with pytest.raises(ValidationError):
        NotifierSettings(_env_file=None, webhook_allowed_networks=["10.0.0.0/8", "intranet"])  # type: ignore[call-arg, list-item]


def test_a_partial_sla_setting_keeps_the_defaults_of_the_other_urgencies() -> None:
    settings = TrackerSettings(_env_file=None, sla_hours={"emergency": (2, 6)})  # type: ignore[call-arg]
    policy = settings.sla_policy()
    assert policy.limits("emergency", "legal_aid") == (dt.timedelta(hours=2), dt.timedelta(hours=6))
    assert policy.limits("urgent", "legal_aid") == (dt.timedelta(hours=24), dt.timedelta(hours=72))
    assert policy.limits("routine", "legal_aid") == (dt.timedelta(hours=72), dt.timedelta(hours=168))


def test_the_referral_service_and_the_tracker_read_the_same_sla_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The referral service writes the due times into its events; the tracker falls back to its own policy
    only for older events: one variable configures both."""
    monkeypatch.setenv("RUJUKAN_SLA_HOURS", '{"urgent": [2, 5]}')
    referral = ReferralSettings(_env_file=None).sla_policy()  # type: ignore[call-arg]
    tracker = TrackerSettings(_env_file=None).sla_policy()  # type: ignore[call-arg]
    assert referral == tracker
    assert referral.limits("urgent", "legal_aid") == (dt.timedelta(hours=2), dt.timedelta(hours=5))
    assert referral.limits("emergency", "legal_aid") == (dt.timedelta(hours=1), dt.timedelta(hours=4))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"immediately": (1, 2)}, "unknown urgency 'immediately'"),
        ({"urgent": (10, 5)}, "acknowledge <= respond"),
        ({"urgent": (0, 5)}, "must be positive"),
    ],
)
def test_impossible_sla_settings_are_refused(value: dict[str, tuple[float, float]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrackerSettings(_env_file=None, sla_hours=value)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("RUJUKAN_WEBHOOK_ALLOWED_NETWORKS", '["nonsense"]', ["notifier", "deliveries"]),
        ("RUJUKAN_SLA_HOURS", '{"urgent": [9, 1]}', ["tracker", "serve", "--port", "1"]),
    ],
)
def test_the_cli_refuses_an_invalid_setting_in_one_line(
    tmp_path: Path, variable: str, value: str, command: list[str]
) -> None:
    result = RUNNER.invoke(app, [*command, "--data-dir", str(tmp_path)], env={variable: value})
    assert result.exit_code == 1
    assert f"invalid setting: {variable}" in result.output
    assert "Traceback" not in result.output
    assert value not in result.output  # the value is not echoed (it may be a secret)
    assert len(result.output.strip().splitlines()) <= 2, result.output
