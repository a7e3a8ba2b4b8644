#!/usr/bin/env bash
# tests/web/run.sh — browser tests of the dashboard (web/) against a real fitd.
#
#   bash tests/web/run.sh ./build/fitd
#
# Installs what is missing (Debian's chromium and libjs-chart.js, which needs
# root; playwright-core from the committed package-lock.json), starts the given
# binary twice on free ports with temporary databases — once open, once with
# --api-key — runs dashboard.test.js in headless chromium, stops both servers,
# and exits nonzero on any failure. Artifacts (screenshots, server logs on
# failure) go to build/web-artifacts/.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 path/to/fitd" >&2
	exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ARTIFACTS=$ROOT/build/web-artifacts
[ -x "$BIN" ] || { echo "no executable $BIN" >&2; exit 2; }

# ---- what the tests need ------------------------------------------------------------------
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/javascript/chart.js/chart.min.js ] || missing+=(libjs-chart.js)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! (cd "$HERE" && npm ls --depth=0 >/dev/null 2>&1); then
	echo "installing playwright-core (npm ci)"
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---- two servers on free ports ---------------------------------------------------------------
TMP=$(mktemp -d /tmp/fitd-web.XXXXXX)
PIDS=()
# stop_servers — SIGTERM each server and wait for it: each must exit 0 (an
# orderly shutdown); a server that died during the tests, or crashed on the
# way out, fails the run. Prints one line per server; returns 1 on a bad exit.
stop_servers() {
	local pid code bad=0
	for pid in "${PIDS[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "fitd (pid $pid) was no longer running at teardown" >&2
		fi
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		code=0
		wait "$pid" || code=$?
		if [ "$code" -ne 0 ]; then
			echo "fitd (pid $pid) exited with code $code at teardown, expected 0" >&2
			bad=1
		fi
	done
	PIDS=()
	return $bad
}
cleanup() {
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_server NAME [flags...] — starts fitd, sets URL to its address.
start_server() {
	local name=$1 log=$TMP/$1.log
	shift
	"$BIN" --bind 127.0.0.1 --port 0 --db "$TMP/$name.db" --share-dir "$ROOT" --commit-interval-ms 250 "$@" \
		>"$log" 2>&1 &
	PIDS+=($!)
	URL=""
	for _ in $(seq 100); do
		URL=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" | head -1 | sed 's/^listening on //') || true
		[ -n "$URL" ] && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "fitd ($name) did not start:" >&2
	cat "$log" >&2
	exit 1
}

start_server open
OPEN_URL=$URL
API_KEY="web-test-$RANDOM$RANDOM"
start_server keyed --api-key "$API_KEY"
KEYED_URL=$URL
echo "fitd: $OPEN_URL (open), $KEYED_URL (with an API key)"

mkdir -p "$ARTIFACTS"
rc=0
start=$(date +%s)
FITD_URL=$OPEN_URL FITD_KEY_URL=$KEYED_URL FITD_API_KEY=$API_KEY FITD_ARTIFACTS=$ARTIFACTS \
	timeout 300 node --test-reporter=spec "$HERE/dashboard.test.js" || rc=$?
echo "web tests: $(($(date +%s) - start)) s, exit $rc"
if ! stop_servers; then
	[ $rc -ne 0 ] || rc=1
fi
if [ $rc -ne 0 ]; then
	cp "$TMP"/*.log "$ARTIFACTS/" 2>/dev/null || true
	echo "server logs and screenshots: $ARTIFACTS" >&2
fi
exit $rc
