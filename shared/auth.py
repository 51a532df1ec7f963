"""Bearer JWTs with an asymmetric signature, and jurisdiction checks.

Production points the services at an OpenID Connect issuer (the local Keycloak realm,
or a province's own 统一身份认证 platform): tokens are verified against the issuer's JWKS,
only with asymmetric algorithms, with `iss`, the deployment's audience and a maximum
lifetime checked, and the claims read under configurable names (ClaimNames). A static
public key (PEM) or a bare JWKS URL works too. Only a deployment that says it is one
for development (GANXUN_ENV=dev) falls back to a development key pair generated under
the state folder, with which `ganxun token` signs development tokens.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import jurisdiction as jur
from shared.errors import DomainError, Forbidden, Unauthenticated
from shared.events import Actor

ISSUER = "ganxun"
AUDIENCE = "ganxun"
# Asymmetric only: a shared-secret (HS*) token could be forged by anyone holding the
# secret, and "none" by anyone at all.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
DEFAULT_MAX_LIFETIME = 12 * 3600  # `ganxun token`'s default; Keycloak's access tokens live 5 minutes
JWKS_REFRESH_INTERVAL = 60.0  # an unknown `kid` fetches the JWKS again at most this often
CLOCK_LEEWAY = 30
# Tokens a Verifier remembers having checked (see Verifier._remembered); a clerk's page sends
# the same token with every request until it expires.
VERIFIED_TOKENS = 4_096

ROLES = {
    "org_department": "组织部",
    "unit": "调训单位",
    # A unit's leader or colleague who evaluates its trained cadres at 1/3/6/12 months
    # (跟踪问效); the token names the unit, as a unit clerk's does.
    "evaluator": "单位评价人",
    "party_school": "党校",
    "recorder": "纪实记录员",
    "mentor": "导师",
    "trainee": "学员",
    "analyst": "分析员",
    "admin": "系统管理员",
}


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    role: str
    jurisdiction: str
    # The work unit (单位) a unit clerk, unit leader or colleague acts for, as the
    # registry names it. A trainee's token has the cadre id as `user_id`; a mentor's
    # has the mentor id.
    unit: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, name=self.name, role=self.role)

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            allowed = "、".join(ROLES.get(r, r) for r in roles)
            raise Forbidden(
                f"当前角色“{ROLES.get(self.role, self.role)}”无权执行此操作，需要：{allowed}。",
                code="wrong_role",
            )

    def require_covers(self, code: str) -> None:
        try:
            jur.validate(code)
        except jur.InvalidDivisionCode as exc:
            raise DomainError(str(exc), code="bad_jurisdiction", field="jurisdiction") from exc
        if not jur.covers(self.jurisdiction, code):
            # The other jurisdiction is not named: the answer must not tell where a
            # document of another county lives (or that it exists there).
            raise Forbidden(
                f"您的辖区 {self.jurisdiction} 无权访问该数据（不属于本辖区及下级辖区）。",
                code="wrong_jurisdiction",
            )


def dev_key_paths(folder: Path) -> tuple[Path, Path]:
    return folder / "dev-jwt-ed25519.pem", folder / "dev-jwt-ed25519.pub.pem"


def ensure_dev_keys(folder: Path) -> tuple[bytes, bytes]:
    """The development key pair, generated once. Several processes start at once on a
    fresh state folder (`ganxun up` spawns five services), so the check-and-create runs
    under an exclusive file lock: without it two of them could each write a pair and
    the services would verify with different public keys (every token "invalid")."""
    private, public = dev_key_paths(folder)
    if not (private.exists() and public.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (private.exists() and public.exists()):
                key = Ed25519PrivateKey.generate()
                tmp = private.with_suffix(".tmp")
                tmp.write_bytes(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
                tmp.chmod(0o600)
                public.write_bytes(
                    key.public_key().public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                )
                tmp.rename(private)
    return private.read_bytes(), public.read_bytes()


def issue_token(
    private_pem: bytes,
    *,
    user_id: str,
    name: str,
    role: str,
    jurisdiction: str,
    ttl_seconds: int = 12 * 3600,
    unit: str | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"未知角色 {role}；可用：{', '.join(ROLES)}")
    jur.validate(jurisdiction)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "name": name,
        "role": role,
        "jurisdiction": jurisdiction,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if unit:
        claims["unit"] = unit
    return jwt.encode(claims, serialization.load_pem_private_key(private_pem, None), algorithm="EdDSA")


@dataclass(frozen=True)
class ClaimNames:
    """Where each part of the principal is read from, first name present wins.

    The defaults read both `ganxun token`'s tokens and the ganxun Keycloak realm's:
    a person's id (cadre id of a trainee, mentor id, recorder id) in `person_id`, else
    the login name, else `sub`; the role as one string (`role`) or a list (`roles`,
    Keycloak's realm roles) holding exactly one ganxun role."""

    user_id: tuple[str, ...] = ("person_id", "preferred_username", "sub")
    name: tuple[str, ...] = ("name", "preferred_username")
    role: tuple[str, ...] = ("role", "roles")
    jurisdiction: tuple[str, ...] = ("jurisdiction",)
    unit: tuple[str, ...] = ("unit",)

    @classmethod
    def parse(cls, **names: str) -> ClaimNames:
        """From comma-separated settings; a dotted name reaches into an object (`realm_access.roles`)."""
        return cls(**{k: tuple(n.strip() for n in v.split(",") if n.strip()) for k, v in names.items() if v})


def _claim(claims: dict, names: tuple[str, ...]):
    for name in names:
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, "", []):
            return value
    return None


def _role_of(value) -> str:
    roles = [value] if isinstance(value, str) else [r for r in (value or []) if isinstance(r, str)]
    ours = sorted({r for r in roles if r in ROLES})
    if len(ours) != 1:
        found = "、".join(ours) or "无"
        raise ValueError(f"账号须有且只有一个干训角色（令牌中为：{found}）")
    return ours[0]


class KeySet:
    """The issuer's signing keys by `kid`, fetched from its JWKS (found through its OIDC
    discovery document when only the issuer is known).

    Fetches are blocking HTTP calls: callers on an event loop go through `averify`,
    which runs them in a thread. An unknown `kid` (the issuer rotated its keys, or a
    forged token) triggers a fetch at most once per JWKS_REFRESH_INTERVAL, so a flood
    of forged tokens cannot turn the service into a flood of requests to the issuer."""

    def __init__(
        self,
        *,
        issuer: str | None = None,
        jwks_url: str | None = None,
        fetch: Callable[[str], dict] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (issuer or jwks_url):
            raise ValueError("an issuer or a JWKS URL is required")
        self.issuer = issuer
        self.jwks_url = jwks_url
        self._fetch = fetch or _http_json
        self._clock = clock
        self._keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}  # kid -> key, the alg it declares
        self._last_fetch: float | None = None
        self._lock = threading.Lock()

    def cached(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid or "")

    def due(self) -> bool:
        return self._last_fetch is None or self._clock() - self._last_fetch >= JWKS_REFRESH_INTERVAL

    def refresh(self) -> None:
        """Fetch the JWKS again if the last fetch is old enough (blocking; run in a thread)."""
        with self._lock:
            if not self.due():
                return
            self._last_fetch = self._clock()
            url = self.jwks_url
            if url is None:
                url = self._fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")["jwks_uri"]
                self.jwks_url = url
            keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}
            for jwk in self._fetch(url).get("keys", []):
                if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") not in ALLOWED_ALGORITHMS:
                    continue
                try:
                    keys[jwk.get("kid", "")] = (jwt.PyJWK(jwk), jwk.get("alg"))
                except jwt.PyJWTError:
                    continue  # a key type this library cannot use is simply not offered
            self._keys = keys


def _http_json(url: str) -> dict:
    import httpx

    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return json.loads(response.text)


class Verifier:
    """Checks a bearer token and returns who it names.

    Exactly one source of keys: a PEM public key, a JWKS URL, or an OIDC issuer (whose
    JWKS is found by discovery). `issuer` and `audience` must match the token's `iss`
    and `aud`; `exp - iat` may not exceed `max_lifetime`."""

    def __init__(
        self,
        public_pem: bytes | None = None,
        jwks_url: str | None = None,
        *,
        issuer: str | None = None,
        audience: str = AUDIENCE,
        max_lifetime: int = DEFAULT_MAX_LIFETIME,
        claims: ClaimNames | None = None,
        keyset: KeySet | None = None,
    ) -> None:
        if public_pem is None and jwks_url is None and issuer is None and keyset is None:
            raise ValueError("a public key, a JWKS URL or an issuer is required")
        self._key = serialization.load_pem_public_key(public_pem) if public_pem else None
        self._keys = None if self._key is not None else (keyset or KeySet(issuer=issuer, jwks_url=jwks_url))
        self.issuer = issuer or ISSUER
        self.audience = audience
        self.max_lifetime = max_lifetime
        self.claims = claims or ClaimNames()
        self._verified: dict[str, tuple[Principal, int, dict, object]] = {}

    def verify(self, authorization: str | None) -> Principal:
        """Blocking form (tests, tools): may fetch the JWKS in this thread."""
        known = self._remembered(authorization)
        if known is not None:
            return known
        token, header = self._parse(authorization)
        key = self._key_for(header)
        if key is None and self._keys.due():
            try:
                self._keys.refresh()
            except Exception as exc:  # noqa: BLE001 - issuer unreachable: the token cannot be checked
                raise Unauthenticated(
                    f"暂时无法取得身份认证服务的验签公钥，请稍后重试（{type(exc).__name__}）。",
                    code="issuer_unreachable",
                ) from exc
            key = self._key_for(header)
        return self._decoded(authorization, token, header, key)

    async def averify(self, authorization: str | None) -> Principal:
        """For the event loop: a JWKS fetch, when one is due, runs in a worker thread."""
        known = self._remembered(authorization)
        if known is not None:
            return known
        token, header = self._parse(authorization)
        key = self._key_for(header)
        if key is None and self._keys.due():
            try:
                await asyncio.to_thread(self._keys.refresh)
            except Exception as exc:  # noqa: BLE001 - issuer unreachable: the token cannot be checked
                raise Unauthenticated(
                    f"暂时无法取得身份认证服务的验签公钥，请稍后重试（{type(exc).__name__}）。",
                    code="issuer_unreachable",
                ) from exc
            key = self._key_for(header)
        return self._decoded(authorization, token, header, key)

    # -- steps ------------------------------------------------------------------

    def _remembered(self, authorization: str | None) -> Principal | None:
        """Who a token names that this verifier checked before, while it has not expired and
        the key that checked it is still trusted. Checking a signature again (and decoding the
        token twice) was a tenth of selection's CPU per command (docs/benchmarks.md, "The
        event loop, the HTTP parser and the token"). Everything else the check found about the
        token cannot change: it is the same string."""
        if not authorization:
            return None
        found = self._verified.get(authorization)
        if found is None:
            return None
        principal, expires, header, key = found
        if time.time() >= expires or self._key_for(header) is not key:
            del self._verified[authorization]
            return None
        return principal

    def _remember(self, authorization: str, principal: Principal, expires: int, header: dict, key) -> None:
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest remembered
        self._verified[authorization] = (principal, expires, header, key)

    def _parse(self, authorization: str | None) -> tuple[str, dict]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("未登录：请求缺少 Authorization: Bearer 令牌。", code="missing_token")
        token = authorization.split(" ", 1)[1].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"登录令牌无效：{exc}", code="bad_token") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(
                f"登录令牌无效：不接受签名算法 {alg}（只接受非对称签名）。", code="bad_token"
            )
        # Another issuer's token is refused before any key is looked up or fetched.
        if unverified.get("iss") != self.issuer:
            raise Unauthenticated("登录令牌无效：签发方不是本部署信任的身份认证服务。", code="bad_token")
        return token, header

    def _key_for(self, header: dict):
        if self._key is not None:
            return self._key
        found = self._keys.cached(header.get("kid"))
        if found is None:
            return None
        jwk, declared = found
        if declared and declared != header["alg"]:
            raise Unauthenticated("登录令牌无效：签名算法与公钥不符。", code="bad_token")
        return jwk.key

    def _decoded(self, authorization: str, token: str, header: dict, key) -> Principal:
        principal, expires = self._decode(token, header, key)
        self._remember(authorization, principal, expires, header, key)
        return principal

    def _decode(self, token: str, header: dict, key) -> tuple[Principal, int]:
        if key is None:
            raise Unauthenticated(
                "登录令牌无效：签名公钥未知（不是本部署信任的签发方签发的）。", code="bad_token"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_LEEWAY,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("登录令牌已过期，请重新获取。", code="token_expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated(
                f"登录令牌无效：不是签发给本部署（{self.audience}）的。", code="bad_token"
            ) from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated(
                "登录令牌无效：签发方不是本部署信任的身份认证服务。", code="bad_token"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"登录令牌无效：{exc}", code="bad_token") from exc
        if int(claims["exp"]) - int(claims["iat"]) > self.max_lifetime:
            raise Unauthenticated(
                f"登录令牌无效：有效期超过本部署允许的 {self.max_lifetime // 3600} 小时。",
                code="token_too_long",
            )
        c = self.claims
        try:
            principal = Principal(
                user_id=str(_claim(claims, c.user_id) or claims["sub"]),
                name=str(_claim(claims, c.name) or claims["sub"]),
                role=_role_of(_claim(claims, c.role)),
                jurisdiction=jur.validate(str(_claim(claims, c.jurisdiction))),
                unit=str(_claim(claims, c.unit)) if _claim(claims, c.unit) else None,
            )
        except (KeyError, ValueError) as exc:
            raise Unauthenticated(f"登录令牌缺少或含有无效的声明：{exc}", code="bad_claims") from exc
        return principal, int(claims["exp"])


class EitherVerifier:
    """A development deployment that also trusts an issuer (`ganxun up` with its Keycloak):
    `ganxun token`'s tokens (iss "ganxun") go to the development key, all others to the
    issuer. Only ever built when GANXUN_ENV=dev."""

    def __init__(self, trusted: Verifier, dev: Verifier) -> None:
        self.trusted, self.dev = trusted, dev
        self.issuer = trusted.issuer

    def _pick(self, authorization: str | None) -> Verifier:
        try:
            token = (authorization or "").split(" ", 1)[1].strip()
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except (IndexError, jwt.PyJWTError):
            return self.trusted  # it fails there, with the usual message
        return self.dev if iss == ISSUER else self.trusted

    def verify(self, authorization: str | None) -> Principal:
        return self._pick(authorization).verify(authorization)

    async def averify(self, authorization: str | None) -> Principal:
        return await self._pick(authorization).averify(authorization)


NO_KEYS_MESSAGE = (
    "未配置登录令牌的验证方式，拒绝启动。生产环境请设置 GANXUN_OIDC_ISSUER（身份认证服务的签发方地址，"
    "如 Keycloak 领域 http://127.0.0.1:8180/realms/ganxun），或 GANXUN_JWKS_URL、GANXUN_JWT_PUBLIC_KEY_FILE；"
    "仅开发、测试时可设置 GANXUN_ENV=dev，使用本机生成的开发密钥。\n"
    "(No way to verify login tokens is configured: refusing to start. In production set GANXUN_OIDC_ISSUER "
    "(your OpenID Connect issuer, e.g. the Keycloak realm http://127.0.0.1:8180/realms/ganxun), or "
    "GANXUN_JWKS_URL or GANXUN_JWT_PUBLIC_KEY_FILE; for development and tests only, set GANXUN_ENV=dev "
    "to use the local development keys.)"
)


def verifier_for(settings) -> Verifier | EitherVerifier:
    """The deployment's verifier, from its settings; SystemExit with NO_KEYS_MESSAGE when
    it has no issuer, JWKS or key and is not declared a development deployment. A
    development deployment with an issuer trusts both (EitherVerifier)."""
    claims = ClaimNames.parse(
        user_id=settings.claim_user_id,
        name=settings.claim_name,
        role=settings.claim_role,
        jurisdiction=settings.claim_jurisdiction,
        unit=settings.claim_unit,
    )
    common = {
        "audience": settings.oidc_audience,
        "max_lifetime": settings.token_max_lifetime,
        "claims": claims,
    }
    trusted = None
    if settings.oidc_issuer:
        trusted = Verifier(jwks_url=settings.jwks_url, issuer=settings.oidc_issuer, **common)
    elif settings.jwks_url:
        trusted = Verifier(jwks_url=settings.jwks_url, **common)
    elif settings.jwt_public_key_file:
        trusted = Verifier(public_pem=settings.jwt_public_key_file.read_bytes(), **common)
    if settings.env != "dev":
        if trusted is None:
            raise SystemExit(NO_KEYS_MESSAGE)
        return trusted
    dev = Verifier(public_pem=ensure_dev_keys(settings.keys_dir)[1], **common)
    return dev if trusted is None else EitherVerifier(trusted, dev)
