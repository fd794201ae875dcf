#!/usr/bin/env bash
# The article, replayed on hoist's embedded registry: pack, the prefix mistake, login, tag,
# push, push again, pull back into a fresh store and compare digests. Everything happens on
# 127.0.0.1 in a temp dir that is removed at the end.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/hoist-demo.XXXXXX")"
export HOIST_HOME="$work/store" DOCKER_CONFIG="$work/docker"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
registry="127.0.0.1:$port"
password="demo-$(python3 -c 'import secrets; print(secrets.token_hex(6))')"

step "Start hoist's own registry with a user 'demo' (htpasswd, bcrypt)"
python3 - "$work/htpasswd" "$password" <<'PY'
import sys, bcrypt
open(sys.argv[1], "w").write("demo:" + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt()).decode() + "\n")
PY
hoist serve --addr "$registry" --root "$work/registry" --htpasswd "$work/htpasswd" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then break; fi
    sleep 0.1
done
sed 's/^/  | /' "$work/serve.log"

step "Build myapp:1.4.0 from a directory (no daemon)"
run hoist pack "$here/demo-app" -t myapp:1.4.0 --workdir /app --entrypoint '["/app/serve.sh"]'
run hoist images

step "The classic mistake: push without a registry prefix"
run hoist where myapp:1.4.0
if run hoist push myapp:1.4.0; then echo "unexpected: the push to Docker Hub succeeded" >&2; exit 1; fi

step "1. docker login  ->  hoist login"
printf '%s' "$password" | run hoist login "$registry" -u demo --password-stdin

step "2. docker tag  ->  hoist tag (a second name, nothing copied)"
run hoist tag myapp:1.4.0 "$registry/team/myapp:1.4.0"
run hoist images

step "3. docker push  ->  hoist push"
run hoist push "$registry/team/myapp:1.4.0"

step "Push again: every layer is already there"
run hoist push "$registry/team/myapp:1.4.0"

step "Pull it back into a fresh store and compare digests"
local_digest="$(hoist images --json | python3 -c 'import json,sys; print(next(r["digest"] for r in map(json.loads, sys.stdin) if r["repository"].endswith("team/myapp")))')"
registry_digest="$(hoist inspect "$registry/team/myapp:1.4.0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')"
HOIST_HOME="$work/fresh" run hoist pull "$registry/team/myapp:1.4.0"
pulled="$(HOIST_HOME="$work/fresh" hoist images --json | python3 -c 'import json,sys; print([r["digest"] for r in map(json.loads, sys.stdin)][0])')"
pushed="$registry_digest"
echo "local:    $local_digest"
echo "registry: $registry_digest"
echo "pulled:   $pulled"
[ "$local_digest" = "$pushed" ] && [ "$pushed" = "$pulled" ] || { echo "digests differ" >&2; exit 1; }

step "Done: one digest locally, in the registry and after the pull. Stopping the registry."
