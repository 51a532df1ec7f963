"""A real Keycloak for tests: the `identity` fixture's object (tests/conftest.py).

One Keycloak per test run, started only when a test asks for `identity`, with the
committed `ganxun` realm. Tests make users through Keycloak's admin API and log in with
the password grant on `ganxun-test`, a client this helper adds (the committed realm
has no client that allows the password grant: people log in through the workbench's
authorization-code flow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from deploy.local.keycloak import REALM, REALM_FILE, KeycloakServer

TEST_CLIENT = "ganxun-test"
DEFAULT_PASSWORD = "Test-Passw0rd"  # satisfies the realm's password policy


@dataclass
class Identity:
    server: KeycloakServer
    _admin: str | None = field(default=None, repr=False)

    # -- what tests and other fixtures read -------------------------------------

    @property
    def issuer(self) -> str:
        return self.server.issuer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def admin_user(self) -> str:
        return self.server.admin_user

    @property
    def admin_password(self) -> str:
        return self.server.admin_password

    @property
    def realm(self) -> str:
        return REALM

    @property
    def token_url(self) -> str:
        return self.server.token_url

    def accounts_client_secret(self) -> str:
        """The secret of the accounts service's confidential client (generated at import)."""
        return self.server.client_secret("ganxun-accounts")

    # -- admin API ------------------------------------------------------------------

    def admin(self) -> httpx.Client:
        """An httpx client on /admin/realms/ganxun with a fresh master-realm admin token."""
        return httpx.Client(
            base_url=f"{self.url}/admin/realms/{REALM}",
            timeout=60,
            headers={"Authorization": f"Bearer {self.server.admin_token()}"},
        )

    def ensure_test_client(self) -> None:
        mappers = next(
            c for c in json.loads(REALM_FILE.read_text())["clients"] if c["clientId"] == "ganxun-workbench"
        )["protocolMappers"]
        with self.admin() as c:
            if c.get("/clients", params={"clientId": TEST_CLIENT}).json():
                return
            r = c.post(
                "/clients",
                json={
                    "clientId": TEST_CLIENT,
                    "name": "tests only: password grant",
                    "publicClient": True,
                    "directAccessGrantsEnabled": True,
                    "standardFlowEnabled": False,
                    "protocolMappers": mappers,
                },
            )
            r.raise_for_status()

    def create_user(
        self,
        username: str,
        role: str,
        jurisdiction: str,
        *,
        unit: str | None = None,
        person_id: str | None = None,
        name: str = "测试用户",
        password: str = DEFAULT_PASSWORD,
    ) -> str:
        """A user with one ganxun role; returns Keycloak's user id."""
        attributes = {"jurisdiction": [jurisdiction]}
        if unit:
            attributes["unit"] = [unit]
        if person_id:
            attributes["person_id"] = [person_id]
        with self.admin() as c:
            r = c.post(
                "/users",
                json={
                    "username": username,
                    "enabled": True,
                    "firstName": name,
                    "attributes": attributes,
                    "credentials": [{"type": "password", "value": password, "temporary": False}],
                },
            )
            if r.status_code != 201:
                raise AssertionError(f"create user {username}: {r.status_code} {r.text}")
            user_id = r.headers["location"].rsplit("/", 1)[1]
            role_rep = c.get(f"/roles/{role}")
            role_rep.raise_for_status()
            c.post(f"/users/{user_id}/role-mappings/realm", json=[role_rep.json()]).raise_for_status()
        return user_id

    def login(self, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
        """The password grant's raw answer (tests of refused logins read its status)."""
        return httpx.post(
            self.token_url,
            timeout=30,
            data={
                "grant_type": "password",
                "client_id": TEST_CLIENT,
                "username": username,
                "password": password,
                "scope": "openid",
            },
        )

    def token(self, username: str, password: str = DEFAULT_PASSWORD) -> str:
        r = self.login(username, password)
        if r.status_code != 200:
            raise AssertionError(f"login {username}: {r.status_code} {r.text}")
        return r.json()["access_token"]

    def auth(self, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username, password)}"}


# A path each service answers any logged-in user of the county on: while it answers 401, the
# service has not yet fetched Keycloak's keys.
KEY_PROBES = {
    "selection": "/classes",
    "teaching": "/catalogue/{county}",
    "records": "/schemes/huzhou",
    "followup": "/questions",
    "reminders": "/notifications",
}


def services_of(
    identity: Identity, servers, county: str, folder, names, env: dict | None = None, more: dict | None = None
) -> dict:
    """The named services of one county, started as processes verifying Keycloak's tokens.
    `env` adds settings and `more` components (default: follow-up's scheduler, so milestones are
    planned), per service name."""
    from tests.support import ServiceProcess, settings

    more = {"followup": "scheduler"} if more is None else more
    procs = {}
    for name in names:
        components = ",".join(["api,relay,projectors", *([more[name]] if name in more else [])])
        extra = {"GANXUN_OIDC_ISSUER": identity.issuer, **(env or {}).get(name, {})}
        procs[name] = ServiceProcess(
            settings(name, servers, [county]), components=components, log=folder / f"{name}.log", env=extra
        ).start()
    return procs


def wait_for_keys(procs: dict, bearer: dict[str, str], county: str, seconds: float = 150) -> None:
    """Each service has fetched Keycloak's keys once it accepts a token (a failed fetch on a busy
    machine is retried at most once a minute: wait for it rather than fail on it)."""
    import time

    deadline = time.monotonic() + seconds
    for name, proc in procs.items():
        path = KEY_PROBES[name].format(county=county)
        while httpx.get(proc.url + path, headers=bearer, timeout=30).status_code == 401:
            assert time.monotonic() < deadline, f"{name} never accepted Keycloak's token"
            time.sleep(2)
