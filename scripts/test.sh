#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine and runs it:
# the real components (as root, via apt), a virtualenv with the package and its
# test extras, then ruff, mypy, the import-layer contracts (pyproject.toml) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# binary:Debian package; a package is installed only when its binary is absent.
NEEDS="docker-registry:docker-registry skopeo:skopeo umoci:umoci podman:podman htpasswd:apache2-utils
pg_ctlcluster:postgresql dpkg-query:dpkg rpm:rpm rpmbuild:rpm mvn:maven openssl:openssl node:nodejs npm:npm
go:golang-go ruby:ruby gem:ruby jq:jq java:default-jre-headless dockerd:docker.io chromium:chromium"
missing=""
for need in $NEEDS; do
  command -v "${need%%:*}" >/dev/null 2>&1 || missing="$missing ${need#*:}"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  else
    echo "missing (install them, or integration tests fail under CI=true):$missing" >&2
  fi
fi

EXTRAS=test source scripts/_venv.sh

echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== mypy"
.venv/bin/mypy src/harbourmaster
echo "== import layers"
.venv/bin/lint-imports
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
