// Replays the hand-derived cases of native/tests/test-vocab.cpp against Hugging Face's Rust tokenizers, so that the
// expectations written by reasoning are confirmed by the reference too. The test writes them out when run with
// BLOOM_VOCAB_TEST_DUMP=<dir> (the small tokenizer files plus hand-cases.json).
//
// parse_special = false has no switch in the Node binding; it is replayed on a copy of the tokenizer whose special
// added tokens can never match (content replaced), comparing token strings since HF then numbers the added tokens
// differently. That is the same thing unless a discarded special match would have hidden a non-special token; the test marks that
// one case as not replayable and leaves it out of the dump.
//
// Usage: node verify-hand-cases.mjs <dir>
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const dir = process.argv[2];
if (!dir) {
    console.error('usage: node verify-hand-cases.mjs <dir written by test-vocab with BLOOM_VOCAB_TEST_DUMP>');
    process.exit(2);
}
const cases = JSON.parse(readFileSync(join(dir, 'hand-cases.json'), 'utf8'));

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'tests', 'data');
const cache = new Map();
function tokenizer(file, parseSpecial) {
    const key = `${file}:${parseSpecial}`;
    if (!cache.has(key)) {
        const path = existsSync(join(dir, file)) ? join(dir, file) : join(dataDir, file);
        const json = JSON.parse(readFileSync(path, 'utf8'));
        if (!parseSpecial) {
            json.added_tokens = json.added_tokens.map((t, i) =>
                t.special ? { ...t, content: `\u0001never-matched-${i}\u0001` } : t);
        }
        cache.set(key, Tokenizer.fromString(JSON.stringify(json)));
    }
    return cache.get(key);
}

let failed = 0;
for (const c of cases) {
    let got;
    let want;
    if (c.decode !== undefined) {
        got = await tokenizer(c.tokenizer, true).decode(c.decode, c.skip_special);
        want = c.text;
    } else if (c.parse_special) {
        got = (await tokenizer(c.tokenizer, true).encode(c.text, null, { addSpecialTokens: true })).getIds();
        want = c.ids;
    } else {
        got = (await tokenizer(c.tokenizer, false).encode(c.text, null, { addSpecialTokens: true })).getTokens();
        want = c.ids.map((id) => tokenizer(c.tokenizer, true).idToToken(id));
    }
    if (JSON.stringify(got) !== JSON.stringify(want)) {
        ++failed;
        console.error(`${c.name}: HF gives ${JSON.stringify(got)}, the test expects ${JSON.stringify(want)}`);
    }
}
console.log(`${cases.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
