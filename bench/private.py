"""A private deployment for the load bench: its own Kafka and store, selection and teaching.

`bench.load --private` measures the command path without `ganxun up` (no Keycloak, no demo,
nobody else's services on the same store): a private Kafka (KRaft, SASL) and FerretDB
(PostgreSQL backend) in a temporary folder (bench/scale.py's `Servers`; KAFKA_BOOTSTRAP_SERVERS
and MONGODB_URI if set), then selection and teaching laid out as `ganxun up` lays them out
(deploy/local/layout.py: --api-processes API processes per service behind one port, and
one process with the relay, the projectors and the workers), and a registry of --cadres
imported through selection's own API so the bench has cadres to nominate.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from bench.common import wait_ready
from bench.scale import COUNTY, Servers, people, registry_csv
from deploy.local import layout
from deploy.local.process import REPO_ROOT, free_port
from shared.auth import ensure_dev_keys, issue_token

SERVICES = ("selection", "teaching")
WHO = re.compile(r"ferretdb|postgres|java|services\.[a-z]+")
TICKS = float(os.sysconf("SC_CLK_TCK"))


class PrivateDeployment:
    def __init__(self, api_processes: int = 1, cadres: int = 2_000, log_dir: Path | None = None) -> None:
        self.api_processes = api_processes
        self.cadres = cadres
        self.servers = Servers()
        self.state = Path(tempfile.mkdtemp(prefix="bench-load-state-"))
        self.log_dir = log_dir
        self.ports = {name: free_port() for name in SERVICES}
        self.procs: dict[str, list[subprocess.Popen]] = {}
        self.county = COUNTY

    @property
    def key(self) -> bytes:
        return ensure_dev_keys(self.state / "keys")[0]

    def env(self, service: str) -> dict[str, str]:
        # GANXUN_ENV=dev: the services check tokens with the development keys of self.state.
        return {
            **os.environ,
            **self.servers.bus,
            "GANXUN_ENV": "dev",
            "GANXUN_STATE_DIR": str(self.state),
            "GANXUN_KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            "GANXUN_MONGODB_URI": self.servers.uri,
            "GANXUN_JURISDICTIONS": COUNTY,
            "GANXUN_DATABASE": f"bench_load_{service}_{os.getpid()}",
            "GANXUN_VAULT_DATABASE": f"bench_load_vault_{os.getpid()}",
            "GANXUN_SELECTION_CADRE_ID_SECRET": "bench-load-" + "0" * 53,
        }

    def __enter__(self) -> PrivateDeployment:
        self.servers.__enter__()
        ensure_dev_keys(self.state / "keys")
        for name in SERVICES:
            self.procs[name] = [
                subprocess.Popen(
                    argv,
                    cwd=REPO_ROOT,
                    env=self.env(name),
                    stdout=self._log(f"{name}-{n}"),
                    stderr=subprocess.STDOUT,
                )
                for n, argv in enumerate(
                    layout.argvs(name, self.ports[name], self.api_processes, sys.executable)
                )
            ]
        return self

    def _log(self, name: str):
        if self.log_dir is None:
            return subprocess.DEVNULL
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it

    async def ready(self) -> None:
        for name in SERVICES:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ports[name]}") as c:
                await wait_ready(c, self.procs[name][0], f"{name} 服务未能启动")
        if self.cadres:
            await self.registry()

    async def registry(self) -> None:
        """The county's registry, imported in one CSV through selection's API."""
        tok = issue_token(
            self.key, user_id="bench", name="县委组织部", role="org_department", jurisdiction=COUNTY
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports['selection']}",
            headers={"Authorization": f"Bearer {tok}"},
            timeout=600,
        ) as c:
            rows = people(self.cadres, random.Random(16))
            r = await c.post("/cadres/import", files={"file": ("名册.csv", registry_csv(rows), "text/csv")})
            r.raise_for_status()
            while (await c.get("/cadres", params={"size": 1})).json()["total"] < len(rows):
                await _pause()
        print(f"私有部署：县 {COUNTY}，名册 {len(rows):,} 人，每个服务 {self.api_processes} 个接口进程")

    def cpu(self) -> Counter:
        """CPU-seconds so far of this deployment's processes (this bench's descendants only:
        the machine is shared), by what they are: each service, the store, Kafka."""
        return cpu_of_descendants(os.getpid())

    def store_transactions(self) -> int | None:
        """PostgreSQL transactions so far under the private FerretDB (one or more per store
        operation): how many store round trips the deployment made. None on other stores."""
        from deploy.local.ferretdb import FerretDBServer

        for srv in self.servers.started:
            if isinstance(srv, FerretDBServer) and srv.backend == "postgresql":
                sql = "select sum(xact_commit + xact_rollback) from pg_stat_database"
                return int(srv._postgres().psql(sql).strip())
        return None

    def pids(self) -> dict[str, list[int]]:
        return {name: [p.pid for p in procs] for name, procs in self.procs.items()}

    def __exit__(self, *exc) -> None:
        for procs in self.procs.values():
            for p in procs:
                p.terminate()
        for procs in self.procs.values():
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.servers.__exit__(*exc)


def cpu_of_descendants(root: int) -> Counter:
    parents: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(proc.name)] = int(fields[1])
        m = WHO.search(cmdline)
        if m:
            name = {"java": "kafka"}.get(m.group(0), m.group(0).removeprefix("services."))
            stats[int(proc.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    out: Counter = Counter()
    for pid, (name, seconds) in stats.items():
        up = pid
        while up in parents and up != root:
            up = parents[up]
        if up == root:
            out[name] += seconds
    return out


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.5)
