"""The local broker's TLS material, made once with openssl into its state folder.

A cluster started with TLS (`KafkaCluster(tls=True)`, `ganxun up --kafka-tls`) gets, in
`<cluster folder>/tls/`:

    ca.key, ca.pem          a CA of its own (clients trust ca.pem: GANXUN_KAFKA_CA_FILE)
    broker.key, broker.pem  the brokers' certificate, signed by that CA, for 127.0.0.1 and
                            localhost (every node of the cluster listens on 127.0.0.1)
    broker.p12              the key and certificate chain as the PKCS12 keystore Kafka reads

Every file is owner-only (mode 600): the keys are secrets, and a CA file another local
user could replace would let them vouch for a broker of their own. Nothing is made again
once the keystore is there, so clients keep trusting the same CA across restarts.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.local.process import ServerError, require_tool

OPENSSL_HINT = "apt-get install openssl"
DAYS_CA = 3650
DAYS_BROKER = 825  # the longest validity clients are asked to accept for a server certificate
HOSTS = ("IP:127.0.0.1", "DNS:localhost")


@dataclass(frozen=True)
class BrokerTLS:
    folder: Path

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "broker.p12"


def _openssl(folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Run openssl in `folder` with an owner-only umask, so every file it writes is
    private from its first byte."""
    openssl = require_tool(
        "openssl", "为 Kafka 制作 TLS 证书 (making the broker's TLS certificates)", OPENSSL_HINT
    )
    proc = subprocess.run(
        [openssl, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        umask=0o077,
    )
    if proc.returncode != 0:
        raise ServerError(
            f"openssl 制作证书失败（openssl {args[0]}，退出码 {proc.returncode}）"
            f" (openssl {args[0]} failed):\n{(proc.stdout + proc.stderr)[-2000:]}"
        )


def make_ca(folder: Path, name: str = "ganxun local Kafka CA") -> Path:
    """A self-signed CA in `folder` (ca.key, ca.pem); returns ca.pem. The tests also make
    one as "another CA" that a client may wrongly trust."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _openssl(
        folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", str(DAYS_CA), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return folder / "ca.pem"


def ensure_broker_tls(folder: Path, keystore_password: str) -> BrokerTLS:
    """The CA, the brokers' certificate and their keystore in `folder`, made once."""
    tls = BrokerTLS(folder)
    if tls.keystore.is_file() and tls.ca_file.is_file():
        return tls
    make_ca(folder)
    (folder / "broker.ext").write_text(
        f"subjectAltName={','.join(HOSTS)}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        folder, "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    _openssl(
        folder, "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-sha256", "-days", str(DAYS_BROKER), "-extfile", "broker.ext",
        "-out", "broker.pem",
    )  # fmt: skip
    partial = folder / "broker.p12.partial"
    # The password through the environment, not argv (which `ps` shows to every user).
    _openssl(
        folder, "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
        "-certfile", "ca.pem", "-name", "broker", "-out", partial.name,
        "-passout", "env:GANXUN_KEYSTORE_PASSWORD",
        env={"GANXUN_KEYSTORE_PASSWORD": keystore_password},
    )  # fmt: skip
    for leftover in ("broker.csr", "broker.ext", "ca.srl"):
        (folder / leftover).unlink(missing_ok=True)
    for f in folder.iterdir():
        f.chmod(0o600)
    os.replace(partial, tls.keystore)  # last: its presence means the set is complete
    return tls
