// Pieces shared by make-fixture.mjs and golden.mjs: BLOOM's tokenizer.json layout, its pre-tokenizer pattern and the
// GPT-2 byte-to-character table that ByteLevel uses.

// BLOOM's Split pattern exactly as it stands in bigscience/bloom's tokenizer.json. The Rust library compiles it with
// Oniguruma, where `[` inside a class opens a NESTED class, so the excluded set is `(`, `\s`, `|`, the nested class
// `.,!?…。，、।۔،` and `)`.
export const BLOOM_SPLIT_REGEX = ' ?[^(\\s|[.,!?…。，、।۔،])]+';

// The same language in JavaScript: Onig's `\s` is Unicode White_Space (JS `\s` also has U+FEFF and lacks U+0085).
// Used only by our own trainer; the oracles get the original pattern.
export const BLOOM_SPLIT_JS = /\x20?[^()|\p{White_Space}.,!?…。，、।۔،]+/gu;

// Split(Isolated): every match and every gap between matches is a piece of its own.
export function bloomSplit(text) {
    const pieces = [];
    let prev = 0;
    for (const m of text.matchAll(BLOOM_SPLIT_JS)) {
        if (m.index > prev) pieces.push(text.slice(prev, m.index));
        pieces.push(m[0]);
        prev = m.index + m[0].length;
    }
    if (prev < text.length) pieces.push(text.slice(prev));
    return pieces;
}

// GPT-2's reversible byte -> printable character table: printable Latin-1 bytes map to themselves, the other 68 bytes
// to U+0100.. in byte order.
export function bytesToChars() {
    const keep = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const table = new Array(256);
    let n = 0;
    for (let b = 0; b < 256; ++b) table[b] = keep(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
    return table;
}

const BYTE_CHARS = bytesToChars();
const ENCODER = new TextEncoder();

export function byteLevel(piece) {
    let out = '';
    for (const b of ENCODER.encode(piece)) out += BYTE_CHARS[b];
    return out;
}

export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<pad>'];

// The tokenizer.json object in BLOOM's layout (key order included), given the BPE vocab and merges.
export function bloomTokenizerJson(vocab, merges) {
    return {
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: SPECIAL_TOKENS.map((content, id) => ({
            id,
            special: true,
            content,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
        })),
        normalizer: null,
        pre_tokenizer: {
            type: 'Sequence',
            pretokenizers: [
                { type: 'Split', pattern: { Regex: BLOOM_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
                { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
            ],
        },
        post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: false },
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: false },
        model: {
            type: 'BPE',
            dropout: null,
            unk_token: null,
            continuing_subword_prefix: null,
            end_of_word_suffix: null,
            fuse_unk: false,
            vocab,
            merges,
        },
    };
}
