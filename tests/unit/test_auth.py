import pytest

from shared.auth import Verifier, ensure_dev_keys, issue_token
from shared.errors import Forbidden, Unauthenticated


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))


def test_token_round_trip(keys):
    token = issue_token(keys[0], user_id="u1", name="王五", role="unit", jurisdiction="371428")
    who = Verifier(public_pem=keys[1]).verify(f"Bearer {token}")
    assert (who.user_id, who.name, who.role, who.jurisdiction) == ("u1", "王五", "unit", "371428")


def test_missing_bad_and_foreign_tokens_are_401(keys, tmp_path):
    v = Verifier(public_pem=keys[1])
    with pytest.raises(Unauthenticated, match="缺少"):
        v.verify(None)
    with pytest.raises(Unauthenticated, match="无效"):
        v.verify("Bearer abc.def.ghi")
    other = ensure_dev_keys(tmp_path)
    forged = issue_token(other[0], user_id="x", name="x", role="admin", jurisdiction="430000")
    with pytest.raises(Unauthenticated, match="无效"):
        v.verify(f"Bearer {forged}")
    expired = issue_token(
        keys[0], user_id="x", name="x", role="unit", jurisdiction="371428", ttl_seconds=-120
    )  # beyond the 30 s clock leeway
    with pytest.raises(Unauthenticated, match="过期"):
        v.verify(f"Bearer {expired}")


def test_roles_and_jurisdictions_are_403(keys):
    v = Verifier(public_pem=keys[1])
    county = v.verify(
        "Bearer " + issue_token(keys[0], user_id="u", name="n", role="unit", jurisdiction="371428")
    )
    province = v.verify(
        "Bearer " + issue_token(keys[0], user_id="p", name="n", role="analyst", jurisdiction="430000")
    )
    with pytest.raises(Forbidden, match="无权执行"):
        county.require_role("org_department")
    # the refusal names the caller's jurisdiction, never where the other document lives
    with pytest.raises(Forbidden, match="371428") as refused:
        county.require_covers("530129")
    assert "530129" not in refused.value.message
    province.require_covers("431121")
    with pytest.raises(Forbidden):
        province.require_covers("371428")


def test_unknown_role_is_refused(keys):
    with pytest.raises(ValueError, match="未知角色"):
        issue_token(keys[0], user_id="u", name="n", role="boss", jurisdiction="371428")


def test_processes_starting_together_on_a_fresh_folder_share_one_key_pair(tmp_path):
    # `ganxun up` spawns five services at once on a fresh state folder; each must verify
    # with the public key the CLI signs with, or every token is "invalid".
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    code = (
        "import sys, time; from pathlib import Path; from shared.auth import ensure_dev_keys\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
        "sys.stdout.write(ensure_dev_keys(Path(sys.argv[1]))[1].decode())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "keys"), str(go)], stdout=subprocess.PIPE
        )
        for _ in range(8)
    ]
    time.sleep(1.5)  # every process imported and waiting: then all at once
    go.touch()
    publics = {p.communicate(timeout=60)[0] for p in procs}
    assert len(publics) == 1
    assert publics == {ensure_dev_keys(tmp_path / "keys")[1]}


# -- OIDC issuers: JWKS, algorithms, iss / aud / lifetime, claim names ---------------------------

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from shared.auth import NO_KEYS_MESSAGE, ClaimNames, KeySet, verifier_for  # noqa: E402
from shared.settings import Settings  # noqa: E402

ISS = "https://sso.example.gov.cn/realms/ganxun"


def _jwk(private, kid: str, alg: str) -> dict:
    algo = jwt.algorithms.RSAAlgorithm if alg.startswith(("RS", "PS")) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algo.to_jwk(private.public_key())), "kid": kid, "alg": alg, "use": "sig"}


def _keycloak_claims(**over) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": ["ganxun", "account"],
        "sub": "7f1c-uuid",
        "iat": now,
        "exp": now + 300,
        "preferred_username": "wucheng-clerk",
        "name": "张三",
        "jurisdiction": "371428",
        "unit": "武城县教育局",
        "roles": ["default-roles-ganxun", "unit", "offline_access"],
    }
    return {**claims, **over}


class FakeIssuer:
    """An issuer's discovery + JWKS answers, counting fetches; a clock the test moves."""

    def __init__(self, jwks: list[dict]) -> None:
        self.jwks, self.fetches, self.now = jwks, [], 1000.0

    def fetch(self, url: str) -> dict:
        self.fetches.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": ISS, "jwks_uri": ISS + "/protocol/openid-connect/certs"}
        return {"keys": self.jwks}

    def verifier(self, **kw):
        keys = KeySet(issuer=ISS, fetch=self.fetch, clock=lambda: self.now)
        return Verifier(issuer=ISS, keyset=keys, **kw)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_an_issuers_token_is_read_through_discovery_and_its_jwks(rsa_key):
    issuer = FakeIssuer(
        [{"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"}, _jwk(rsa_key, "k1", "RS256")]
    )
    token = jwt.encode(_keycloak_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    who = issuer.verifier().verify(f"Bearer {token}")
    assert (who.user_id, who.name, who.role, who.jurisdiction, who.unit) == (
        "wucheng-clerk",
        "张三",
        "unit",
        "371428",
        "武城县教育局",
    )
    assert issuer.fetches[0].endswith("/.well-known/openid-configuration")

    trainee = jwt.encode(
        _keycloak_claims(person_id="cadre-9", roles=["trainee"]),
        rsa_key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert issuer.verifier().verify(f"Bearer {trainee}").user_id == "cadre-9"  # the cadre id, not the login


def test_an_unknown_kid_fetches_the_jwks_again_at_most_once_a_minute(rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])
    v = issuer.verifier()
    v.verify("Bearer " + jwt.encode(_keycloak_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"}))
    assert len(issuer.fetches) == 2  # discovery + JWKS
    rotated = ec.generate_private_key(ec.SECP256R1())
    token = "Bearer " + jwt.encode(_keycloak_claims(), rotated, algorithm="ES256", headers={"kid": "k2"})
    issuer.jwks.append(_jwk(rotated, "k2", "ES256"))
    issuer.now += 10  # too soon: refused without asking the issuer
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="公钥未知"):
            v.verify(token)
    assert len(issuer.fetches) == 2
    issuer.now += 60  # a minute on: one fetch finds the new key
    assert v.verify(token).role == "unit"
    assert len(issuer.fetches) == 3


def test_a_jwks_fetch_does_not_block_the_event_loop(rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])

    def slow(url):
        time.sleep(0.4)
        return issuer.fetch(url)

    v = Verifier(issuer=ISS, keyset=KeySet(issuer=ISS, fetch=slow))
    token = "Bearer " + jwt.encode(_keycloak_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        t = asyncio.create_task(ticker())
        who = await v.averify(token)
        t.cancel()
        return who, ticks

    who, ticks = asyncio.run(main())
    assert who.role == "unit" and ticks >= 20  # the loop kept running during the 0.8 s fetch


def test_tokens_signed_otherwise_or_for_others_are_refused(rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])
    v = issuer.verifier()

    def refused(token: str, match: str) -> None:
        with pytest.raises(Unauthenticated, match=match):
            v.verify(f"Bearer {token}")

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(jwt.encode(_keycloak_claims(), stranger, algorithm="RS256", headers={"kid": "k1"}), "无效")
    secret = "a-shared-secret-of-thirty-two-bytes!"
    refused(jwt.encode(_keycloak_claims(), secret, algorithm="HS256", headers={"kid": "k1"}), "HS256")
    unsigned = jwt.encode(_keycloak_claims(), None, algorithm="none", headers={"kid": "k1"})
    refused(unsigned, "none")
    refused(
        jwt.encode(
            _keycloak_claims(exp=int(time.time()) - 120), rsa_key, algorithm="RS256", headers={"kid": "k1"}
        ),
        "过期",
    )
    refused(
        jwt.encode(
            _keycloak_claims(aud="another-deployment"), rsa_key, algorithm="RS256", headers={"kid": "k1"}
        ),
        "不是签发给本部署",
    )
    refused(
        jwt.encode(
            _keycloak_claims(iss="https://evil.example.com/realms/ganxun"),
            rsa_key,
            algorithm="RS256",
            headers={"kid": "k1"},
        ),
        "签发方",
    )
    now = int(time.time())
    refused(
        jwt.encode(
            _keycloak_claims(iat=now, exp=now + 30 * 24 * 3600),
            rsa_key,
            algorithm="RS256",
            headers={"kid": "k1"},
        ),
        "有效期超过",
    )
    refused(
        jwt.encode(
            _keycloak_claims(roles=["unit", "admin"]), rsa_key, algorithm="RS256", headers={"kid": "k1"}
        ),
        "有且只有一个",
    )
    refused(
        jwt.encode(_keycloak_claims(jurisdiction="99"), rsa_key, algorithm="RS256", headers={"kid": "k1"}),
        "声明",
    )
    # The key says RS256: the same RSA key used with PS256 is refused.
    refused(jwt.encode(_keycloak_claims(), rsa_key, algorithm="PS256", headers={"kid": "k1"}), "不符")


def test_a_provider_that_names_its_claims_otherwise_is_configured_not_coded(rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])
    names = ClaimNames.parse(
        user_id="employee_no",
        name="cn",
        role="realm_access.roles",
        jurisdiction="org.division",
        unit="org.unit_name",
    )
    v = issuer.verifier(claims=names, audience="hunan-ganxun")
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": "hunan-ganxun",
        "sub": "x",
        "iat": now,
        "exp": now + 60,
        "employee_no": "E1001",
        "cn": "王五",
        "realm_access": {"roles": ["analyst"]},
        "org": {"division": "430000", "unit_name": "省委组织部"},
    }
    who = v.verify("Bearer " + jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"}))
    assert (who.user_id, who.name, who.role, who.jurisdiction, who.unit) == (
        "E1001",
        "王五",
        "analyst",
        "430000",
        "省委组织部",
    )


def test_development_keys_only_when_the_deployment_says_dev(tmp_path):
    with pytest.raises(SystemExit) as stop:
        verifier_for(Settings(service="selection", keys_dir=tmp_path, env=""))
    assert "GANXUN_OIDC_ISSUER" in str(stop.value) and "GANXUN_ENV=dev" in str(stop.value)
    assert "拒绝启动" in str(stop.value) and "refusing to start" in str(stop.value)
    assert not (tmp_path / "dev-jwt-ed25519.pem").exists()  # no development key made either
    dev = verifier_for(Settings(service="selection", keys_dir=tmp_path, env="dev"))
    private, _ = ensure_dev_keys(tmp_path)
    token = issue_token(private, user_id="u", name="n", role="unit", jurisdiction="371428")
    assert dev.verify(f"Bearer {token}").user_id == "u"
    assert verifier_for(Settings(service="selection", oidc_issuer=ISS)).issuer == ISS


def test_a_service_started_without_keys_issuer_or_dev_flag_exits_saying_what_to_set(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GANXUN_ENV", "GANXUN_OIDC_ISSUER", "GANXUN_JWKS_URL", "GANXUN_JWT_PUBLIC_KEY_FILE")
    }
    env["GANXUN_STATE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "services.selection", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert NO_KEYS_MESSAGE in done.stderr


def test_a_dev_deployment_with_an_issuer_trusts_both_and_a_production_one_only_the_issuer(tmp_path, rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])
    dev = verifier_for(Settings(service="selection", keys_dir=tmp_path, env="dev", oidc_issuer=ISS))
    dev.trusted = issuer.verifier()
    private, _ = ensure_dev_keys(tmp_path)
    dev_token = "Bearer " + issue_token(private, user_id="u", name="n", role="unit", jurisdiction="371428")
    kc_token = "Bearer " + jwt.encode(_keycloak_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert dev.verify(dev_token).user_id == "u" and dev.verify(kc_token).user_id == "wucheng-clerk"
    prod = verifier_for(Settings(service="selection", keys_dir=tmp_path, env="", oidc_issuer=ISS))
    with pytest.raises(Unauthenticated, match="签发方"):
        prod.verify(dev_token)


# -- a token checked once is remembered until it expires (shared/auth.py, Verifier._remembered) ----


def test_a_clerks_token_is_checked_once_not_on_every_request(keys, monkeypatch):
    import shared.auth as auth

    checked = []
    real = auth.jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **kw: checked.append(kw) or real(*a, **kw))
    v = Verifier(public_pem=keys[1])
    token = "Bearer " + issue_token(keys[0], user_id="u1", name="王五", role="unit", jurisdiction="371428")
    first = v.verify(token)
    signed = len(checked)
    assert [v.verify(token) for _ in range(5)] == [first] * 5
    assert asyncio.run(v.averify(token)) == first
    assert len(checked) == signed  # no token decoded, no signature checked again
    other = "Bearer " + issue_token(keys[0], user_id="u2", name="赵六", role="unit", jurisdiction="371428")
    assert v.verify(other).user_id == "u2" and len(checked) > signed


def test_a_remembered_token_is_refused_once_it_expires(keys, monkeypatch):
    import shared.auth as auth

    monkeypatch.setattr(auth, "CLOCK_LEEWAY", 0)
    v = Verifier(public_pem=keys[1])
    token = issue_token(keys[0], user_id="u", name="n", role="unit", jurisdiction="371428", ttl_seconds=1)
    assert v.verify(f"Bearer {token}").user_id == "u"
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    while time.time() < expires + 0.05:  # the token's own clock: a second at most
        time.sleep(0.05)
    with pytest.raises(Unauthenticated, match="过期"):
        v.verify(f"Bearer {token}")


def test_a_remembered_token_is_refused_once_the_issuer_drops_its_key(rsa_key):
    issuer = FakeIssuer([_jwk(rsa_key, "k1", "RS256")])
    v = issuer.verifier()
    old = "Bearer " + jwt.encode(_keycloak_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert v.verify(old).user_id == "wucheng-clerk"
    rotated = ec.generate_private_key(ec.SECP256R1())
    issuer.jwks[:] = [_jwk(rotated, "k2", "ES256")]  # the issuer rotated k1 out
    issuer.now += 61
    new = "Bearer " + jwt.encode(_keycloak_claims(), rotated, algorithm="ES256", headers={"kid": "k2"})
    assert v.verify(new).user_id == "wucheng-clerk"  # its unknown kid fetched the new JWKS
    with pytest.raises(Unauthenticated, match="公钥未知"):
        v.verify(old)
