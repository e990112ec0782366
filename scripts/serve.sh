#!/usr/bin/env bash
# Sets up harbourmaster on the embedded SQLite store, applies the example
# governance model and serves the API on http://127.0.0.1:8400 (OpenAPI at
# /api/v1/docs).  Data lives in $HARBOURMASTER_HOME (default
# ~/.local/share/harbourmaster); an administrator token is written there.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="" source scripts/_venv.sh

export HARBOURMASTER_HOME=${HARBOURMASTER_HOME:-$HOME/.local/share/harbourmaster}
hm=.venv/bin/harbourmaster
$hm init

# The example references its registry secrets as env:VAR.  For this demo they
# are random values made once and kept in the data directory (mode 0600).
demo="$HARBOURMASTER_HOME/example-secrets"
if [ ! -f "$demo" ]; then
  (umask 077; for v in HM_EXAMPLE_HARBOR_PAYMENTS_SECRET HM_EXAMPLE_HARBOR_WEB_SECRET HM_EXAMPLE_ECR_SECRET HM_EXAMPLE_GHCR_TOKEN; do
     echo "export $v=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')"
   done > "$demo")
fi
# shellcheck disable=SC1090
source "$demo"
$hm apply -f examples/governance.yaml

token="$HARBOURMASTER_HOME/admin.token"
# Tokens expire (90 days by default): make a new one well before the old one does.
if [ ! -s "$token" ] || [ -n "$(find "$token" -mtime +80)" ]; then
  $hm token create --user admin --name quickstart --expires-in 90d -o "$token"
fi
echo "administrator token: $token  (curl -H \"Authorization: Bearer \$(cat $token)\" http://127.0.0.1:${PORT:-8400}/api/v1/registries)"
exec $hm serve --host 127.0.0.1 --port "${PORT:-8400}"
