#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of the vecstore command-line tool: every command on a
# temporary store, each input format, round trips, the ChromaDB fixture,
# error exit codes and the progress display.
#
#   bash tests/cli/cli_test.sh <path-to-vecstore-binary> <tests/fixtures dir>
#
# Needs bash, python3 (standard library only) and coreutils; uses `script`
# (util-linux) for the pseudo-terminal check when it is installed. Works in
# its own temporary folder, removed at exit. Every tool run is bounded by
# `timeout`. Stops at the first failure with a message and exit status 1.
set -u -o pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <vecstore-binary> <fixtures-dir>" >&2
  exit 2
fi
V=$(realpath "$1") || exit 2
FIX=$(realpath "$2") || exit 2
[ -x "$V" ] || { echo "cli_test: $V is not executable" >&2; exit 2; }
CHROMA="$FIX/chroma-1.0/persist"
EXPECTED="$FIX/chroma-1.0/expected.json"

T=$(mktemp -d "${TMPDIR:-/tmp}/vecstore-cli-test.XXXXXX") || exit 2
HOLDER=""
cleanup() {
  if [ -n "$HOLDER" ]; then kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2

STEP=""
step() { STEP="$*"; echo "--- $STEP"; }
fail() {
  echo "cli_test FAILED in step \"$STEP\": $*" >&2
  exit 1
}

LAST=""
# vs <expected exit status> <args...>: runs the tool (stdout in ./out, stderr in ./err).
vs() {
  local want=$1
  shift
  LAST="vecstore $*"
  timeout 120 "$V" "$@" >out 2>err </dev/null
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "\`$LAST\` exited $rc, expected $want; stderr: $(head -c 2000 err); stdout: $(head -c 2000 out)"
  fi
}
err_has() { grep -qF -- "$1" err || fail "stderr of \`$LAST\` lacks \"$1\": $(head -c 2000 err)"; }
out_has() { grep -qF -- "$1" out || fail "stdout of \`$LAST\` lacks \"$1\": $(head -c 2000 out)"; }
err_empty() { [ ! -s err ] || fail "stderr of \`$LAST\` is not empty: $(head -c 2000 err)"; }
one_error_line() {
  [ "$(wc -l <err)" -eq 1 ] || fail "\`$LAST\` printed more than one line on stderr: $(head -c 2000 err)"
  grep -q '^vecstore: ' err || fail "the error of \`$LAST\` does not start with 'vecstore: ': $(cat err)"
}
# check <description> <python expression over d = the JSON document on stdout>
check() {
  python3 -c "
import json, sys
d = json.load(open('out'))
sys.exit(0 if ($2) else 1)" || fail "$1 (\`$LAST\`): $(head -c 3000 out)"
}

# --- input files ------------------------------------------------------------------------
step "generate input files"
python3 - <<'EOF' || fail "python3 could not write the input files"
import json, struct

def fvecs(path, rows):
    with open(path, 'wb') as f:
        for r in rows:
            f.write(struct.pack('<i', len(r)) + struct.pack('<%df' % len(r), *r))

def npy(path, rows, dim, descr='<f4', fortran=False, shape=None, extra=b''):
    shape = shape or (len(rows), dim)
    hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (descr, fortran, *shape)
    hdr += ' ' * (63 - (10 + len(hdr)) % 64) + '\n'
    code = 'd' if descr == '<f8' else 'f'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
        for r in rows:
            f.write(struct.pack('<%d%s' % (len(r), code), *r))
        f.write(extra)

# Values with short exact float32 forms, so files written here equal the tool's output.
vec = lambda i: [0.25 * (i % 7) + 0.5, -0.75 + 0.125 * (i % 3), 1.5 - 0.0625 * i, 0.375 * ((i % 5) - 2) + 0.125]
fvecs('a.fvecs', [vec(i) for i in range(12)])
fvecs('bad_dim.fvecs', [vec(i) if i != 3 else vec(i)[:3] for i in range(6)])
with open('truncated.fvecs', 'wb') as f:
    f.write(struct.pack('<i', 4) + struct.pack('<3f', 1, 2, 3))
with open('huge_dim.fvecs', 'wb') as f:
    f.write(struct.pack('<i', 1 << 30) + b'\0' * 16)
npy('a.npy', [vec(100 + i) for i in range(9)], 4)
npy('f8.npy', [vec(i) for i in range(3)], 4, descr='<f8')
npy('fortran.npy', [vec(i) for i in range(3)], 4, fortran=True)
npy('short.npy', [vec(i) for i in range(3)], 4, shape=(1000000, 4))

records = []
for i in range(30):
    r = {'id': 'doc-%02d' % i}
    if i % 10 != 7:
        r['embedding'] = vec(200 + i)
    if i % 4 != 0:
        r['document'] = 'document %d about %s ü中 "quoted"' % (i, 'vectors' if i % 2 else 'graphs')
    if i % 3:
        r['metadata'] = dict(sorted({'year': 1995 + i, 'score': i + 0.5, 'ratio': -2.0, 'title': 'title %d' % i,
                                     'open': i % 2 == 0, 'big': -9007199254740991}.items()))
    records.append(r)
with open('a.jsonl', 'w', encoding='utf-8') as f:
    for r in records:
        f.write(json.dumps(r, ensure_ascii=False, separators=(',', ':')) + '\n')
with open('bad_dim.jsonl', 'w') as f:
    f.write('{"id":"x1","embedding":[1,2,3,4]}\n\n{"id":"x2","embedding":[1,2,3]}\n')
with open('bad_json.jsonl', 'w') as f:
    f.write('{"id":"x1","embedding":[1,2,3,4]}\n{"id":"x2","embedding":[1,2\n')
with open('dup.jsonl', 'w') as f:
    f.write('{"id":"x1"}\n{"id":"x2"}\n{"id":"x1"}\n')
with open('bad_meta.jsonl', 'w') as f:
    f.write('{"id":"x1","metadata":{"tags":["a","b"]}}\n')
with open('typo.jsonl', 'w') as f:
    f.write('{"id":"x1","embeddings":[1,2,3,4]}\n')
with open('huge_number.jsonl', 'w') as f:  # found by tests/fuzz/readers_fuzz.cpp
    f.write('{"id":"x1","embedding":[1,2,3,4]}\n{"id":5555555555555555E55555}\n')
with open('deep.jsonl', 'w') as f:
    f.write('{"id":"x1","metadata":{"k":' + '[' * 100000 + ']' * 100000 + '}}\n')
with open('one.jsonl', 'w') as f:
    f.write('{"id":"late","embedding":[1.0,2.0,3.0,4.0]}\n')
EOF

# --- usage errors -------------------------------------------------------------------------
step "usage"
vs 0 --help
out_has "import-chroma"
vs 0 --version
out_has "vecstore "
vs 3
one_error_line
vs 3 frobnicate s.db
one_error_line
err_has 'unknown command "frobnicate"'
# Words from the command line reach the message escaped: no terminal escape,
# no invalid UTF-8, no forged line.
vs 3 $'frob\e[31mnicate\xff\nvecstore: ok'
one_error_line
err_has 'unknown command "frob\x1B[31mnicate\xFF\x0Avecstore: ok"'
vs 3 create s.db c --dim $'4\e[2J\xfe'
one_error_line
err_has '4\x1B[2J\xFE'
vs 3 create s.db c                      # --dim missing
one_error_line
vs 3 create s.db c --dim 4 --metric euclid
vs 3 query s.db c                       # neither --embedding nor --from
one_error_line
[ ! -e s.db ] || fail "a usage error created the store"

# --- missing store --------------------------------------------------------------------------
step "missing store"
for cmd in count stats health verify compact backup; do
  vs 4 "$cmd" missing.db
  one_error_line
  err_has "does not exist"
done
vs 4 get missing.db c
vs 4 --json count missing.db
check "error document" "d['error']['exit_code'] == 4 and d['error']['code'] == 'not_found'"
vs 4 import missing.db c a.fvecs          # no --dim: nothing to create it with
err_has "does not exist"
[ ! -e missing.db ] || fail "a command on a missing store created it"

# --- create --------------------------------------------------------------------------------
step "create"
vs 5 create new.db 'a/b' --dim 4          # bad input creates nothing, not even an empty store
one_error_line
err_has 'invalid collection name: "a/b" has the character at offset 1'
[ -z "$(ls -A | grep '^new\.db')" ] || fail "a refused create left $(ls -A | grep '^new\.db')"
vs 5 create new.db "$(printf 'a\nb\377')" --dim 4
one_error_line                            # the newline is escaped, not printed
err_has 'invalid collection name: "a\x0Ab\xFF"'
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' err || fail "the error is not UTF-8"
[ ! -e new.db ] || fail "a refused create left new.db"
vs 0 create s.db vec --dim 4 --metric l2
out_has 'created collection "vec"'
vs 5 create s.db vec --dim 4 --metric l2
one_error_line
err_has "exists already"
vs 0 --json create s.db vec --dim 4 --metric l2 --exist-ok
check "create --exist-ok" "d['created'] is False and d['dim'] == 4 and d['metric'] == 'l2'"
vs 5 create s.db vec --dim 8 --exist-ok   # exists with another dim
vs 0 --json create s.db cos --dim 4
check "default metric" "d['metric'] == 'cosine' and d['created'] is True"

# --- import fvecs ------------------------------------------------------------------------
step "import fvecs"
vs 0 import s.db vec a.fvecs --id-prefix f
err_empty                                 # stderr is not a terminal: no progress
out_has "imported 12 records"
vs 0 --json count s.db vec
check "count after fvecs" "d == {'collection': 'vec', 'count': 12}"
vs 0 --json get s.db vec --ids f0,f11 --include embeddings
check "fvecs vectors" "[r['id'] for r in d['records']] == ['f0', 'f11'] and d['records'][0]['embedding'] == [0.5, -0.75, 1.5, -0.625] and d['records'][1]['embedding'] == [1.5, -0.5, 0.8125, -0.25]"
vs 5 import s.db vec a.fvecs --id-prefix f   # the ids exist: refused before writing
err_has 'row 0 of a.fvecs: id "f0" exists already'
vs 0 import s.db vec a.fvecs --id-prefix f --upsert
vs 5 import s.db vec bad_dim.fvecs --id-prefix bad
one_error_line
err_has "row 3 of bad_dim.fvecs has dimension 3"
vs 5 import s.db vec truncated.fvecs --id-prefix t
err_has "truncated"
vs 5 import s.db vec huge_dim.fvecs --id-prefix h
err_has "declares dimension 1073741824"
vs 5 import s.db cos a.fvecs --format fvecs --id-prefix x --batch 5 --dim 8   # --dim differs from the collection's
vs 0 --json count s.db vec
check "failed imports wrote nothing" "d['count'] == 12"

# --- import npy --------------------------------------------------------------------------
step "import npy"
vs 0 --json import s.db vec a.npy --id-prefix n --batch 4
check "npy import" "d['records'] == 9 and d['format'] == 'npy' and d['created_collection'] is False"
vs 0 --json get s.db vec --ids n8 --include embeddings
check "npy vector" "d['records'][0]['embedding'] == [1.25, -0.75, -5.25, 0.5]"
vs 5 import s.db vec f8.npy --id-prefix d
one_error_line
err_has "dtype is '<f8'; only float32 little-endian ('<f4') is supported"
vs 5 import s.db vec fortran.npy --id-prefix o
err_has "Fortran order"
vs 5 import s.db vec short.npy --id-prefix s
err_has "shape (1000000, 4)"
vs 0 --json count s.db vec
check "count after npy" "d['count'] == 21"

# --- import jsonl ------------------------------------------------------------------------
step "import jsonl"
vs 0 --json import s.db docs a.jsonl --dim 4 --metric l2
check "jsonl import" "d['records'] == 30 and d['created_collection'] is True and d['metric'] == 'l2'"
vs 0 --json get s.db docs --ids doc-01,doc-02,doc-07,doc-12 --include all
check "jsonl typed metadata" "
[r['id'] for r in d['records']] == ['doc-01', 'doc-02', 'doc-07', 'doc-12']
and type(d['records'][0]['metadata']['year']) is int and d['records'][0]['metadata']['year'] == 1996
and type(d['records'][0]['metadata']['score']) is float and d['records'][0]['metadata']['score'] == 1.5
and type(d['records'][0]['metadata']['ratio']) is float
and d['records'][0]['metadata']['open'] is False and d['records'][1]['metadata']['open'] is True
and d['records'][0]['metadata']['title'] == 'title 1'
and d['records'][0]['metadata']['big'] == -9007199254740991
and d['records'][0]['document'] == 'document 1 about vectors ü中 \"quoted\"'
and d['records'][2]['embedding'] is None
and d['records'][3]['document'] is None and d['records'][3]['metadata'] == {}"
vs 5 import s.db docs2 bad_dim.jsonl --dim 4
one_error_line
err_has "line 3 of bad_dim.jsonl has 3 values, the collection's dim is 4"
vs 5 import s.db docs2 bad_json.jsonl --dim 4
err_has "line 2 of bad_json.jsonl is not valid JSON"
vs 5 import s.db docs2 huge_number.jsonl --dim 4
err_has "line 2 of huge_number.jsonl is not valid JSON: number overflow"
vs 5 import s.db docs2 deep.jsonl --dim 4
err_has "line 1 of deep.jsonl is refused: arrays and objects are nested deeper than 64 levels"
vs 5 import s.db docs2 dup.jsonl --dim 4
err_has 'line 3 of dup.jsonl repeats the id "x1" of line 1'
vs 5 import s.db docs2 bad_meta.jsonl --dim 4
err_has 'metadata "tags" is array'
vs 5 import s.db docs2 typo.jsonl --dim 4
err_has 'unknown key "embeddings"'
vs 0 --json count s.db
check "failed imports created nothing" "'docs2' not in d['collections']"

# --- export -----------------------------------------------------------------------------
step "export jsonl round trip"
vs 0 export s.db docs docs.jsonl
cmp -s a.jsonl docs.jsonl || fail "export of an imported JSON Lines file differs: $(diff a.jsonl docs.jsonl | head -20)"
vs 5 export s.db docs docs.jsonl          # exists: not replaced without --force
err_has "--force"
vs 0 export s.db docs docs.jsonl --force
cmp -s a.jsonl docs.jsonl || fail "export --force changed the output"
ls -a | grep -q '\.tmp-' && fail "export left a temporary file"

step "export npy round trip"
vs 0 --json export s.db vec vec.npy
check "npy export" "d['records'] == 21 and d['dim'] == 4"
vs 0 import s.db vec2 vec.npy --dim 4 --metric l2 --id-prefix r
vs 0 --json get s.db vec --include embeddings
mv out vec_get.json
vs 0 --json get s.db vec2 --include embeddings
python3 -c "
import json, sys
a = [r['embedding'] for r in json.load(open('vec_get.json'))['records']]
b = [r['embedding'] for r in json.load(open('out'))['records']]
sys.exit(0 if a == b and len(a) == 21 else 1)" || fail "vectors differ after export npy and import npy"
vs 0 export s.db vec2 vec2.npy
cmp -s vec.npy vec2.npy || fail "a second npy export differs from the first"
vs 0 --json export s.db docs docs.npy   # records without an embedding are left out, with a note
check "npy export skips records without embedding" "d['records'] == 27 and d['skipped_without_embedding'] == 3"
err_has "have no embedding"

# --- get ------------------------------------------------------------------------------------
step "get"
vs 0 --json get s.db docs --where '{"year": {"$gte": 2020}}' --include metadatas
check "where" "sorted(r['id'] for r in d['records']) == ['doc-25', 'doc-26', 'doc-28', 'doc-29'] and all(r['metadata']['year'] >= 2020 for r in d['records'])"
vs 0 --json get s.db docs --where '{"$and": [{"open": true}, {"year": {"$lt": 2000}}]}'
check "where \$and" "[r['id'] for r in d['records']] == ['doc-02', 'doc-04']"
vs 0 --json get s.db docs --where-document '{"$contains": "graphs"}' --limit 3 --offset 1 --include documents
check "where-document, limit, offset" "[r['id'] for r in d['records']] == ['doc-06', 'doc-10', 'doc-14'] and 'metadata' not in d['records'][0]"
for huge in 9223372036854775808 18446744073709551615; do   # 2^63 and 2^64 - 1: past every record
  vs 0 --json get s.db docs --offset $huge
  check "offset $huge" "d['records'] == []"
  vs 0 --json get s.db docs --where-document '{"$contains": "graphs"}' --offset $huge
  check "filtered offset $huge" "d['records'] == []"
  vs 0 --json get s.db docs --limit $huge                 # as good as no limit
  check "limit $huge" "len(d['records']) == 30"
done
vs 0 get s.db docs --ids doc-05
out_has $'doc-05\tdocument 5 about vectors'
vs 5 get s.db docs --where '{"year": {"$gte": 2020}'
one_error_line
err_has "invalid filter"
vs 5 get s.db docs --where '{"year": {"$regex": "x"}}'
one_error_line
vs 5 get s.db docs --where-document '{"$contains": 3}'
vs 4 get s.db nosuch
err_has 'no collection named "nosuch"'

# --- query --------------------------------------------------------------------------------
step "query"
vs 0 --json query s.db vec --embedding '[0.5, -0.75, 1.5, -0.625]' --k 3
check "query by embedding" "d['results'][0]['id'] == 'f0' and d['results'][0]['distance'] == 0 and len(d['results']) == 3 and d['metric'] == 'l2'"
vs 0 --json query s.db vec --from a.npy --row 8 -k 1 --include none
check "query --from npy" "[r['id'] for r in d['results']] == ['n8'] and set(d['results'][0]) == {'id', 'distance'}"
vs 0 --json query s.db vec --from a.fvecs --row 11 -k 1
check "query --from fvecs" "d['results'][0]['id'] == 'f11'"
vs 0 --json query s.db docs --from a.jsonl --row 4 -k 2 --where '{"year": {"$gte": 1990}}' --include metadatas,embeddings
check "query --from jsonl, where" "d['results'][0]['id'] == 'doc-04' and d['results'][0]['distance'] == 0 and 'embedding' in d['results'][0]"
vs 0 query s.db vec --embedding '[0.5, -0.75, 1.5, -0.625]' -k 2
out_has $'1\t0\tf0'
vs 5 query s.db vec --embedding '[1, 2, 3]'
err_has "has 3 values, the collection's dim is 4"
vs 5 query s.db vec --embedding '[1, 2,'
vs 5 query s.db vec --from a.npy --row 9
err_has "there is no row 9"
vs 5 query s.db vec --embedding '[1,2,3,4]' --where '{"a": }'

# --- count and stats ------------------------------------------------------------------
step "count and stats"
vs 0 --json count s.db
check "count all" "d['collections'] == {'vec': 21, 'cos': 0, 'docs': 30, 'vec2': 21} and d['total'] == 72"
vs 0 count s.db docs
[ "$(cat out)" = "30" ] || fail "count s.db docs printed $(cat out)"
vs 0 --json stats s.db
check "stats" "d['schema_version'] >= 1 and d['files']['db'] > 0 and 'wal' in d['files'] and d['records'] == 72
and {c['name']: (c['dim'], c['metric'], c['count']) for c in d['collections']} == {'vec': (4, 'l2', 21), 'cos': (4, 'cosine', 0), 'docs': (4, 'l2', 30), 'vec2': (4, 'l2', 21)}"
vs 0 stats s.db
out_has "schema version"

# --- health, verify, compact --------------------------------------------------------------
step "health, verify, compact"
vs 0 health s.db
check "health report" "d['status'] == 'healthy' and any(c['name'] == 'quick_check' for c in d['checks'])"
vs 0 health s.db --force
check "health --force" "d['status'] == 'healthy'"
vs 0 --json verify s.db
check "verify report" "d['status'] == 'healthy' and any(c['name'] == 'checksums' for c in d['checks'])"
err_empty
vs 0 --json compact s.db
check "compact sizes" "d['before']['total'] > 0 and d['after']['total'] > 0"
vs 0 compact s.db
out_has " -> "

step "damaged store without a backup"
damage() {
  python3 -c "
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(4096); f.write(b'\\xab' * 8192)" "$1" || fail "could not damage $1"
}
digest() { python3 -c "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())" "$1"; }
vs 0 import nb.db docs a.jsonl --dim 4 --metric l2
damage nb.db
before=$(digest nb.db)
vs 2 health nb.db
check "unhealthy report" "d['status'] == 'unhealthy' and d['checks'][0]['status'] == 'unhealthy'"
vs 2 verify nb.db
check "unhealthy verify report" "d['status'] == 'unhealthy'"
vs 7 stats nb.db
one_error_line
vs 7 --no-recover count nb.db
one_error_line
vs 7 count nb.db                          # nothing to restore from
one_error_line
[ "$(digest nb.db)" = "$before" ] || fail "a command changed a damaged store that has no backup"

step "damaged store with a backup"
vs 0 import dam.db docs a.jsonl --dim 4 --metric l2
vs 0 --json backup dam.db
check "backup info" "d['records'] == 30 and d['bytes'] > 0"
damage dam.db
before=$(digest dam.db)
vs 2 health dam.db                        # inspection never repairs
vs 2 verify dam.db
vs 7 --no-recover get dam.db docs --ids doc-01
[ "$(digest dam.db)" = "$before" ] || fail "health, verify or --no-recover changed the damaged store"
vs 0 count dam.db docs                    # the recovery policy restores the backup at open
[ "$(cat out)" = "30" ] || fail "count after automatic recovery is $(cat out), expected 30"
err_has "note: the store was damaged and restore_backup_recovery restored it from"
ls dam.db.corrupt-* >/dev/null 2>&1 || fail "the damaged file was not kept as dam.db.corrupt-*"
vs 1 health dam.db                        # degraded: the recovery is shown until acknowledged
check "health shows the automatic recovery" "d['last_recovery']['policy'] == 'restore_backup_recovery'"
vs 1 verify dam.db
vs 1 health dam.db --acknowledge-recovery
vs 0 health dam.db
vs 0 verify dam.db

# --- lock timeout ------------------------------------------------------------------------
step "lock timeout"
python3 -c "
import fcntl, sys, time
f = open('s.db.lock', 'r+')
fcntl.lockf(f, fcntl.LOCK_EX)
print('locked', flush=True)
time.sleep(60)" >holder.out 2>&1 &
HOLDER=$!
for _ in $(seq 50); do grep -q locked holder.out && break; sleep 0.1; done
grep -q locked holder.out || fail "the lock holder did not start: $(cat holder.out)"
vs 6 --lock-timeout 50 import s.db vec one.jsonl --format jsonl
one_error_line
err_has "writer lock"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null; HOLDER=""

# --- backup and restore ----------------------------------------------------------------
step "backup and restore"
vs 0 --json backup s.db
check "backup info" "d['bytes'] > 0 and d['records'] == 72"
BACKUP=$(python3 -c "import json; print(json.load(open('out'))['path'])")
[ -f "$BACKUP" ] || fail "the backup file $BACKUP does not exist"
vs 0 import s.db vec one.jsonl --format jsonl
vs 0 count s.db vec
[ "$(cat out)" = "22" ] || fail "count after the extra import is $(cat out), expected 22"
vs 0 --json restore s.db "$BACKUP"
check "restore report" "d['action'] == 'restored' and d['rows_saved'] == 72 and d['quarantined'] != ''"
vs 0 count s.db vec
[ "$(cat out)" = "21" ] || fail "count after restore is $(cat out), expected 21"
vs 0 health s.db
vs 4 restore s.db no-such.backup
vs 7 restore s.db a.npy                   # not a backup: refused, nothing changed
one_error_line
vs 0 count s.db vec
[ "$(cat out)" = "21" ] || fail "a refused restore changed the store"

step "restore and recover a store that does not open"
cp s.db broken.db
python3 -c "
f = open('broken.db', 'r+b')
f.write(bytes(4096))  # page 1, with the schema, is gone: nothing of the file reads"
vs 7 count broken.db vec                  # no backup of broken.db and nothing reads: refused
one_error_line
vs 0 --json restore broken.db "$BACKUP"   # works without opening the store
check "restore of a store that does not open" \
  "d['action'] == 'restored' and d['rows_saved'] == 72 and d['quarantined'].startswith('$T/broken.db.corrupt-')"
vs 0 count broken.db vec
[ "$(cat out)" = "21" ] || fail "count after restoring broken.db is $(cat out), expected 21"
vs 0 --json recover broken.db --policy salvage
check "recover report" "d['policy'] == 'salvage_recovery' and d['rows_saved'] == 72 and d['rows_lost'] == 0"
vs 1 health broken.db                     # degraded until acknowledged
check "health shows the recovery" \
  "d['last_recovery']['policy'] == 'salvage_recovery' and any(c['name'] == 'recovery' and c['status'] == 'degraded' for c in d['checks'])"
vs 1 health broken.db --acknowledge-recovery
vs 0 health broken.db
check "the recovery was acknowledged" "d['last_recovery'] is None"
vs 3 recover broken.db --policy nonsense
vs 4 recover missing.db

# --- import-chroma ----------------------------------------------------------------------
step "import-chroma"
[ -f "$CHROMA/chroma.sqlite3" ] || fail "the ChromaDB fixture is missing: $CHROMA"
tree_digest() {
  python3 -c "
import hashlib, os, sys
root = sys.argv[1]
for d, dirs, files in sorted(os.walk(root)):
    dirs.sort()
    for n in sorted(files):
        p = os.path.join(d, n); st = os.lstat(p)
        print(os.path.relpath(p, root), st.st_size, oct(st.st_mode), hashlib.sha256(open(p, 'rb').read()).hexdigest())
" "$1"
}
tree_digest "$CHROMA" >fixture.before || fail "cannot read the fixture"
vs 0 --json import-chroma "$CHROMA" chroma.db --dry-run
check "dry run" "d['dry_run'] is True and {c['name']: c['records'] for c in d['collections']} == {'papers': 243, 'notes': 166}"
[ ! -e chroma.db ] || fail "import-chroma --dry-run created the store"
vs 0 --json import-chroma "$CHROMA" chroma.db
check "import-chroma" "{c['name']: (c['records'], c['metric'], c['dim']) for c in d['collections']} == {'papers': (243, 'cosine', 16), 'notes': (166, 'l2', 8)} and 'ChromaDB 1.0' in d['chroma_version']"
vs 0 --json count chroma.db
check "chroma counts" "d['collections'] == {'papers': 243, 'notes': 166}"
for c in papers notes; do
  vs 0 --json get chroma.db "$c" --include all
  mv out "get_$c.json"
done
python3 - "$EXPECTED" <<'EOF' || fail "imported records differ from the fixture's expected.json"
import json, struct, sys
expected = json.load(open(sys.argv[1]))
for c in expected['collections']:
    got = {r['id']: r for r in json.load(open('get_%s.json' % c['name']))['records']}
    assert len(got) == c['count'] == len(c['records']), (c['name'], len(got), c['count'])
    for e in c['records']:
        g = got[e['id']]
        assert g['document'] == e.get('document'), (e['id'], g['document'], e.get('document'))
        want = {}
        for k, tv in (e.get('meta') or {}).items():
            (t, v), = tv.items()
            want[k] = (t, v)
        have = {}
        for k, v in g['metadata'].items():
            t = 'bool' if isinstance(v, bool) else 'int' if isinstance(v, int) else 'double' if isinstance(v, float) else 'string'
            have[k] = (t, v)
        assert have == want, (e['id'], have, want)
        if e.get('embedding'):
            hexed = struct.pack('<%df' % len(g['embedding']), *g['embedding']).hex()
            # Vectors from the log tail are the ones sent (embedding_sent);
            # the others are as ChromaDB's get() returned them (embedding).
            assert hexed in (e['embedding'], e.get('embedding_sent')), (e['id'], 'embedding differs')
print('records, documents, typed metadata and embeddings match expected.json')
EOF
for c in papers notes; do
  python3 -c "
import json, sys
c = [c for c in json.load(open(sys.argv[1]))['collections'] if c['name'] == sys.argv[2]][0]
for i, q in enumerate(c['queries']):
    open('q_%s_%d.json' % (sys.argv[2], i), 'w').write(json.dumps({'embedding': q['embedding'], 'ids': q['ids']}))
print(len(c['queries']))" "$EXPECTED" "$c" >nq || fail "cannot read the fixture's queries"
  for i in $(seq 0 $(($(cat nq) - 1))); do
    emb=$(python3 -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))['embedding']))" "q_${c}_$i.json")
    vs 0 --json query chroma.db "$c" --embedding "$emb" -k 10 --include none
    python3 -c "
import json, sys
want = json.load(open(sys.argv[1]))['ids']
got = [r['id'] for r in json.load(open('out'))['results']]
sys.exit(0 if got == want else 1)" "q_${c}_$i.json" || fail "query $i on $c: top-10 differs from ChromaDB's: $(head -c 1500 out)"
  done
done
vs 5 import-chroma "$CHROMA" chroma.db
one_error_line
err_has 'the store has a collection named "notes" already'
vs 0 --json import-chroma "$CHROMA" chroma.db --prefix old_ --batch 50
check "prefix" "sorted(c['name'] for c in d['collections']) == ['old_notes', 'old_papers']"
vs 0 --json import-chroma "$CHROMA" chroma.db --on-conflict replace
vs 0 --json import-chroma "$CHROMA" chroma.db --on-conflict merge
vs 0 --json count chroma.db
check "counts after replace and merge" "d['total'] == 2 * (243 + 166)"
vs 9 import-chroma "$T" other.db
err_has "not a ChromaDB persist directory"
[ ! -e other.db ] || fail "a refused import-chroma created the store"
vs 0 verify chroma.db
tree_digest "$CHROMA" >fixture.after || fail "cannot read the fixture"
cmp -s fixture.before fixture.after || fail "import-chroma changed the fixture: $(diff fixture.before fixture.after)"

step "import-chroma: all or nothing"
# Damaged copies of the fixture, damaged with real bytes: random bytes in the
# second collection's data_level0.bin (papers; collections are read by name),
# a record that add refuses (a metadata key starting with '$'), and a
# collection that never got an embedding.
python3 - "$CHROMA" <<'EOF' || fail "cannot make the damaged ChromaDB copies"
import os, random, shutil, sqlite3, sys
def copy(name):
    shutil.copytree(sys.argv[1], name)
    return sqlite3.connect(os.path.join(name, 'chroma.sqlite3'))
db = copy('chroma_random')
seg, = db.execute("SELECT s.id FROM segments s JOIN collections c ON c.id = s.collection "
                  "WHERE c.name = 'papers' AND s.scope = 'VECTOR'").fetchone()
db.close()
path = os.path.join('chroma_random', seg, 'data_level0.bin')
rng = random.Random(7)
size = os.path.getsize(path)
with open(path, 'wb') as f:
    f.write(bytes(rng.getrandbits(8) for _ in range(size)))
db = copy('chroma_badkey')
db.execute("INSERT INTO embedding_metadata (id, key, string_value) SELECT e.id, '$where', 'x' FROM embeddings e "
           "JOIN segments s ON s.id = e.segment_id JOIN collections c ON c.id = s.collection "
           "WHERE c.name = 'papers' AND e.embedding_id = 'paper-0008'")
db.commit(); db.close()
db = copy('chroma_nodim')
db.execute("INSERT INTO collections (id, name, dimension, database_id, config_json_str) VALUES "
           "('11111111-2222-3333-4444-555555555555', 'empty', NULL, '00000000-0000-0000-0000-000000000000', NULL)")
db.execute("INSERT INTO segments (id, type, scope, collection) VALUES "
           "('11111111-2222-3333-4444-000000000001', 'urn:chroma:segment/metadata/sqlite', 'METADATA', "
           "'11111111-2222-3333-4444-555555555555'), "
           "('11111111-2222-3333-4444-000000000002', 'urn:chroma:segment/vector/hnsw-local-persisted', 'VECTOR', "
           "'11111111-2222-3333-4444-555555555555')")
db.commit(); db.close()
EOF
# dump_store <store> <file>: every collection with every record, in a file to compare.
dump_store() {
  vs 0 --json count "$1"
  cp out "$2"
  local c
  for c in $(python3 -c "import json; print(' '.join(sorted(json.load(open('out'))['collections'])))"); do
    vs 0 --json get "$1" "$c" --include all
    cat out >>"$2"
  done
}
for dry in --dry-run ""; do
  # shellcheck disable=SC2086  # $dry is one word or none
  vs 7 import-chroma chroma_random fresh.db $dry
  one_error_line
  err_has "data_level0.bin"
  err_has "in no live record"
  [ ! -e fresh.db ] || fail "a refused import-chroma $dry created the store"
  # shellcheck disable=SC2086
  vs 5 import-chroma chroma_badkey fresh.db $dry
  err_has 'collection "papers"'
  err_has 'paper-0008'
  [ ! -e fresh.db ] || fail "a refused import-chroma $dry created the store"
done
dump_store chroma.db store.before
for args in "chroma_random --on-conflict replace" "chroma_random --prefix new_" \
            "chroma_badkey --on-conflict replace" "chroma_badkey --prefix new_"; do
  want=7
  case "$args" in chroma_badkey*) want=5 ;; esac
  # shellcheck disable=SC2086  # $args is two or three words
  vs $want import-chroma $args chroma.db
  dump_store chroma.db store.after
  cmp -s store.before store.after || fail "a refused \`import-chroma $args\` changed the store"
done
for dry in --dry-run ""; do
  # shellcheck disable=SC2086
  vs 5 import-chroma chroma_nodim nodim.db $dry
  one_error_line
  err_has 'collection "empty" has no dimension'
  err_has "--skip-empty"
  [ ! -e nodim.db ] || fail "a refused import-chroma $dry created the store"
done
vs 0 --json import-chroma chroma_nodim nodim.db --skip-empty --dry-run
check "skip-empty dry run" "[(c['name'], c['skipped'], c['action']) for c in d['collections']] == [('empty', True, 'skip'), ('notes', False, 'create'), ('papers', False, 'create')]"
vs 0 --json import-chroma chroma_nodim nodim.db --skip-empty
check "skip-empty" "[(c['name'], c['skipped'], c['records']) for c in d['collections']] == [('empty', True, 0), ('notes', False, 166), ('papers', False, 243)]"
vs 0 import-chroma chroma_nodim nodim2.db --skip-empty
out_has "imported 409 records in 2 collections (1 skipped)"
out_has "empty"
out_has "skipped: it never got an embedding"
vs 0 --json count nodim.db
check "skip-empty counts" "d['collections'] == {'papers': 243, 'notes': 166}"

# --- progress display ---------------------------------------------------------------------
step "progress display"
python3 -c "
import struct
with open('big.fvecs', 'wb') as f:
    for i in range(20000):
        f.write(struct.pack('<i', 8) + struct.pack('<8f', *[((i * 7 + j) % 13) * 0.5 + 0.25 for j in range(8)]))
" || fail "cannot write big.fvecs"
vs 0 import p.db big big.fvecs --dim 8 --metric l2
err_empty
vs 0 export p.db big big.npy
err_empty
vs 0 verify p.db
err_empty
if command -v script >/dev/null 2>&1; then
  timeout 120 script -qec "'$V' import p.db big2 big.fvecs --dim 8 --metric l2; '$V' export p.db big2 big2.npy; '$V' verify p.db >/dev/null" /dev/null \
    </dev/null >tty.out 2>&1 || fail "the run under a pseudo-terminal failed: $(tail -c 2000 tty.out)"
  for want in "import [" "ETA" "records/s" "export [" "verify"; do
    grep -qF -- "$want" tty.out || fail "no \"$want\" in the progress drawn on a terminal: $(tail -c 2000 tty.out | tr '\r' '\n')"
  done
  timeout 120 script -qec "'$V' --no-progress import p.db big3 big.fvecs --dim 8" /dev/null </dev/null >tty2.out 2>&1 ||
    fail "the --no-progress run failed: $(cat tty2.out)"
  grep -qF "ETA" tty2.out && fail "--no-progress drew a progress bar"
else
  echo "SKIP: progress under a pseudo-terminal: \`script\` (util-linux) is not installed"
fi

echo "cli_test: all checks passed"
