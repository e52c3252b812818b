#!/bin/sh
# protocol.sh: the web client's protocol module (www/wschat.js) alone, in
# Node against a scripted WebSocket (wschat.test.mjs). It needs only node.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node not found (apt-get install nodejs)"
	exit 77
fi
exec node --test --test-reporter=spec "$here/wschat.test.mjs"
