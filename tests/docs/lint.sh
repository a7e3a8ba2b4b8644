#!/usr/bin/env bash
# tests/docs/lint.sh — lints docs/openapi.yaml with Redocly's CLI (part of make test).
#
# Installs @redocly/cli from the committed package-lock.json into
# tests/docs/node_modules when it is missing (npm ci, as tests/web does for
# playwright-core), then runs `redocly lint` with tests/docs/redocly.yaml.
# Any error or warning fails. Without npm or a registry the linter cannot be
# installed: the script says so and exits 1, unless FITD_SKIP_OPENAPI_LINT=1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [ ! -x "$HERE/node_modules/.bin/redocly" ]; then
	if ! command -v npm >/dev/null || ! (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error); then
		echo "tests/docs/lint.sh: cannot install @redocly/cli (npm ci in tests/docs failed)" >&2
		if [ "${FITD_SKIP_OPENAPI_LINT:-0}" = 1 ]; then
			echo "tests/docs/lint.sh: FITD_SKIP_OPENAPI_LINT=1: docs/openapi.yaml NOT linted" >&2
			exit 0
		fi
		exit 1
	fi
fi
cd "$ROOT"
out=$("$HERE/node_modules/.bin/redocly" lint --config "$HERE/redocly.yaml" docs/openapi.yaml 2>&1) || {
	echo "$out"
	exit 1
}
if echo "$out" | grep -qE 'You have [0-9]+ warning'; then
	echo "$out"
	echo "tests/docs/lint.sh: warnings count as failures" >&2
	exit 1
fi
echo "docs/openapi.yaml: valid, no warnings (redocly lint)"
