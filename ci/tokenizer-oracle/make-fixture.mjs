// Trains a tiny byte-level BPE on corpus.txt and writes it as native/tests/data/bloom-tiny-tokenizer.json in the exact
// layout of BLOOM's tokenizer.json (same pre-tokenizer, decoder, post-processor and special tokens at ids 0-3), so the
// native tokenizer can be tested against the reference implementation without BLOOM's 250k-token file.
//
// The trainer is deliberately simple and deterministic (no library involved): pre-tokenize the corpus the way BLOOM
// does, count words, then repeatedly merge the most frequent adjacent pair (ties: the smaller pair in code-unit order)
// until the vocabulary holds exactly VOCAB_SIZE tokens. The result only has to be a valid BPE that exercises the
// tokenizer, multi-byte merges included; it does not have to be a good one.
//
// Usage: node make-fixture.mjs [output path]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bloomSplit, byteLevel, bytesToChars, bloomTokenizerJson, SPECIAL_TOKENS } from './bloom-format.mjs';

const VOCAB_SIZE = 1000;
const here = dirname(fileURLToPath(import.meta.url));
const outPath = process.argv[2] ?? join(here, '..', '..', 'native', 'tests', 'data', 'bloom-tiny-tokenizer.json');

// Word -> count, each word a list of symbols (byte-level characters to start with).
const counts = new Map();
for (const line of readFileSync(join(here, 'corpus.txt'), 'utf8').split(/(?<=\n)/)) {
    for (const piece of bloomSplit(line)) {
        const w = byteLevel(piece);
        counts.set(w, (counts.get(w) ?? 0) + 1);
    }
}
const words = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, n]) => ({ syms: [...w], n }));

const vocab = {};
let nextId = 0;
for (const t of SPECIAL_TOKENS) vocab[t] = nextId++;
for (const c of bytesToChars()) vocab[c] = nextId++;

const merges = [];
const SEP = '\u0000'; // never inside a byte-level symbol (byte 0 is U+0100)
while (nextId < VOCAB_SIZE) {
    const pairCounts = new Map();
    for (const { syms, n } of words) {
        for (let i = 0; i + 1 < syms.length; ++i) {
            const key = syms[i] + SEP + syms[i + 1];
            pairCounts.set(key, (pairCounts.get(key) ?? 0) + n);
        }
    }
    let best = null;
    let bestCount = 1; // a pair seen once teaches nothing
    for (const [key, n] of pairCounts) {
        if (n > bestCount || (n === bestCount && best !== null && key < best)) {
            best = key;
            bestCount = n;
        }
    }
    if (best === null) throw new Error(`corpus.txt too small: only ${nextId} tokens learned, need ${VOCAB_SIZE}`);
    const [a, b] = best.split(SEP);
    merges.push(`${a} ${b}`);
    const merged = a + b;
    // Two different merges can spell the same token ("ab"+"c" and "a"+"bc"); it keeps its first id.
    if (!(merged in vocab)) vocab[merged] = nextId++;
    for (const w of words) {
        const out = [];
        for (let i = 0; i < w.syms.length; ++i) {
            if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
                out.push(merged);
                ++i;
            } else {
                out.push(w.syms[i]);
            }
        }
        w.syms = out;
    }
}

writeFileSync(outPath, JSON.stringify(bloomTokenizerJson(vocab, merges), null, 2) + '\n');
const byteOf = new Map(bytesToChars().map((c, b) => [c, b]));
const multiByte = merges.filter((m) => [...m.replace(' ', '')].some((c) => byteOf.get(c) >= 0x80)).length;
console.log(`wrote ${outPath}: ${nextId} tokens, ${merges.length} merges (${multiByte} touch non-ASCII bytes)`);
