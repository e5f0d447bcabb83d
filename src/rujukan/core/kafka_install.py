"""Apache Kafka's jars on this machine: the version pinned in ``deploy/kafka/pom.xml``, fetched by Maven.

``install`` runs Maven on the pom (the one place the version is pinned), which copies the broker's runtime
jars into the Kafka home (``RUJUKAN_KAFKA_HOME``, default ``~/.cache/rujukan/kafka-<version>``). Java 17 or
newer runs them; without Java or Maven the error says which is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from rujukan.core.errors import BrokerError

JAVA_MIN = 17


def deploy_dir() -> Path:
    """deploy/kafka of this installation: packaged in a wheel, or the checkout's own in development."""
    packaged = Path(__file__).with_name("kafka_deploy")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "deploy" / "kafka"


def pinned_version() -> str:
    """The Apache Kafka version pinned in deploy/kafka/pom.xml."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    # our own packaged pom.xml, not input: no XML attack to defend against
    found = ElementTree.parse(deploy_dir() / "pom.xml").find("m:properties/m:kafka.version", namespace)  # noqa: S314  # nosec B314
    if found is None or not found.text:
        raise BrokerError("deploy/kafka/pom.xml pins no kafka.version")
    return found.text.strip()


def kafka_home() -> Path:
    configured = os.environ.get("RUJUKAN_KAFKA_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "rujukan" / f"kafka-{pinned_version()}"


def _main_jar(home: Path) -> Path:
    return home / "libs" / f"kafka_2.13-{pinned_version()}.jar"


def is_installed(home: Path | None = None) -> bool:
    return _main_jar(home or kafka_home()).is_file()


def java_major() -> int | None:
    """The major version of the ``java`` on the PATH, or None when there is none."""
    java = shutil.which("java")
    if java is None:
        return None
    shown = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown.stderr + shown.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> None:
    major = java_major()
    if major is None:
        raise BrokerError(f"Apache Kafka needs Java {JAVA_MIN} or newer, and no java is on the PATH")
    if major < JAVA_MIN:
        raise BrokerError(f"Apache Kafka needs Java {JAVA_MIN} or newer; the java on the PATH is {major}")


def install(home: Path | None = None) -> Path:
    """Fetch the pinned jars with Maven into ``home`` (default :func:`kafka_home`); the home. Idempotent."""
    home = (home or kafka_home()).expanduser().resolve()
    require_java()
    if is_installed(home):
        return home
    maven = shutil.which("mvn")
    if maven is None:
        raise BrokerError("fetching Apache Kafka needs Maven (mvn), and none is on the PATH")
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rujukan-kafka-install-") as scratch:
        shutil.copy(deploy_dir() / "pom.xml", Path(scratch) / "pom.xml")
        done = subprocess.run(  # noqa: S603 - fixed program and arguments, no shell
            [maven, "-q", "-B", "-f", str(Path(scratch) / "pom.xml"), f"-Dkafka.home={home}", "package"],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0 or not is_installed(home):
        (home / "install.log").write_text(done.stdout + done.stderr)
        raise BrokerError(f"Maven could not fetch Apache Kafka {pinned_version()} (log: {home / 'install.log'})")
    return home
