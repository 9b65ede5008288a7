#!/usr/bin/env bash
# Regenerates the tokenizer fixture and golden file with the reference implementation (Hugging Face's Rust tokenizers,
# via its Node binding; see ci/tokenizer-oracle/golden.mjs) and fails if either differs from the committed copy.
# With the path of a built test-vocab, also replays the test's hand-derived cases against the same reference.
# Needs node >= 18 and npm with access to the npm registry. Usage: ci/check-tokenizer-oracle.sh [path/to/test-vocab]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
oracle="$here/tokenizer-oracle"
data="$here/../native/tests/data"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$oracle" && npm ci --no-audit --no-fund --loglevel=error)

status=0
node "$oracle/make-fixture.mjs" "$tmp/bloom-tiny-tokenizer.json"
if ! diff -q "$data/bloom-tiny-tokenizer.json" "$tmp/bloom-tiny-tokenizer.json" >/dev/null; then
    echo "bloom-tiny-tokenizer.json: regenerated fixture differs from the committed one (corpus or trainer changed?)" >&2
    diff "$data/bloom-tiny-tokenizer.json" "$tmp/bloom-tiny-tokenizer.json" | head -n 40 >&2
    status=1
fi

node "$oracle/golden.mjs" "$tmp/tokenizer-golden.json"
if ! diff -q "$data/tokenizer-golden.json" "$tmp/tokenizer-golden.json" >/dev/null; then
    echo "tokenizer-golden.json: the reference tokenizer now gives different results than the committed golden" >&2
    diff "$data/tokenizer-golden.json" "$tmp/tokenizer-golden.json" | head -n 40 >&2
    status=1
fi

if [ $# -ge 1 ]; then
    mkdir "$tmp/hand"
    BLOOM_VOCAB_TEST_DUMP="$tmp/hand" "$1" >/dev/null || { echo "$1 failed" >&2; status=1; }
    node "$oracle/verify-hand-cases.mjs" "$tmp/hand" || status=1
fi

if [ "$status" -eq 0 ]; then
    echo "tokenizer oracle: fixture and golden file match the committed copies${1:+; hand cases confirmed}"
fi
exit "$status"
