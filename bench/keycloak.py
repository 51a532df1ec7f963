"""Keycloak's start time and memory on this machine: `python -m bench.keycloak`.

Starts the local Keycloak (deploy/local/keycloak.py) in a temporary folder with its own
PostgreSQL cluster: a first start (empty database, realm import) and a restart on the
same data, each until the realm's OIDC discovery and JWKS answer; prints the seconds and
the resident memory of Keycloak's JVM after each.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from deploy.local.keycloak import KeycloakServer, provision


def _rss_mb(pid: int) -> float:
    """The JVM's RSS: kc.sh execs java, or runs it as its child."""
    pids = [str(pid)] + subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    out = subprocess.run(["ps", "-o", "rss=", "-p", ",".join(pids)], capture_output=True, text=True).stdout
    return max(int(x) for x in out.split()) / 1024


def main() -> None:
    provision()
    with tempfile.TemporaryDirectory(prefix="bench-keycloak-") as folder:
        server = KeycloakServer(Path(folder))
        try:
            for label in ("首次启动（空库，导入领域）first start", "重启（已有数据）restart"):
                started = time.monotonic()
                server.start()
                seconds = time.monotonic() - started
                print(f"{label}: {seconds:.1f} s, RSS {_rss_mb(server.proc.pid()):.0f} MB", flush=True)
                server.proc.stop(timeout=30)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
