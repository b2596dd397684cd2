#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The classic checks against two vecstore_health_server processes sharing one
# store file: concurrent health requests, concurrent adds and queries through
# both servers, then counts and a cross-server query.
#
#   bash examples/health_server/check.sh [path/to/vecstore_health_server]
#
# Without an argument it uses the newest build/*/examples/vecstore_health_server.
# The servers listen on free ports of 127.0.0.1 (--port 0), the store lives in
# a fresh folder under build/ (kept on failure, removed on success), and the
# servers are always stopped on exit. Every wait is bounded; the whole check
# takes a few seconds. Needs curl and python3. Exit status 0 when every check
# passed, 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
server=${1:-}
if [ -z "$server" ]; then
  server=$(ls -t "$repo"/build/*/examples/vecstore_health_server 2>/dev/null | head -n 1 || true)
fi
if [ -z "$server" ] || [ ! -x "$server" ]; then
  echo "check.sh: no vecstore_health_server binary; build it (target vecstore_health_server) or pass its path" >&2
  exit 2
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done

start_time=$(date +%s.%N)
mkdir -p "$repo/build"
work=$(mktemp -d "$repo/build/health-check.XXXXXX")
pids=()
failures=0

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # at most 5 s
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bg=()  # background requests; `wait` alone would wait for the servers too
wait_requests() {
  local pid
  for pid in "${bg[@]}"; do wait "$pid" 2>/dev/null || true; done
  bg=()
}

fail() { echo "  FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "  ok:   $*"; }

# curl with bounded time; prints the HTTP status code, writes the body to $1.
http() {  # http BODY_FILE METHOD URL [JSON]
  local out=$1 method=$2 url=$3 data=${4:-}
  if [ -n "$data" ]; then
    curl -sS --max-time 15 -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
      --data-binary "$data" "$url" 2>>"$work/curl.err" || echo "000"
  else
    curl -sS --max-time 15 -o "$out" -w '%{http_code}' -X "$method" "$url" 2>>"$work/curl.err" || echo "000"
  fi
}

# Reads a JSON file and prints the value of a Python expression over it (`j`).
jq_py() {  # jq_py FILE EXPR
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

# The same over many files in one python3 run (its start-up is the slow part):
# one line per file, empty when the file is not JSON or lacks what EXPR reads.
jq_many() {  # jq_many EXPR FILE...
  python3 -c 'import json,sys
for f in sys.argv[2:]:
    try:
        j = json.load(open(f)); print(eval(sys.argv[1]))
    except Exception:
        print("")' "$@"
}

start_server() {  # start_server NAME -> sets port_NAME
  local name=$1 port="" i
  "$server" --store "$work/shared.db" --port 0 --host 127.0.0.1 --quiet >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for i in $(seq 100); do  # at most 10 s
    port=$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$work/$name.out" 2>/dev/null | head -n 1)
    [ -n "$port" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "check.sh: server $name did not start; its output:" >&2
    cat "$work/$name.out" "$work/$name.err" >&2
    exit 1
  fi
  printf -v "port_$name" '%s' "$port"
}

echo "check.sh: two servers on one store ($work/shared.db)"
start_server A
start_server B
A="http://127.0.0.1:$port_A"
B="http://127.0.0.1:$port_B"
echo "  server A: $A (pid ${pids[0]}), server B: $B (pid ${pids[1]})"

# 1. Five concurrent health requests to each server, some forcing a fresh check.
for s in A B; do
  url=$A; [ "$s" = B ] && url=$B
  for i in 1 2 3 4 5; do
    q=""; [ $((i % 2)) -eq 1 ] && q="?force=1"
    http "$work/health-$s-$i.json" GET "$url/health$q" >"$work/health-$s-$i.code" &
    bg+=($!)
  done
done
wait_requests
health_ok=0
mapfile -t statuses < <(jq_many 'j["status"]' "$work"/health-{A,B}-{1,2,3,4,5}.json)
n=0
for s in A B; do
  for i in 1 2 3 4 5; do
    code=$(cat "$work/health-$s-$i.code")
    status=${statuses[$n]:-}
    n=$((n + 1))
    if [ "$code" = 200 ] && { [ "$status" = healthy ] || [ "$status" = degraded ]; }; then
      health_ok=$((health_ok + 1))
    else
      fail "GET /health on $s request $i: HTTP $code, status '${status:-not JSON}'"
    fi
  done
done
[ "$health_ok" -eq 10 ] && pass "10/10 concurrent GET /health (5 per server): 200 with a valid JSON report"

# 2. 2 x 50 concurrent adds (documents without embeddings) through both
#    servers, with 2 x 10 queries running meanwhile.
for i in $(seq 50); do
  http "$work/add-A-$i.json" POST "$A/add" \
    "{\"records\":[{\"id\":\"a-$i\",\"document\":\"alpha record $i about topic$i\",\"metadata\":{\"server\":\"A\",\"n\":$i,\"even\":$([ $((i % 2)) -eq 0 ] && echo true || echo false)}}]}" \
    >"$work/add-A-$i.code" &
  bg+=($!)
  http "$work/add-B-$i.json" POST "$B/add" \
    "{\"records\":[{\"id\":\"b-$i\",\"document\":\"bravo record $i about topic$i\",\"metadata\":{\"server\":\"B\",\"n\":$i,\"even\":$([ $((i % 2)) -eq 0 ] && echo true || echo false)}}]}" \
    >"$work/add-B-$i.code" &
  bg+=($!)
  if [ $((i % 5)) -eq 0 ]; then
    http "$work/query-A-$i.json" POST "$A/query" '{"text":"record about topic","k":5}' >"$work/query-A-$i.code" &
    bg+=($!)
    http "$work/query-B-$i.json" POST "$B/query" '{"text":"record about topic","k":5,"where":{"n":{"$gte":1}}}' \
      >"$work/query-B-$i.code" &
    bg+=($!)
  fi
done
wait_requests
adds_ok=0
for s in A B; do
  for i in $(seq 50); do
    code=$(cat "$work/add-$s-$i.code")
    if [ "$code" = 200 ]; then adds_ok=$((adds_ok + 1)); else fail "POST /add $s #$i: HTTP $code $(cat "$work/add-$s-$i.json" 2>/dev/null)"; fi
  done
done
[ "$adds_ok" -eq 100 ] && pass "100/100 concurrent POST /add (50 per server): 200"
queries_ok=0
query_codes=("$work"/query-*.code)
mapfile -t query_hits < <(jq_many 'len(j["hits"])' "${query_codes[@]/%.code/.json}")
n=0
for f in "${query_codes[@]}"; do
  code=$(cat "$f")
  hits=${query_hits[$n]:-}
  n=$((n + 1))
  if [ "$code" = 200 ] && [ -n "$hits" ]; then queries_ok=$((queries_ok + 1)); else fail "POST /query $(basename "$f"): HTTP $code"; fi
done
[ "$queries_ok" -eq 20 ] && pass "20/20 POST /query during the adds (10 per server): 200 with hits"

# 3. Fill the missing embeddings, crosswise and concurrently: A embeds B's
#    records and B embeds A's.
ids_docs() {  # ids_docs PREFIX WORD -> {"ids": [...], "documents": [...]}
  python3 -c 'import json,sys; p,w=sys.argv[1],sys.argv[2]
print(json.dumps({"ids":[f"{p}-{i}" for i in range(1,51)],"documents":[f"{w} record {i} about topic{i}" for i in range(1,51)]}))' "$1" "$2"
}
http "$work/fill-A.json" POST "$A/fill-missing" "$(ids_docs b bravo)" >"$work/fill-A.code" &
bg+=($!)
http "$work/fill-B.json" POST "$B/fill-missing" "$(ids_docs a alpha)" >"$work/fill-B.code" &
bg+=($!)
wait_requests
for s in A B; do
  code=$(cat "$work/fill-$s.code")
  filled=$(jq_py "$work/fill-$s.json" 'j["filled"]')
  if [ "$code" = 200 ] && [ "$filled" = 50 ]; then
    pass "POST /fill-missing on $s: filled 50 (the other server's records)"
  else
    fail "POST /fill-missing on $s: HTTP $code, filled '${filled}'"
  fi
done
code=$(http "$work/fill-again.json" POST "$A/fill-missing" "$(ids_docs a alpha)")
filled=$(jq_py "$work/fill-again.json" 'j["filled"]')
if [ "$code" = 200 ] && [ "$filled" = 0 ]; then pass "POST /fill-missing again: filled 0 (nothing missing)"; else fail "fill-missing again: HTTP $code, filled '$filled'"; fi

# One record with an explicit embedding through B.
vector=$(python3 -c 'import json; print(json.dumps([((i * 37) % 11) - 5.0 for i in range(256)]))')
code=$(http "$work/add-vec.json" POST "$B/add" "{\"records\":[{\"id\":\"b-vec\",\"embedding\":$vector,\"document\":\"explicit\"}]}")
[ "$code" = 200 ] || fail "POST /add with an embedding on B: HTTP $code $(cat "$work/add-vec.json")"

# 4. Counts through both servers: each sees every add.
for s in A B; do
  url=$A; [ "$s" = B ] && url=$B
  code=$(http "$work/collections-$s.json" GET "$url/collections")
  count=$(jq_py "$work/collections-$s.json" '[c["count"] for c in j["collections"] if c["name"] == "docs"][0]')
  code2=$(http "$work/health-final-$s.json" GET "$url/health?force=1")
  indexed=$(jq_py "$work/health-final-$s.json" '[c["indexed"] for c in j["collections"] if c["name"] == "docs"][0]')
  if [ "$code" = 200 ] && [ "$count" = 101 ] && [ "$code2" = 200 ] && [ "$indexed" = 101 ]; then
    pass "server $s sees 101 records, 101 in its own index (100 adds + 1 with an embedding)"
  else
    fail "server $s: /collections HTTP $code count '$count'; /health HTTP $code2 indexed '$indexed' (want 101)"
  fi
done

# 5. A query on A finds records added through B.
code=$(http "$work/cross-text.json" POST "$A/query" '{"text":"bravo record 17 about topic17","k":3}')
top=$(jq_py "$work/cross-text.json" 'j["hits"][0]["id"]')
[ "$code" = 200 ] && [ "$top" = b-17 ] && pass "query by text on A: top hit b-17 (added through B, embedded by A)" \
  || fail "query by text on A: HTTP $code, top hit '$top' (want b-17)"
code=$(http "$work/cross-vec.json" POST "$A/query" "{\"embedding\":$vector,\"k\":1}")
top=$(jq_py "$work/cross-vec.json" 'j["hits"][0]["id"] + " " + str(j["hits"][0]["distance"] < 1e-4)')
[ "$code" = 200 ] && [ "$top" = "b-vec True" ] && pass "query by embedding on A: b-vec (added through B) at distance ~0" \
  || fail "query by embedding on A: HTTP $code, got '$top'"
code=$(http "$work/cross-where.json" POST "$B/query" '{"text":"alpha record","k":100,"where":{"$and":[{"server":"A"},{"even":true}]},"where_document":{"$contains":"alpha"}}')
n=$(jq_py "$work/cross-where.json" 'len(j["hits"])')
[ "$code" = 200 ] && [ "$n" = 25 ] && pass "filtered query on B: the 25 even records added through A" \
  || fail "filtered query on B: HTTP $code, $n hits (want 25)"

# 6. Errors map to status codes.
expect_code() {  # expect_code WANT WHAT METHOD URL [JSON]
  local want=$1 what=$2; shift 2
  local got
  got=$(http "$work/error.json" "$@")
  local err
  err=$(jq_py "$work/error.json" 'j["error"]')
  if [ "$got" = "$want" ] && [ -n "$err" ]; then pass "$what: $got {\"error\": \"$err\"}"; else fail "$what: HTTP $got (want $want) $(cat "$work/error.json")"; fi
}
expect_code 409 "duplicate id" POST "$A/add" '{"records":[{"id":"b-1","document":"again"}]}'
expect_code 404 "unknown collection" POST "$A/query" '{"collection":"nope","text":"x"}'
expect_code 400 "wrong dimension" POST "$B/query" '{"embedding":[1,2,3]}'
expect_code 400 "bad filter" POST "$B/query" '{"text":"x","where":{"n":{"$gt":"text"}}}'
expect_code 400 "not JSON" POST "$A/add" '{"records": ['

# 7. Bad input writes nothing (issue 19, item 7): each request is refused
#    with 400 before a collection is created, and a body over the limit gets
#    413 saying so.
expect_refused() {  # expect_refused WANT_CODE WANT_ERROR WANT_IN_MESSAGE WHAT METHOD URL [JSON]
  local want=$1 want_err=$2 want_msg=$3 what=$4; shift 4
  local got err msg
  got=$(http "$work/refused.json" "$@")
  read -r err msg < <(jq_py "$work/refused.json" 'j["error"] + " " + j["message"]')
  if [ "$got" = "$want" ] && [ "$err" = "$want_err" ] && [[ "$msg" == *"$want_msg"* ]]; then
    pass "$what: $got {\"error\": \"$err\"}"
  else
    fail "$what: HTTP $got (want $want, error \"$want_err\", message with \"$want_msg\") $(head -c 400 "$work/refused.json")"
  fi
}
expect_refused 400 invalid_argument "starts with '\$'" "POST /add, a metadata key starting with \$, new collection" \
  POST "$A/add" '{"collection":"fresh-meta","records":[{"id":"x1","document":"ok"},{"id":"x2","document":"bad","metadata":{"$where":1}}]}'
expect_refused 400 dimension_mismatch "record 0" "POST /add, an embedding of the wrong length, new collection" \
  POST "$A/add" '{"collection":"fresh-dim","records":[{"id":"x1","embedding":[1,2,3]}]}'
expect_refused 400 invalid_argument "empty id" "POST /add, an empty id, new collection" \
  POST "$A/add" '{"collection":"fresh-id","records":[{"id":"","document":"x"}]}'
expect_refused 409 duplicate_id "repeats an id" "POST /add, an id twice in the batch, new collection" \
  POST "$A/add" '{"collection":"fresh-dup","records":[{"id":"x1","document":"a"},{"id":"x1","document":"b"}]}'
expect_refused 400 invalid_argument "record 0" "POST /add, an all-zero embedding (cosine), new collection" \
  POST "$A/add" "{\"collection\":\"fresh-zero\",\"records\":[{\"id\":\"x1\",\"embedding\":[0$(printf ',0%.0s' {2..256})]}]}"
expect_refused 400 invalid_argument "collection name" "POST /add, a bad collection name" \
  POST "$A/add" '{"collection":"-bad name","records":[{"id":"x1","document":"a"}]}'
expect_refused 400 invalid_argument "empty id" "POST /fill-missing, an empty id, new collection" \
  POST "$A/fill-missing" '{"collection":"fresh-fill","ids":["ok",""],"documents":["a","b"]}'
long_id=$(head -c 5000 /dev/zero | tr '\0' i)
expect_refused 400 invalid_argument "the limit is" "POST /fill-missing, an id over the length limit, new collection" \
  POST "$B/fill-missing" "{\"collection\":\"fresh-long\",\"ids\":[\"$long_id\"],\"documents\":[\"a\"]}"
code=$(http "$work/collections-after-bad.json" GET "$A/collections")
names="" count=""
read -r names count < <(jq_py "$work/collections-after-bad.json" \
  '",".join(sorted(c["name"] for c in j["collections"])) + " " + str([c["count"] for c in j["collections"] if c["name"] == "docs"][0])')
if [ "$code" = 200 ] && [ "$names" = docs ] && [ "$count" = 101 ]; then
  pass "after the refused requests: only \"docs\", still 101 records"
else
  fail "after the refused requests: HTTP $code, collections '$names', docs count '$count' (want only docs, 101)"
fi
# One byte over the 64 MiB limit: 413, and the message says why.
head -c $(((64 << 20) + 1)) /dev/zero | tr '\0' ' ' >"$work/huge.body"
for endpoint in query add; do
  got=$(curl -sS --max-time 60 -o "$work/huge.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$work/huge.body" "$A/$endpoint" 2>>"$work/curl.err" || echo "000")
  read -r err msg < <(jq_py "$work/huge.json" 'j["error"] + " " + j["message"]')
  if [ "$got" = 413 ] && [ "$err" = payload_too_large ] && [[ "$msg" == *"too large"* ]] &&
     [[ "$msg" == *"67108864 bytes"* ]] && [[ "$msg" != *"no endpoint"* ]]; then
    pass "POST /$endpoint with a body of 64 MiB + 1 byte: 413 {\"error\": \"$err\"}"
  else
    fail "POST /$endpoint with a body of 64 MiB + 1 byte: HTTP $got (want 413 payload_too_large naming the limit) $(head -c 400 "$work/huge.json")"
  fi
done
rm -f "$work/huge.body"

elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start_time" "$(date +%s.%N)")
if [ "$failures" -eq 0 ]; then
  echo "check.sh: PASS: 2 servers, 10/10 health, 100/100 adds, 20/20 concurrent queries, 101 records seen by both, cross-server queries found, error codes right, bad input refused before any write (${elapsed} s)"
  cleanup
  pids=()
  rm -rf "$work"
  exit 0
fi
echo "check.sh: FAIL: $failures check(s) failed (${elapsed} s); logs and store kept in $work"
exit 1
