"""Files ``rujukan up`` keeps in the data directory, and the embedded system's local defaults; shared by
``up``, ``demo`` and the commands that find a running system through ``--data-dir``."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from rujukan.notifier.settings import NotifierSettings

RUNNING = "running.json"
CREDENTIALS = "credentials.json"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
N = TypeVar("N", bound=NotifierSettings)


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only (created 0600, replaced atomically)."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    temporary.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def running_system(data_dir: Path) -> dict[str, Any] | None:
    """The addresses of the system ``rujukan up`` runs on this data dir, if it runs."""
    found = read_json(data_dir / RUNNING)
    pid = found.get("pid")
    if not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return found
    return found


def local_webhooks(settings: N) -> N:
    """On one machine local receivers are the norm: loopback and plain http are allowed, unless the
    operator configured the SSRF guard explicitly."""
    if "RUJUKAN_WEBHOOK_ALLOWED_NETWORKS" in os.environ:
        return settings
    return settings.model_copy(update={"webhook_allowed_networks": LOOPBACK, "webhook_allow_http": True})
