"""Bearer JWTs with an asymmetric signature (Ed25519), and jurisdiction checks.

Production gives the services a public key (PEM) or a JWKS URL. On one machine a
development key pair is generated on first use under the state folder, and
`ganxun token` signs development tokens with it.
"""

from __future__ import annotations

import fcntl
import time
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
ALGORITHMS = ["EdDSA"]

ROLES = {
    "org_department": "组织部",
    "unit": "调训单位",
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
            raise Forbidden(f"当前角色“{ROLES.get(self.role, self.role)}”无权执行此操作，需要：{allowed}。", code="wrong_role")

    def require_covers(self, code: str) -> None:
        try:
            jur.validate(code)
        except jur.InvalidDivisionCode as exc:
            raise DomainError(str(exc), code="bad_jurisdiction", field="jurisdiction") from exc
        if not jur.covers(self.jurisdiction, code):
            raise Forbidden(
                f"您的辖区 {self.jurisdiction} 无权访问辖区 {code} 的数据。", code="wrong_jurisdiction"
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
                tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
                tmp.chmod(0o600)
                public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
                tmp.rename(private)
    return private.read_bytes(), public.read_bytes()


def issue_token(private_pem: bytes, *, user_id: str, name: str, role: str, jurisdiction: str,
                ttl_seconds: int = 12 * 3600, unit: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"未知角色 {role}；可用：{', '.join(ROLES)}")
    jur.validate(jurisdiction)
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "name": name, "role": role,
        "jurisdiction": jurisdiction, "iat": now, "exp": now + ttl_seconds,
    }
    if unit:
        claims["unit"] = unit
    return jwt.encode(claims, serialization.load_pem_private_key(private_pem, None), algorithm="EdDSA")


class Verifier:
    def __init__(self, public_pem: bytes | None = None, jwks_url: str | None = None) -> None:
        if public_pem is None and jwks_url is None:
            raise ValueError("a public key or a JWKS URL is required")
        self._key = serialization.load_pem_public_key(public_pem) if public_pem else None
        self._jwks = jwt.PyJWKClient(jwks_url) if jwks_url else None

    def verify(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("未登录：请求缺少 Authorization: Bearer 令牌。", code="missing_token")
        token = authorization.split(" ", 1)[1].strip()
        try:
            key = self._key if self._key is not None else self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "aud", "iss"]})
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("登录令牌已过期，请重新获取。", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"登录令牌无效：{exc}", code="bad_token") from exc
        try:
            return Principal(
                user_id=str(claims["sub"]), name=str(claims["name"]), role=str(claims["role"]),
                jurisdiction=jur.validate(str(claims["jurisdiction"])),
                unit=str(claims["unit"]) if claims.get("unit") else None,
            )
        except (KeyError, ValueError) as exc:
            raise Unauthenticated(f"登录令牌缺少或含有无效的声明：{exc}", code="bad_claims") from exc
