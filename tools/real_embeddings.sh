#!/usr/bin/env bash
# Builds a data set of real text embeddings for benchmarks/compare.cpp, from what Debian ships:
# every definition of the GCIDE dictionary and every WordNet gloss (about 370,000 texts of
# English), embedded by a fastText skip-gram model trained on those same texts. fastText's
# sentence vector (the mean of the normalized word vectors) is the kind of embedding a
# search service keeps per abstract; it is normalized here, as cosine collections store it.
#
#   tools/real_embeddings.sh [DIM] [OUT_DIR]     (defaults: 100, /tmp/vecstore-real)
#
# Writes OUT_DIR/base-DIM.fvecs (every text but the held-out ones) and OUT_DIR/query-DIM.fvecs
# (1,000 texts held out, so no query is in the base), in a fixed shuffled order. Training runs
# on one thread with a fixed seed, so the same packages give the same vectors.
set -euo pipefail
dim=${1:-100}
out=${2:-/tmp/vecstore-real}
mkdir -p "$out"

if ! command -v fasttext >/dev/null || [ ! -f /usr/share/dictd/gcide.dict.dz ] || [ ! -f /usr/share/wordnet/data.noun ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fasttext dict-gcide wordnet-base >/dev/null
fi

# One text per line, lower case, words only; duplicates dropped.
if [ ! -s "$out/texts.txt" ]; then
  python3 - "$out/texts.txt" <<'EOF'
import gzip, re, sys
texts = []
with gzip.open('/usr/share/dictd/gcide.dict.dz', 'rt', encoding='utf-8', errors='replace') as f:
    texts += f.read().split('\n\n')  # one entry per paragraph
for part in ('noun', 'verb', 'adj', 'adv'):
    with open(f'/usr/share/wordnet/data.{part}', encoding='utf-8', errors='replace') as f:
        texts += [line.split(' | ', 1)[1] for line in f if not line.startswith('  ') and ' | ' in line]
seen, kept = set(), []
for t in texts:
    t = re.sub(r'\[1913 Webster\]|\[PJC\]|\[WordNet 1\.5\]|\\[^\\]*\\', ' ', t)  # sources, pronunciations
    words = re.findall(r"[a-z0-9']+", t.lower())
    line = ' '.join(words)
    if len(words) >= 4 and line not in seen:
        seen.add(line)
        kept.append(line)
with open(sys.argv[1], 'w') as f:
    f.write('\n'.join(kept) + '\n')
print(f'{len(kept)} texts, {sum(len(k.split()) for k in kept)} words')
EOF
fi

if [ ! -s "$out/model-$dim.bin" ]; then
  fasttext skipgram -input "$out/texts.txt" -output "$out/model-$dim" -dim "$dim" -epoch 5 -minCount 2 \
    -thread 1 -seed 1 -verbose 1
fi
fasttext print-sentence-vectors "$out/model-$dim.bin" < "$out/texts.txt" > "$out/vectors-$dim.txt"

python3 - "$out/vectors-$dim.txt" "$out/base-$dim.fvecs" "$out/query-$dim.fvecs" "$dim" <<'EOF'
import math, random, struct, sys
src, base_path, query_path, dim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = []
with open(src) as f:
    for line in f:
        v = [float(x) for x in line.split()[-dim:]]
        norm = math.sqrt(sum(x * x for x in v))
        if norm > 0:
            rows.append([x / norm for x in v])
random.Random(42).shuffle(rows)
header = struct.pack('<i', dim)
pack = struct.Struct(f'<{dim}f').pack
for path, part in ((query_path, rows[:1000]), (base_path, rows[1000:])):
    with open(path, 'wb') as f:
        for v in part:
            f.write(header + pack(*v))
print(f'{len(rows) - 1000} base and 1000 query vectors of dim {dim}')
EOF
rm "$out/vectors-$dim.txt"
