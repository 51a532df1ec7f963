#!/usr/bin/env bash
# System tools the local servers need: Java 17 + Maven (Kafka from Maven Central),
# Go (FerretDB from the Go module proxy) and PostgreSQL (FerretDB's backend). Installed from Debian's packages
# only when missing, and only where we may (root with apt-get); otherwise the server
# start names the missing tool.
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn  >/dev/null 2>&1 || missing+=(maven)
# The store (FerretDB) keeps its data in a private PostgreSQL cluster; the package
# also creates the `postgres` user that initdb and postgres run as.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# psql installs the GIN twins for FerretDB's indexes at every start (deploy/local/postgres/).
compgen -G "/usr/lib/postgresql/*/bin/psql" >/dev/null || command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# openssl makes the local broker's CA and certificate for its TLS listener (deploy/local/tls.py).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# A CJK font for the record form PDF (纪实考察记录表), and Debian's Chromium for the
# dashboard's browser test (Playwright drives it; its own browser download is not used).
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Node.js and npm build the workbench's web app (deploy/build-workbench.sh, from its lockfile).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Debian's golang (1.19) is older than FerretDB 1.24 needs (go 1.24), so Go is not
# installed here: the machine image provides it, and the store's start names it if absent.
command -v go >/dev/null 2>&1 || echo "提示：未找到 Go ≥ 1.24，本地存储 (FerretDB) 无法构建 (Go >= 1.24 not found)" >&2
# Keycloak (the local identity provider) needs Java >= 21, which Debian 12 does not package:
# these machines carry a Temurin 25 JDK in /usr/lib/jvm; deploy/local/keycloak.py finds it
# (or JAVA_HOME / GANXUN_KEYCLOAK_JAVA_HOME) and names what to install when there is none.
java21=""
for j in "${GANXUN_KEYCLOAK_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  [ -n "$j" ] && [ -x "$j/bin/java" ] || continue
  v=$("$j/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ "${v:-0}" -ge 21 ] 2>/dev/null && { java21=$j; break; }
done
[ -n "$java21" ] || echo "提示：未找到 Java ≥ 21，Keycloak 无法启动；请安装 Temurin 21+ 或 openjdk-21 并设置 JAVA_HOME (Java >= 21 not found: Keycloak cannot start)" >&2
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "安装系统依赖 (installing system packages): ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "缺少系统依赖 (missing system packages): ${missing[*]} — 请先安装 (install them first)" >&2
fi
