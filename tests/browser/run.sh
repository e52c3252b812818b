#!/bin/sh
# run.sh: the browser suite under make check. It needs Debian's chromium
# and playwright-core installed by "npm ci" in tests/browser; without
# either it is skipped (exit 77) and says why. Node's test runner runs
# chat.test.mjs; its closing lines count the tests.
here=$(cd "$(dirname "$0")" && pwd)
# CI sets WSCHAT_REQUIRE_BROWSER=1: there a missing piece is a failure.
skip() {
	echo "SKIP: $*"
	if [ -n "$WSCHAT_REQUIRE_BROWSER" ]; then
		echo "FAIL: WSCHAT_REQUIRE_BROWSER is set"
		exit 1
	fi
	exit 77
}
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	skip "$chromium not found (apt-get install chromium)"
fi
if ! command -v node >/dev/null 2>&1; then
	skip "node not found (apt-get install nodejs)"
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
	skip "playwright-core is not installed (cd tests/browser && npm ci)"
fi
if [ -z "$WSCHATD" ] || [ ! -x "$WSCHATD" ]; then
	skip "WSCHATD is not set to an executable"
fi
# Node 20 has WebSocket (the tests' bot) behind a flag; 22 has it anyway.
flag=
node --experimental-websocket -e '' >/dev/null 2>&1 && flag=--experimental-websocket
WSCHAT_BROWSER_RESULTS=${WSCHAT_BROWSER_RESULTS:-$PWD/tests/browser/results}
export WSCHAT_BROWSER_RESULTS
exec node $flag --test --test-concurrency=1 --test-reporter=spec \
    "$here/chat.test.mjs"
