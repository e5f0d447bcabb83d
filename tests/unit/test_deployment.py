"""The production deployment files, checked without a Docker engine: docker-compose.yml against the
Compose Specification schema, every service command against the CLI, every RUJUKAN_* variable against
the settings, and the Dockerfile's basic hygiene."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from jsonschema import Draft7Validator
from prometheus_client import Counter, Gauge, Histogram

from rujukan.cli.main import app
from rujukan.core import metrics
from rujukan.core.kafka.topics import TOPIC_CONFIGS, rujukan_topics
from rujukan.core.kafka_install import pinned_version
from rujukan.core.kafka_settings import BROKER_SETTINGS, replication_settings, topic_replication
from rujukan.core.settings import CoreSettings, KafkaTopics
from rujukan.notifier.settings import NotifierSettings
from rujukan.referral.settings import ReferralSettings
from rujukan.tracker.settings import TrackerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
VARIABLE = re.compile(r"(?<![A-Z0-9_])RUJUKAN_[A-Z0-9_]+")


def known_variables() -> set[str]:
    """Every RUJUKAN_* name the code reads: settings fields and aliases, nested topics, CLI envvars and
    direct environment reads."""
    names: set[str] = set()
    for settings in (ReferralSettings, TrackerSettings, NotifierSettings):
        for name, field in settings.model_fields.items():
            if name == "topics":
                continue  # nested: RUJUKAN_TOPICS__...
            names.add(f"RUJUKAN_{name.upper()}")
            choices = getattr(field.validation_alias, "choices", [])
            names |= {c for c in choices if isinstance(c, str) and c.startswith("RUJUKAN_")}
    names |= {f"RUJUKAN_TOPICS__{name.upper()}" for name in KafkaTopics.model_fields}
    for command in _commands(typer.main.get_command(app)):
        for param in command.params:
            envvars = param.envvar if isinstance(param.envvar, list) else [param.envvar]
            names |= {e for e in envvars if isinstance(e, str)}
    for source in [*(ROOT / "src").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        names |= set(re.findall(r'environ(?:\.get)?\(\s*"(RUJUKAN_[A-Z0-9_]+)"', source.read_text()))
    return names


def _commands(command: Any) -> list[Any]:
    if _is_group(command):
        return [c for sub in command.commands.values() for c in _commands(sub)]
    return [command]


def _is_group(command: Any) -> bool:
    """Typer's groups (typer.core, over the click it vendors) are not ``click.Group`` instances."""
    return hasattr(command, "commands")


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors] == []


def rujukan_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in COMPOSE["services"].items() if "rujukan" in str(s.get("image", ""))}


def test_every_service_command_is_a_cli_command_with_its_options() -> None:
    services = rujukan_services()
    assert set(services) == {"migrate", "referral", "relay", "tracker", "notifier"}
    root = typer.main.get_command(app)
    for name, service in services.items():
        words = service["command"] if isinstance(service["command"], list) else shlex.split(service["command"])
        command: Any = root
        while _is_group(command) and words and not words[0].startswith("-"):
            found = command.commands.get(words[0])
            assert found is not None, f"{name}: no command {words[0]}"
            command, words = found, words[1:]
        assert not _is_group(command), f"{name}: {service['command']} is not a whole command"
        options = {o for p in command.params for o in p.opts}
        given = [w for w in words if w.startswith("--")]
        assert set(given) <= options, f"{name}: unknown options {set(given) - options}"


def test_every_rujukan_variable_in_compose_and_env_example_exists() -> None:
    known = known_variables()
    used = set(VARIABLE.findall(yaml.safe_dump(COMPOSE))) | set(VARIABLE.findall(ENV_EXAMPLE))
    assert used - known == set()


def test_the_env_example_lists_every_setting() -> None:
    listed = set(VARIABLE.findall(ENV_EXAMPLE))
    # RUJUKAN_KAFKA_HOME: where `rujukan kafka install` puts local Kafka jars; compose runs its own image.
    unlisted = known_variables() - listed - {"RUJUKAN_DATABASE_URL", "RUJUKAN_SCHEMAS_DIR", "RUJUKAN_KAFKA_HOME"}
    assert unlisted == set()


def test_compose_has_healthchecks_volumes_and_no_inline_secrets() -> None:
    services = COMPOSE["services"]
    for name in ("kafka", "postgres", "referral", "tracker", "notifier"):
        assert "healthcheck" in services[name], name
    assert {"kafka-data", "postgres-data"} <= set(COMPOSE["volumes"])
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text() or "controller" in str(services["kafka"])
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD" in text  # from .env, never written here
    assert COMPOSE["secrets"]["master_key"]["file"] == "./secrets/master.key"


@pytest.mark.parametrize("rule", ["slim", "user", "entrypoint"])
def test_the_dockerfile_is_slim_pinned_and_non_root(rule: str) -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    if rule == "slim":
        assert bases
        assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", b) for b in bases)
    elif rule == "user":
        users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
        assert users
        assert not users[-1].startswith(("0", "root"))
    else:
        assert 'ENTRYPOINT ["rujukan"]' in text


def _compose_kafka_settings(service: dict[str, Any]) -> dict[str, str]:
    """The apache/kafka image turns ``KAFKA_X_Y`` into the broker setting ``x.y``."""
    environment = service["environment"]
    return {k.removeprefix("KAFKA_").lower().replace("_", "."): str(v) for k, v in environment.items()}


def test_the_compose_kafka_is_the_tested_version_with_the_tested_broker_settings() -> None:
    tested = {**BROKER_SETTINGS, **replication_settings(1)}  # what every tested node runs with (one node)
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{pinned_version()}"
    assert COMPOSE["services"]["topics"]["image"] == kafka["image"]
    settings = _compose_kafka_settings(kafka)
    assert {key: settings.get(key) for key in tested} == tested


def test_the_compose_topics_job_creates_topics_as_rujukan_does() -> None:
    script = COMPOSE["services"]["topics"]["command"][0]
    for key, value in TOPIC_CONFIGS.items():
        assert f"--config {key}={value}" in script
    assert 'min.insync.replicas="$${RUJUKAN_TOPICS__MIN_INSYNC_REPLICAS}"' in script
    assert '--replication-factor "$${RUJUKAN_TOPICS__REPLICATION_FACTOR}"' in script
    created = set(re.findall(r"rujukan\.[a-z.]+\.v1", script))
    assert created == set(rujukan_topics(CoreSettings(_env_file=None)))  # type: ignore[call-arg]


def test_a_three_node_cluster_replicates_three_times_with_two_in_sync() -> None:
    assert replication_settings(3)["min.insync.replicas"] == "2"
    assert topic_replication(3) == (3, 2)
    assert topic_replication(1) == (1, 1)


def test_the_monitoring_files_name_only_metrics_that_exist_and_the_compose_ports() -> None:
    monitoring = ROOT / "deploy" / "monitoring"
    exported = {metric._name for metric in vars(metrics).values() if isinstance(metric, Counter | Gauge | Histogram)}
    exported |= {f"{name}_total" for name in exported}  # counters are exposed with _total
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((monitoring / "rules.yml").read_text())
    expressions += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for e in expressions for n in re.findall(r"rujukan_[a-z_]+", e)}
    assert used
    assert used <= exported, used - exported
    scrape = yaml.safe_load((monitoring / "prometheus.yml").read_text())
    targets = {t for c in scrape["scrape_configs"] for s in c["static_configs"] for t in s["targets"]}
    served = {f"{name}:{COMPOSE['services'][name]['command'][-1]}" for name in ("referral", "tracker", "notifier")}
    assert targets == served


def test_every_service_waits_for_the_migration_and_it_for_the_database() -> None:
    services = rujukan_services()
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
