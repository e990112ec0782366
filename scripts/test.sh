#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine and runs it:
# the real components (as root, via apt), a virtualenv with the package and its
# test extras, then ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="docker-registry skopeo umoci podman apache2-utils postgresql dpkg openssl"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
.venv/bin/ruff check src tests bench
echo "== mypy"
.venv/bin/mypy src/harbourmaster
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
