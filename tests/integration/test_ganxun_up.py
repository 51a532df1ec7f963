"""The README's main command: `ganxun up` brings up everything, `down` stops it all,
and the next `up` resumes with the data kept."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import httpx
import pytest

from deploy.local.process import REPO_ROOT, free_port, port_open

pytestmark = pytest.mark.integration
SERVICES = ("selection", "teaching", "records", "followup", "dashboard", "accounts", "reminders")


def _ganxun(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Three starts of everything (Keycloak's alone took up to 4 min at load 35): more than the
# suite's 10-minute default on a loaded machine.
@pytest.mark.timeout(1500)
# long: one story end to end against real servers; its steps share the state they build
def test_up_down_up_keeps_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"))}
    env["GANXUN_STATE_DIR"] = str(tmp_path / "state")
    ports = {name: free_port() for name in (*SERVICES, "workbench")}
    kafka_port, store_port, keycloak_port = free_port(), free_port(), free_port()
    up_args = [
        "up",
        "--detach",
        "--no-demo",
        "--kafka-port",
        str(kafka_port),
        "--store-port",
        str(store_port),
        "--keycloak-port",
        str(keycloak_port),
        *[a for name, p in ports.items() for a in ("--port", f"{name}={p}")],
    ]

    def token(role: str, name: str) -> str:
        return _ganxun(
            env, "token", "--role", role, "--jurisdiction", "371428", "--name", name
        ).stdout.strip()

    try:
        first = _ganxun(env, *up_args, timeout=600)
        assert first.returncode == 0, first.stderr
        assert "全部就绪" in first.stdout and f"127.0.0.1:{ports['teaching']}/docs" in first.stdout
        assert f"工作台     http://127.0.0.1:{ports['workbench']}/" in first.stdout
        realm = f"http://127.0.0.1:{keycloak_port}/realms/ganxun/.well-known/openid-configuration"
        assert httpx.get(realm).json()["issuer"].endswith(f":{keycloak_port}/realms/ganxun")  # logins ready
        for p in ports.values():
            assert httpx.get(f"http://127.0.0.1:{p}/readyz").json()["ready"] is True

        # Killed, they come back on their own (the supervisor `up --detach` left running),
        # each under a new pid, and a second `up` sees them alive (no stale or zombie pid).
        state = tmp_path / "state"
        for victim, pid_file, port in (
            ("records", state / "services" / "records.pid", ports["records"]),
            ("store", state / "store" / "ferretdb.pid", store_port),
        ):
            old = int(pid_file.read_text().split()[0])
            os.kill(old, signal.SIGKILL)
            killed = time.monotonic()
            while time.monotonic() - killed < 60:
                now = pid_file.read_text().split() if pid_file.exists() else []  # rewritten on restart
                if now and int(now[0]) != old and port_open("127.0.0.1", port):
                    break
                time.sleep(0.1)
            back = time.monotonic() - killed
            assert back < 60, f"{victim} not restarted"
            print(f"{victim} back in {back:.1f} s")
        for _ in range(300):
            if httpx.get(f"http://127.0.0.1:{ports['records']}/readyz").status_code == 200:
                break
            time.sleep(0.2)
        for _ in range(300):
            log = (state / "supervisor.log").read_text()
            if "存储 FerretDB 已重启" in log:
                break
            time.sleep(0.2)
        assert (
            "服务 records 已停止运行" in log
            and "服务 records 已重启" in log
            and "存储 FerretDB 已重启" in log
        )
        again = _ganxun(env, *up_args)
        assert again.returncode == 0, again.stderr

        sel, tea = f"http://127.0.0.1:{ports['selection']}", f"http://127.0.0.1:{ports['teaching']}"
        start = date.today() + timedelta(days=30)
        r = httpx.post(
            f"{sel}/classes",
            headers={"Authorization": f"Bearer {token('org_department', '李科长')}"},
            json={
                "class_id": "up-1",
                "title": "乡镇党委书记培训班",
                "capacity": 20,
                "starts_on": str(start),
                "ends_on": str(start + timedelta(days=5)),
            },
        )
        assert r.status_code == 201, r.text
        dept = {"Authorization": f"Bearer {token('org_department', '李科长')}"}
        r = httpx.post(
            f"{sel}/cadres",
            headers=dept,
            json={"name": "赵敏", "id_number": "11010519491231002X", "unit": "甲马营乡", "rank": "副科"},
        )
        assert r.status_code == 201, r.text
        cadre_id = r.json()["cadre_id"]
        for _ in range(150):
            if httpx.get(f"{sel}/cadres/{cadre_id}", headers=dept).status_code == 200:
                break
            time.sleep(0.2)
        r = httpx.post(f"{sel}/classes/up-1/scope", headers=dept, json={"ranks": ["副科"]})
        assert r.status_code == 201, r.text
        clerk = _ganxun(
            env,
            "token",
            "--role",
            "unit",
            "--jurisdiction",
            "371428",
            "--name",
            "王主任",
            "--unit",
            "甲马营乡",
        ).stdout.strip()
        r = httpx.post(
            f"{sel}/classes/up-1/nominations",
            headers={"Authorization": f"Bearer {clerk}"},
            json={"cadre_id": cadre_id},
        )
        assert r.status_code == 201, r.text
        r = httpx.post(f"{sel}/classes/up-1/nominations/{cadre_id}/confirm", headers=dept)
        assert r.status_code == 201 and r.json()["events"] == ["NominationConfirmed"], r.text
        reader = {"Authorization": f"Bearer {token('party_school', '刘老师')}"}

        def roster():
            for _ in range(150):
                resp = httpx.get(f"{tea}/classes/up-1/roster", headers=reader)
                if resp.status_code == 200 and resp.json()["trainees"]:
                    return resp.json()
                time.sleep(0.2)
            raise AssertionError(resp.text)

        assert [t["name"] for t in roster()["trainees"]] == ["赵敏"]

        down = _ganxun(env, "down")
        assert down.returncode == 0, down.stderr
        stopped = (*ports.values(), kafka_port, store_port, keycloak_port)
        assert not any(port_open("127.0.0.1", p) for p in stopped)

        # The next start puts the bus under TLS (--kafka-tls): the services connect over
        # SASL_SSL with the cluster's CA, the data is kept, and a new command still reaches
        # its projection through Kafka.
        again = _ganxun(env, *up_args, "--kafka-tls", timeout=600)
        assert again.returncode == 0, again.stderr
        assert "TLS 加密" in again.stdout
        bus = json.loads((state / "services" / "up.json").read_text(encoding="utf-8"))["bus"]["selection"]
        assert bus["GANXUN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert bus["GANXUN_KAFKA_BOOTSTRAP_SERVERS"] != f"127.0.0.1:{kafka_port}"
        assert bus["GANXUN_KAFKA_CA_FILE"] == str(state / "kafka" / "tls" / "ca.pem")
        assert [t["name"] for t in roster()["trainees"]] == ["赵敏"], "data kept across down and up"
        r = httpx.post(
            f"{sel}/classes",
            headers=dept,
            json={"class_id": "up-tls", "title": "经 TLS 总线开设的培训班", "capacity": 10}
            | {"starts_on": str(start), "ends_on": str(start + timedelta(days=5))},
        )
        assert r.status_code == 201, r.text
        for _ in range(300):
            if httpx.get(f"{sel}/classes/up-tls", headers=dept).status_code == 200:
                break
            time.sleep(0.2)
        assert httpx.get(f"{sel}/classes/up-tls", headers=dept).json()["title"] == "经 TLS 总线开设的培训班"
    finally:
        _ganxun(env, "down")
