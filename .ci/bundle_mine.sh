#!/usr/bin/env bash
# Checks that the bundle (dist/bitclone.js + dist/bitclone-worker.js) runs the miner end to end:
# a server, a miner with one worker and a client on 127.0.0.1, answering the handout's vector.
set -u
run=(npx -y deno@2.9.6 run --unstable-net --allow-net --allow-read --allow-write dist/bitclone.js)
port=$((20000 + RANDOM % 20000))
"${run[@]}" mine server "$port" >/dev/null 2>&1 & server=$!
sleep 2
"${run[@]}" mine miner "127.0.0.1:$port" --workers 1 >/dev/null 2>&1 & miner=$!
sleep 2
out=$(timeout 60 "${run[@]}" mine client "127.0.0.1:$port" bradfitz 9999)
kill "$miner" "$server" 2>/dev/null
wait 2>/dev/null
echo "client printed: $out"
[ "$out" = "Result 1419516646206828 9898" ]
