// BLOOM's tokenizer with the semantics of Hugging Face's Rust `tokenizers` (crate version 0.2x): added-vocabulary
// extraction (added_vocabulary.rs), Split + ByteLevel pre-tokenization (pre_tokenizers/), BPE with ranked merges
// (models/bpe/), ByteLevel decoding and from_utf8_lossy. Where HF's behaviour is surprising, the comment says so:
// those are the places a "cleaner" rewrite would drift from the ids BLOOM was trained on.
#include "bloom-vocab.h"

#include "bloom-error.h"
#include "bloom-json.h"
#include "bloom-log.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace bloom {

// ------------------------------------------------------------------------------------------------------------- UTF-8

namespace {

// One step of UTF-8 decoding by Unicode's Table 3-7 (well-formed byte sequences). On failure `len` is the length of
// the maximal subpart: the bytes that still looked like the start of a valid sequence, at least 1. That is the unit
// both Rust's from_utf8_lossy and the W3C/Unicode "substitution of maximal subparts" replace with one U+FFFD.
struct utf8_step {
    uint32_t cp;
    uint32_t len;
    bool     ok;
    bool     truncated; // failed only because the input ended: more bytes could still make it valid
};

utf8_step utf8_next(const unsigned char * s, size_t n, size_t i) {
    const unsigned char b0 = s[i];
    if (b0 < 0x80) {
        return {b0, 1, true, false};
    }
    uint32_t need; // continuation bytes after the lead
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1; cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2; cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;      // no overlong 3-byte forms
        if (b0 == 0xED) hi = 0x9F;      // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3; cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;      // no overlong 4-byte forms
        if (b0 == 0xF4) hi = 0x8F;      // nothing above U+10FFFF
    } else {
        return {0, 1, false, false};    // a continuation byte or C0, C1, F5..FF: never a lead
    }
    for (uint32_t k = 1; k <= need; ++k) {
        if (i + k >= n) {
            return {0, k, false, true};
        }
        const unsigned char b = s[i + k];
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) {
            return {0, k, false, false};
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, need + 1, true, false};
}

void append_utf8(std::string & out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

// Decodes valid UTF-8 (already checked) one code point at a time.
uint32_t next_cp(std::string_view s, size_t & i) {
    const utf8_step st = utf8_next(reinterpret_cast<const unsigned char *>(s.data()), s.size(), i);
    i += st.len;
    return st.cp;
}

} // namespace

size_t utf8_complete_prefix(const char * s, size_t n) {
    const auto * u = reinterpret_cast<const unsigned char *>(s);
    // Only a lead byte among the last three can start a sequence that is still missing bytes.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const size_t p = n - back;
        if ((u[p] & 0xC0) == 0x80) {
            continue; // continuation byte: its lead is further back
        }
        const utf8_step st = utf8_next(u, n, p);
        return (!st.ok && st.truncated) ? p : n;
    }
    return n;
}

std::string utf8_lossy(std::string_view s) {
    const auto * u = reinterpret_cast<const unsigned char *>(s.data());
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const utf8_step st = utf8_next(u, s.size(), i);
        if (st.ok) {
            out.append(s.data() + i, st.len);
        } else {
            out += "\xEF\xBF\xBD";
        }
        i += st.len;
    }
    return out;
}

// ------------------------------------------------------------------------------------------ character classes

namespace {

// Unicode White_Space, which is what both Oniguruma's `\s` (the Split regex) and Rust regex's `\s` (added tokens'
// lstrip/rstrip) mean on UTF-8 text. Note U+0085 is in and U+FEFF (BOM) is out, unlike JavaScript's `\s`.
bool is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// BLOOM's pattern ` ?[^(\s|[.,!?…。，、।۔،])]+` is Oniguruma syntax: the `[` inside the class opens a nested class,
// so the excluded characters are `(`, `|`, `)`, White_Space and the nested class's punctuation.
bool is_bloom_split_excluded(uint32_t c) {
    switch (c) {
        case '(': case '|': case ')': case '.': case ',': case '!': case '?':
        case 0x2026: // … horizontal ellipsis
        case 0x3002: // 。 ideographic full stop
        case 0xFF0C: // ， fullwidth comma
        case 0x3001: // 、 ideographic comma
        case 0x0964: // । devanagari danda
        case 0x06D4: // ۔ arabic full stop
        case 0x060C: // ، arabic comma
            return true;
        default:
            return is_white_space(c);
    }
}

// Rust regex's `\w` (Alphabetic, marks, decimal digits, connector punctuation, join controls), used only by added
// tokens with single_word = true, which no BLOOM tokenizer sets. Exact for ASCII and Latin-1; above that it is an
// approximation without Unicode tables: everything is a word character except white space and the main
// punctuation/symbol blocks.
bool is_word_char(uint32_t c) {
    if (c < 0x80) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    }
    if (c <= 0xFF) {
        return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
    }
    if (is_white_space(c)) return false;
    if (c >= 0x2000 && c <= 0x206F) return c == 0x200C || c == 0x200D || c == 0x203F || c == 0x2040 || c == 0x2054;
    if (c >= 0x2190 && c <= 0x2BFF) return false;   // arrows, math operators, technical, box drawing, dingbats
    if (c >= 0x3000 && c <= 0x303F) return (c >= 0x3005 && c <= 0x3007) || (c >= 0x3021 && c <= 0x302F) ||
                                           (c >= 0x3031 && c <= 0x3035) || (c >= 0x3038 && c <= 0x303C);
    if (c >= 0xFF01 && c <= 0xFF0F) return false;   // fullwidth punctuation
    if (c >= 0x1F000 && c <= 0x1FAFF) return false; // emoji and pictographs
    return true;
}

// GPT-2's byte <-> character table used by ByteLevel: printable Latin-1 bytes stand for themselves, the other 68 bytes
// (controls, space, DEL, NBSP, soft hyphen) for U+0100.. in byte order. Every mapped character is below U+0144.
struct byte_level_table {
    std::array<uint32_t, 256> byte_to_cp{};
    std::array<int16_t, 512> cp_to_byte{}; // -1: not a ByteLevel character

    byte_level_table() {
        cp_to_byte.fill(-1);
        uint32_t n = 0;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            byte_to_cp[b] = keep ? b : 256 + n++;
            cp_to_byte[byte_to_cp[b]] = int16_t(b);
        }
    }
};

const byte_level_table & byte_level() {
    static const byte_level_table table;
    return table;
}

// ByteLevel's decoder turns a token back into bytes only if every character of it is in the table; a token with any
// other character (an added token such as "<s>" passes, one with a space would not) is taken as its UTF-8 bytes.
std::string byte_level_decode(const std::string & token) {
    const auto & t = byte_level();
    std::string out;
    out.reserve(token.size());
    size_t i = 0;
    while (i < token.size()) {
        const uint32_t cp = next_cp(token, i);
        if (cp >= t.cp_to_byte.size() || t.cp_to_byte[cp] < 0) {
            return token;
        }
        out += char(t.cp_to_byte[cp]);
    }
    return out;
}

} // namespace

// ------------------------------------------------------------------------------------------------------ the model

struct added_token {
    std::string content;
    int32_t id = -1;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

struct vocab::impl {

    // BPE model
    std::unordered_map<std::string, int32_t> model_vocab;        // spelling -> id
    std::vector<const std::string *> model_id_to_token;          // id -> spelling (key in model_vocab), or null
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges; // (left id << 32 | right id) -> (rank, merged id)
    std::array<int32_t, 256> byte_token{};                       // id of each byte's ByteLevel character, or -1
    int32_t unk_id = -1;                                         // model.unk_token, when set
    bool fuse_unk = false;
    bool ignore_merges = false;

    // pre-tokenizer
    bool split_bloom = false;        // Split(BLOOM's pattern, Isolated) before ByteLevel
    bool add_prefix_space = false;   // ByteLevel's

    // added vocabulary, in the order HF matches them
    std::vector<added_token> added;  // index: added-token slot (same content appears once)
    std::unordered_map<std::string, size_t> added_by_content;
    std::vector<size_t> match_plain;      // slots with normalized = false: matched on the raw text first
    std::vector<size_t> match_normalized; // slots with normalized = true: matched on what is left

    // per id, for the lookups
    int32_t n_tokens = 0;
    std::vector<const std::string *> id_to_string; // added content if the id is an added token, else vocab spelling
    std::vector<uint8_t> special;                 // HF: the token's string is a special added token's content

    int32_t bos = -1, eos = -1, pad = -1, unk = -1;

    // Words seen before (HF keeps the same cache); results never depend on it.
    static constexpr size_t cache_max_entries = 1 << 16;
    static constexpr size_t cache_max_word_bytes = 256;
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

    int32_t token_to_id(const std::string & s) const {
        if (auto it = added_by_content.find(s); it != added_by_content.end()) return added[it->second].id;
        if (auto it = model_vocab.find(s); it != model_vocab.end()) return it->second;
        return -1;
    }

    // A piece of the input after added-token extraction: either an added token's id or text still to tokenize.
    struct piece {
        std::string_view text;
        int32_t id; // -1: plain text
    };

    void find_added(std::string_view sentence, const std::vector<size_t> & slots, bool parse_special,
                    std::vector<piece> & out) const;
    void tokenize_text(std::string_view text, std::vector<int32_t> & out) const;
    void bpe(const std::string & word, std::vector<int32_t> & out) const;
};

// HF's AddedVocabulary::find_matches: leftmost-longest, non-overlapping matches of the added tokens in `sentence`;
// whatever lies between them is plain text. Kept deliberately close to HF, including two quirks: a match that is
// then discarded (single_word failing, or a special token while parse_special is off) still consumes its text, so a
// shorter token inside it is not looked for; and the search resumes after the match itself, not after the
// whitespace that rstrip added to it.
void vocab::impl::find_added(std::string_view s, const std::vector<size_t> & slots, bool parse_special,
                             std::vector<piece> & out) const {
    if (slots.empty()) {
        out.push_back({s, -1});
        return;
    }
    const auto * u = reinterpret_cast<const unsigned char *>(s.data());
    // the code point ending at byte `end` / starting at byte `begin` of valid UTF-8
    auto cp_before = [&](size_t end) {
        size_t b = end - 1;
        while (b > 0 && (u[b] & 0xC0) == 0x80) --b;
        size_t i = b;
        return next_cp(s, i);
    };
    auto cp_at = [&](size_t begin) {
        size_t i = begin;
        return next_cp(s, i);
    };

    // Only positions whose byte starts some token need the comparisons.
    std::array<bool, 256> first_byte{};
    for (size_t slot : slots) first_byte[static_cast<unsigned char>(added[slot].content[0])] = true;

    size_t start_offset = 0;
    size_t pos = 0;
    while (pos < s.size()) {
        // leftmost position with a match, the longest token there
        const added_token * best = nullptr;
        size_t start = pos;
        for (; start < s.size(); ++start) {
            if (!first_byte[u[start]]) continue;
            for (size_t slot : slots) {
                const std::string & c = added[slot].content;
                if ((!best || c.size() > best->content.size()) && c.size() <= s.size() - start &&
                    std::memcmp(s.data() + start, c.data(), c.size()) == 0) {
                    best = &added[slot];
                }
            }
            if (best) break;
        }
        if (!best) {
            break;
        }
        size_t stop = start + best->content.size();
        pos = stop;

        if (!parse_special && best->special) {
            continue;
        }
        if (best->single_word) {
            const bool start_space = start == 0 || !is_word_char(cp_before(start));
            const bool stop_space = stop == s.size() || !is_word_char(cp_at(stop));
            if (!start_space || !stop_space) {
                continue;
            }
        }
        if (best->lstrip) {
            size_t b = start;
            while (b > 0) {
                size_t p = b - 1;
                while (p > 0 && (u[p] & 0xC0) == 0x80) --p;
                size_t i = p;
                if (!is_white_space(next_cp(s, i))) break;
                b = p;
            }
            start = std::max(b, start_offset);
        }
        if (best->rstrip) {
            size_t i = stop;
            while (i < s.size()) {
                size_t j = i;
                if (!is_white_space(next_cp(s, j))) break;
                i = j;
            }
            stop = i;
        }
        if (start_offset < start) {
            out.push_back({s.substr(start_offset, start - start_offset), -1});
        }
        out.push_back({s.substr(start, stop - start), best->id});
        start_offset = stop;
    }
    if (start_offset < s.size()) {
        out.push_back({s.substr(start_offset), -1});
    }
}

// BPE over one pre-tokenized word given in ByteLevel characters (HF's BPE::merge_word + Word::merge_all): start from
// one symbol per character, then repeatedly apply the adjacent merge of lowest rank, the leftmost among equals.
void vocab::impl::bpe(const std::string & word, std::vector<int32_t> & out) const {
    if (ignore_merges) {
        if (auto it = model_vocab.find(word); it != model_vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = word.size() < cache_max_word_bytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (auto it = cache.find(word); it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }

    struct symbol {
        int32_t id;
        int32_t prev, next; // -1: none
        bool removed;
    };
    std::vector<symbol> syms;
    syms.reserve(word.size());
    auto add = [&](int32_t id) {
        const int32_t n = int32_t(syms.size());
        if (n > 0) syms.back().next = n;
        syms.push_back({id, n - 1, -1, false});
    };
    // Each ByteLevel character is one input byte. A character missing from the vocab becomes unk_token when the model
    // has one (consecutive ones fused into one when fuse_unk), and is dropped otherwise, as HF does.
    const auto & bl = byte_level();
    bool pending_unk = false;
    size_t i = 0;
    while (i < word.size()) {
        const uint32_t cp = next_cp(word, i);
        const int16_t b = cp < bl.cp_to_byte.size() ? bl.cp_to_byte[cp] : int16_t(-1);
        const int32_t id = b >= 0 ? byte_token[size_t(b)] : -1;
        if (id >= 0) {
            if (pending_unk) add(unk_id);
            pending_unk = false;
            add(id);
        } else if (unk_id >= 0) {
            if (pending_unk && !fuse_unk) add(unk_id);
            pending_unk = true;
        }
    }
    if (pending_unk) add(unk_id);

    struct candidate {
        int32_t rank, pos, new_id;
        bool operator>(const candidate & o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<candidate, std::vector<candidate>, std::greater<candidate>> queue;
    auto lookup = [&](int32_t a, int32_t b) -> const std::pair<int32_t, int32_t> * {
        auto it = merges.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
        return it == merges.end() ? nullptr : &it->second;
    };
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
        if (auto m = lookup(syms[k].id, syms[k + 1].id)) queue.push({m->first, int32_t(k), m->second});
    }
    while (!queue.empty()) {
        const candidate top = queue.top();
        queue.pop();
        symbol & left = syms[size_t(top.pos)];
        if (left.removed || left.next < 0) {
            continue;
        }
        const symbol right = syms[size_t(left.next)];
        // A stale entry: the pair at this position changed since it was queued. HF compares only the merged id.
        const auto * m = lookup(left.id, right.id);
        if (!m || m->second != top.new_id) {
            continue;
        }
        syms[size_t(left.next)].removed = true;
        left.id = top.new_id;
        left.next = right.next;
        if (right.next >= 0) syms[size_t(right.next)].prev = top.pos;
        if (left.prev >= 0) {
            if (auto pm = lookup(syms[size_t(left.prev)].id, left.id)) queue.push({pm->first, left.prev, pm->second});
        }
        if (left.next >= 0) {
            if (auto nm = lookup(left.id, syms[size_t(left.next)].id)) queue.push({nm->first, top.pos, nm->second});
        }
    }

    const size_t first = out.size();
    for (const symbol & s : syms) {
        if (!s.removed) out.push_back(s.id);
    }
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (cache.size() < cache_max_entries) {
            cache.emplace(word, std::vector<int32_t>(out.begin() + std::ptrdiff_t(first), out.end()));
        }
    }
}

// Pre-tokenization of one stretch of plain text (Split with BLOOM's pattern, behaviour Isolated: every match and
// every gap between matches is a word), then ByteLevel and BPE for each word.
void vocab::impl::tokenize_text(std::string_view text, std::vector<int32_t> & out) const {
    const auto & bl = byte_level();
    std::string word;
    auto emit = [&](std::string_view w) {
        if (w.empty()) return;
        word.clear();
        if (add_prefix_space && w.front() != ' ') append_utf8(word, bl.byte_to_cp[' ']);
        for (unsigned char c : w) append_utf8(word, bl.byte_to_cp[c]);
        bpe(word, out);
    };
    if (!split_bloom) {
        emit(text);
        return;
    }
    // The run of non-excluded characters starting at byte i: where it ends.
    auto run_end = [&](size_t i) {
        while (i < text.size()) {
            size_t j = i;
            if (is_bloom_split_excluded(next_cp(text, j))) break;
            i = j;
        }
        return i;
    };
    size_t gap = 0, pos = 0;
    while (pos < text.size()) {
        // ` ?X+` at pos. If the space is not followed by X, the regex backtracks to an empty ` ?` and then needs X at
        // the space itself, which is excluded: no match starts here.
        size_t end = pos;
        if (text[pos] == ' ') {
            const size_t e = run_end(pos + 1);
            if (e > pos + 1) end = e;
        } else {
            end = run_end(pos);
        }
        if (end > pos) {
            emit(text.substr(gap, pos - gap));
            emit(text.substr(pos, end - pos));
            gap = pos = end;
        } else {
            size_t j = pos;
            next_cp(text, j);
            pos = j;
        }
    }
    emit(text.substr(gap));
}

vocab::vocab(std::unique_ptr<impl> p) : p_(std::move(p)) {}
vocab::~vocab() = default;

std::vector<int32_t> vocab::tokenize(std::string_view text, bool parse_special) const {
    const auto * u = reinterpret_cast<const unsigned char *>(text.data());
    for (size_t i = 0; i < text.size();) {
        const utf8_step st = utf8_next(u, text.size(), i);
        if (!st.ok) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "text is not valid UTF-8 at byte offset %zu (byte 0x%02X%s)", i,
                 unsigned(u[i]), st.truncated ? ", a sequence cut short by the end of the text" : "");
        }
        i += st.len;
    }

    // Added tokens: first those matched on the raw text, then (HF would normalize here; BLOOM has no normalizer)
    // those matched on the normalized pieces that are left.
    std::vector<impl::piece> pass1, pieces;
    p_->find_added(text, p_->match_plain, parse_special, pass1);
    for (const auto & pc : pass1) {
        if (pc.id >= 0) {
            pieces.push_back(pc);
        } else {
            p_->find_added(pc.text, p_->match_normalized, parse_special, pieces);
        }
    }

    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    for (const auto & pc : pieces) {
        if (pc.text.empty()) continue; // HF drops empty pieces, added-token ones included
        if (pc.id >= 0) {
            out.push_back(pc.id);
        } else {
            p_->tokenize_text(pc.text, out);
        }
    }
    return out;
}

const std::string & vocab::token_to_string(int32_t id) const {
    static const std::string none;
    if (id < 0 || id >= p_->n_tokens || !p_->id_to_string[size_t(id)]) return none;
    return *p_->id_to_string[size_t(id)];
}

std::string vocab::token_to_piece(int32_t id) const {
    if (id < 0 || id >= p_->n_tokens || !p_->id_to_string[size_t(id)]) return {};
    // HF decodes added tokens through the same ByteLevel decoder; "<s>" and friends are ByteLevel characters
    // standing for themselves, and anything else falls back to its UTF-8 bytes, i.e. the content.
    return byte_level_decode(*p_->id_to_string[size_t(id)]);
}

std::string vocab::decode(const int32_t * ids, size_t n, bool skip_special) const {
    std::string bytes;
    for (size_t i = 0; i < n; ++i) {
        const int32_t id = ids[i];
        if (id < 0 || id >= p_->n_tokens || !p_->id_to_string[size_t(id)]) continue;
        if (skip_special && p_->special[size_t(id)]) continue;
        bytes += byte_level_decode(*p_->id_to_string[size_t(id)]);
    }
    return utf8_lossy(bytes);
}

bool vocab::is_special(int32_t id) const {
    return id >= 0 && id < p_->n_tokens && p_->special[size_t(id)];
}

int32_t vocab::n_tokens() const { return p_->n_tokens; }
int32_t vocab::bos() const { return p_->bos; }
int32_t vocab::eos() const { return p_->eos; }
int32_t vocab::pad() const { return p_->pad; }
int32_t vocab::unk() const { return p_->unk; }

// ---------------------------------------------------------------------------------------------------------- loading

namespace {

// Ids index flat arrays; a larger one is a corrupt file, not a vocabulary (BLOOM's has 250680 tokens).
constexpr int64_t max_token_id = (int64_t(1) << 24) - 1;

// BLOOM's Split pattern as it stands in its tokenizer.json; the only Split this implementation has.
constexpr const char * bloom_split_pattern = " ?[^(\\s|[.,!?…。，、।۔،])]+";

// Per-id tables and the special token ids, once the vocabulary and added tokens are known (both loaders).
void finish(vocab::impl & v) {
    int64_t n = int64_t(v.model_id_to_token.size());
    for (const auto & a : v.added) n = std::max(n, int64_t(a.id) + 1);
    v.n_tokens = int32_t(n);
    v.id_to_string.assign(size_t(n), nullptr);
    for (size_t id = 0; id < v.model_id_to_token.size(); ++id) v.id_to_string[id] = v.model_id_to_token[id];
    for (const auto & a : v.added) v.id_to_string[size_t(a.id)] = &a.content;
    // HF's decode asks whether the token's *string* is a special added token's content.
    std::unordered_set<std::string_view> special_contents;
    for (const auto & a : v.added) {
        if (a.special) special_contents.insert(a.content);
    }
    v.special.assign(size_t(n), 0);
    for (size_t id = 0; id < size_t(n); ++id) {
        v.special[id] = v.id_to_string[id] && special_contents.count(*v.id_to_string[id]) ? 1 : 0;
    }
    v.bos = v.token_to_id("<s>");
    v.eos = v.token_to_id("</s>");
    v.pad = v.token_to_id("<pad>");
    v.unk = v.token_to_id("<unk>");
}

// The byte-level character of each byte, looked up in the vocabulary.
void find_byte_tokens(vocab::impl & v) {
    const auto & bl = byte_level();
    std::string ch;
    for (size_t b = 0; b < 256; ++b) {
        ch.clear();
        append_utf8(ch, bl.byte_to_cp[b]);
        auto it = v.model_vocab.find(ch);
        v.byte_token[b] = it == v.model_vocab.end() ? -1 : it->second;
    }
}

// convert_hf_to_gguf.py's does_token_look_special: added tokens it marks as control although HF does not call them
// special.
bool looks_special(const std::string & t) {
    auto starts = [&](const char * p) { return t.rfind(p, 0) == 0; };
    auto ends = [&](const char * p) {
        const size_t n = std::strlen(p);
        return t.size() >= n && t.compare(t.size() - n, n, p) == 0;
    };
    return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || (starts("<|") && ends("|>")) ||
           (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) || (starts("<unused") && ends(">"));
}

struct loader {
    const std::string & path;

    [[noreturn]] void bad(bloom_status status, const std::string & what) const {
        fail(status, "%s: %s", path.c_str(), what.c_str());
    }

    const json & field(const json & obj, const char * key, const char * where) const {
        auto it = obj.find(key);
        if (it == obj.end()) bad(BLOOM_ERR_FORMAT, format("%s.%s is missing", where, key));
        return *it;
    }

    bool flag(const json & obj, const char * key, bool dflt, const char * where) const {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) return dflt;
        if (!it->is_boolean()) bad(BLOOM_ERR_FORMAT, format("%s.%s must be true or false", where, key));
        return it->get<bool>();
    }

    static std::string type_of(const json & obj) {
        auto it = obj.find("type");
        return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string("(no type)");
    }

    void byte_level_options(const json & bl, const char * where, bool & add_prefix_space) const {
        if (flag(bl, "use_regex", true, where)) {
            bad(BLOOM_ERR_UNSUPPORTED, format("%s: ByteLevel with use_regex = true (GPT-2's pre-tokenizer regex) is "
                                              "not supported, only BLOOM's Split + ByteLevel(use_regex = false)",
                                              where));
        }
        add_prefix_space = flag(bl, "add_prefix_space", true, where);
    }

    void pre_tokenizer(const json & j, vocab::impl & v) const {
        auto it = j.find("pre_tokenizer");
        if (it == j.end() || it->is_null()) {
            bad(BLOOM_ERR_UNSUPPORTED, "pre_tokenizer is null; only byte-level BPE (ByteLevel pre-tokenizer) is supported");
        }
        if (!it->is_object()) bad(BLOOM_ERR_FORMAT, "pre_tokenizer must be an object");
        std::vector<const json *> steps;
        if (type_of(*it) == "Sequence") {
            const json & list = field(*it, "pretokenizers", "pre_tokenizer");
            if (!list.is_array()) bad(BLOOM_ERR_FORMAT, "pre_tokenizer.pretokenizers must be an array");
            for (const json & s : list) {
                if (!s.is_object()) bad(BLOOM_ERR_FORMAT, "pre_tokenizer.pretokenizers holds a non-object");
                steps.push_back(&s);
            }
        } else {
            steps.push_back(&*it);
        }
        // Accepted: [Split(BLOOM's pattern)] then ByteLevel, in that order.
        size_t k = 0;
        if (k < steps.size() && type_of(*steps[k]) == "Split") {
            const json & s = *steps[k];
            const json & pattern = field(s, "pattern", "pre_tokenizer Split");
            auto rx = pattern.is_object() ? pattern.find("Regex") : pattern.end();
            if (!pattern.is_object() || rx == pattern.end() || !rx->is_string() ||
                rx->get<std::string>() != bloom_split_pattern) {
                bad(BLOOM_ERR_UNSUPPORTED, format("pre_tokenizer Split pattern %s is not supported; only BLOOM's "
                                                  "{\"Regex\": \"%s\"}", pattern.dump().c_str(), bloom_split_pattern));
            }
            const json & behavior = field(s, "behavior", "pre_tokenizer Split");
            if (!behavior.is_string() || behavior.get<std::string>() != "Isolated") {
                bad(BLOOM_ERR_UNSUPPORTED, format("pre_tokenizer Split behavior %s is not supported; only \"Isolated\"",
                                                  behavior.dump().c_str()));
            }
            if (flag(s, "invert", false, "pre_tokenizer Split")) {
                bad(BLOOM_ERR_UNSUPPORTED, "pre_tokenizer Split with invert = true is not supported");
            }
            v.split_bloom = true;
            ++k;
        }
        if (k < steps.size() && type_of(*steps[k]) == "ByteLevel") {
            byte_level_options(*steps[k], "pre_tokenizer ByteLevel", v.add_prefix_space);
            ++k;
            if (k == steps.size()) return;
        }
        const std::string what = k < steps.size() ? type_of(*steps[k]) : std::string("no ByteLevel step");
        bad(BLOOM_ERR_UNSUPPORTED, format("pre_tokenizer %s is not supported; expected BLOOM's Sequence[Split, "
                                          "ByteLevel] (or ByteLevel alone)", what.c_str()));
    }

    void model(const json & j, vocab::impl & v) const {
        const json & m = field(j, "model", "tokenizer");
        if (!m.is_object()) bad(BLOOM_ERR_FORMAT, "model must be an object");
        const std::string type = type_of(m);
        if (type != "BPE") {
            bad(BLOOM_ERR_UNSUPPORTED, format("model type %s is not supported; only BPE", type.c_str()));
        }
        if (auto d = m.find("dropout"); d != m.end() && !d->is_null()) {
            if (!d->is_number() || d->get<double>() < 0.0 || d->get<double>() > 1.0) {
                bad(BLOOM_ERR_FORMAT, "model.dropout must be null or in [0, 1]");
            }
            if (d->get<double>() != 0.0) bad(BLOOM_ERR_UNSUPPORTED, "BPE dropout (random merges) is not supported");
        }
        for (const char * key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (auto it = m.find(key); it != m.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
                bad(BLOOM_ERR_UNSUPPORTED, format("model.%s is not supported (BLOOM has none)", key));
            }
        }
        if (flag(m, "byte_fallback", false, "model")) bad(BLOOM_ERR_UNSUPPORTED, "model.byte_fallback is not supported");
        v.fuse_unk = flag(m, "fuse_unk", false, "model");
        v.ignore_merges = flag(m, "ignore_merges", false, "model");

        const json & vocab_json = field(m, "vocab", "model");
        if (!vocab_json.is_object()) bad(BLOOM_ERR_FORMAT, "model.vocab must be an object of token -> id");
        v.model_vocab.reserve(vocab_json.size());
        int64_t max_id = -1;
        for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
            if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > max_token_id) {
                bad(BLOOM_ERR_FORMAT, format("model.vocab[\"%s\"] must be an integer id in [0, %lld]",
                                             it.key().c_str(), (long long) max_token_id));
            }
            v.model_vocab[it.key()] = int32_t(it->get<int64_t>());
            max_id = std::max(max_id, it->get<int64_t>());
        }
        v.model_id_to_token.assign(size_t(max_id + 1), nullptr);
        for (const auto & [tok, id] : v.model_vocab) v.model_id_to_token[size_t(id)] = &tok;

        find_byte_tokens(v);

        if (auto u = m.find("unk_token"); u != m.end() && !u->is_null()) {
            if (!u->is_string()) bad(BLOOM_ERR_FORMAT, "model.unk_token must be a string or null");
            auto it = v.model_vocab.find(u->get<std::string>());
            // HF only fails when the unknown token is first needed; failing at load names the problem up front.
            if (it == v.model_vocab.end()) {
                bad(BLOOM_ERR_FORMAT, format("model.unk_token \"%s\" is not in model.vocab", u->get<std::string>().c_str()));
            }
            v.unk_id = it->second;
        }

        merges(field(m, "merges", "model"), v);
    }

    // Merges as "left right" strings (older files, BLOOM's) or [left, right] pairs (newer files). Rank = position,
    // "#version" lines skipped in the string form; a pair listed twice keeps its last rank, as HF's map does.
    void merges(const json & list, vocab::impl & v) const {
        if (!list.is_array()) bad(BLOOM_ERR_FORMAT, "model.merges must be an array");
        v.merges.reserve(list.size());
        std::string left, right;
        int32_t rank = 0;
        for (size_t i = 0; i < list.size(); ++i) {
            const json & e = list[i];
            if (e.is_string()) {
                const std::string & s = e.get_ref<const std::string &>();
                if (s.rfind("#version", 0) == 0) continue;
                const size_t sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                    bad(BLOOM_ERR_FORMAT, format("model.merges[%zu] \"%s\" is not two tokens separated by one space", i, s.c_str()));
                }
                left.assign(s, 0, sp);
                right.assign(s, sp + 1, std::string::npos);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                left = e[0].get<std::string>();
                right = e[1].get<std::string>();
            } else {
                bad(BLOOM_ERR_FORMAT, format("model.merges[%zu] must be a \"left right\" string or a [left, right] pair", i));
            }
            auto find = [&](const std::string & t) {
                auto it = v.model_vocab.find(t);
                if (it == v.model_vocab.end()) {
                    bad(BLOOM_ERR_FORMAT, format("model.merges[%zu] uses \"%s\", which is not in model.vocab", i, t.c_str()));
                }
                return it->second;
            };
            const int32_t a = find(left), b = find(right), merged = find(left + right);
            v.merges[(uint64_t(uint32_t(a)) << 32) | uint32_t(b)] = {rank++, merged};
        }
    }

    void added_tokens(const json & j, vocab::impl & v) const {
        auto it = j.find("added_tokens");
        if (it == j.end() || it->is_null()) return;
        if (!it->is_array()) bad(BLOOM_ERR_FORMAT, "added_tokens must be an array");
        // HF (tokenizer/serialization.rs) does not take the listed ids: it adds the tokens in order, each getting the
        // id its content already has (in the added tokens so far, else in model.vocab) or the next free one, which
        // starts at the model's vocab size (its entry count).
        int64_t next_id = int64_t(v.model_vocab.size());
        for (size_t i = 0; i < it->size(); ++i) {
            const json & t = (*it)[i];
            const std::string where = format("added_tokens[%zu]", i);
            if (!t.is_object()) bad(BLOOM_ERR_FORMAT, where + " must be an object");
            const json & content = field(t, "content", where.c_str());
            if (!content.is_string()) bad(BLOOM_ERR_FORMAT, where + ".content must be a string");
            added_token a;
            a.content = content.get<std::string>();
            a.special = flag(t, "special", false, where.c_str());
            a.single_word = flag(t, "single_word", false, where.c_str());
            a.lstrip = flag(t, "lstrip", false, where.c_str());
            a.rstrip = flag(t, "rstrip", false, where.c_str());
            a.normalized = flag(t, "normalized", !a.special, where.c_str());
            if (a.content.empty()) continue; // HF ignores empty added tokens
            if (auto prev = v.added_by_content.find(a.content); prev != v.added_by_content.end()) {
                a.id = v.added[prev->second].id;
                v.added[prev->second] = a; // same content again: the later options win
                continue;
            }
            if (auto m = v.model_vocab.find(a.content); m != v.model_vocab.end()) {
                a.id = m->second;
            } else {
                if (next_id > max_token_id) bad(BLOOM_ERR_FORMAT, "too many added tokens");
                a.id = int32_t(next_id++);
            }
            v.added_by_content[a.content] = v.added.size();
            v.added.push_back(std::move(a));
        }
        for (size_t slot = 0; slot < v.added.size(); ++slot) {
            (v.added[slot].normalized ? v.match_normalized : v.match_plain).push_back(slot);
        }
    }

    void other_components(const json & j) const {
        if (auto n = j.find("normalizer"); n != j.end() && !n->is_null()) {
            bad(BLOOM_ERR_UNSUPPORTED, format("normalizer %s is not supported; BLOOM has none", type_of(*n).c_str()));
        }
        auto d = j.find("decoder");
        if (d == j.end() || d->is_null() || !d->is_object() || type_of(*d) != "ByteLevel") {
            bad(BLOOM_ERR_UNSUPPORTED, format("decoder %s is not supported; only ByteLevel",
                                              d == j.end() || !d->is_object() ? "null" : type_of(*d).c_str()));
        }
        // ByteLevel as post-processor only trims offsets; anything else (TemplateProcessing, ...) would add tokens.
        if (auto p = j.find("post_processor"); p != j.end() && !p->is_null()) {
            if (!p->is_object() || type_of(*p) != "ByteLevel") {
                bad(BLOOM_ERR_UNSUPPORTED, format("post_processor %s is not supported; only ByteLevel or null",
                                                  p->is_object() ? type_of(*p).c_str() : "(not an object)"));
            }
        }
    }
};

} // namespace

std::unique_ptr<vocab> vocab::load_hf(const std::string & path) {
    const json j = read_json_file(path);
    loader ld{path};
    if (!j.is_object()) ld.bad(BLOOM_ERR_FORMAT, "not a tokenizer.json (top level is not an object)");

    auto v = std::make_unique<impl>();
    ld.model(j, *v);
    ld.other_components(j);
    ld.pre_tokenizer(j, *v);
    ld.added_tokens(j, *v);
    finish(*v);
    return std::unique_ptr<vocab>(new vocab(std::move(v)));
}

std::unique_ptr<vocab> vocab::from_gguf(const gguf_data & g, const std::string & where) {
    auto bad = [&](const std::string & what) { fail(BLOOM_ERR_FORMAT, "%s: %s", where.c_str(), what.c_str()); };
    const size_t n = g.tokens.size();
    if (n == 0) bad("tokenizer.ggml.tokens is empty");
    if (int64_t(n) > max_token_id + 1) bad(format("tokenizer.ggml.tokens has %zu entries, more than %lld", n,
                                                  (long long) max_token_id + 1));
    if (!g.types.empty() && g.types.size() != n) {
        bad(format("tokenizer.ggml.token_type has %zu entries but tokenizer.ggml.tokens has %zu", g.types.size(), n));
    }

    auto v = std::make_unique<impl>();
    // What pre-tokenizer "bloom" means: BLOOM's Split, then ByteLevel without a prefix space; BPE without an unknown
    // token (a byte-level vocabulary covers every byte).
    v->split_bloom = true;
    v->add_prefix_space = false;

    size_t n_used = 0;  // 1 + the last id with a token
    v->model_vocab.reserve(n);
    for (size_t id = 0; id < n; ++id) {
        const int32_t type = g.types.empty() ? token_normal : g.types[id];
        if (type < token_normal || type > token_byte) {
            bad(format("tokenizer.ggml.token_type[%zu] is %d, not a llama.cpp token type (1..6)", id, type));
        }
        if (type == token_unused) continue;
        const std::string & t = g.tokens[id];
        if (t.empty()) bad(format("tokenizer.ggml.tokens[%zu] is empty", id));
        auto [it, inserted] = v->model_vocab.emplace(t, int32_t(id));
        if (!inserted) bad(format("tokenizer.ggml.tokens has \"%s\" twice (ids %d and %zu)", t.c_str(), it->second, id));
        n_used = id + 1;
        if (type == token_control || type == token_user_defined) {
            // As HF loads BLOOM's added tokens: no stripping, special ones matched on the raw text.
            added_token a;
            a.content = t;
            a.id = int32_t(id);
            a.special = type == token_control;
            a.normalized = !a.special;
            v->added_by_content[a.content] = v->added.size();
            v->added.push_back(std::move(a));
        }
    }
    v->model_id_to_token.assign(n_used, nullptr);
    for (const auto & [tok, id] : v->model_vocab) v->model_id_to_token[size_t(id)] = &tok;
    for (size_t slot = 0; slot < v->added.size(); ++slot) {
        (v->added[slot].normalized ? v->match_normalized : v->match_plain).push_back(slot);
    }
    find_byte_tokens(*v);

    // llama.cpp splits a merge at its first space after the first character, which lets a token start with one.
    v->merges.reserve(g.merges.size());
    for (size_t i = 0; i < g.merges.size(); ++i) {
        const std::string & m = g.merges[i];
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos || sp + 1 >= m.size()) {
            bad(format("tokenizer.ggml.merges[%zu] \"%s\" is not two tokens separated by a space", i, m.c_str()));
        }
        const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
        auto find = [&](const std::string & t) {
            auto it = v->model_vocab.find(t);
            if (it == v->model_vocab.end()) {
                bad(format("tokenizer.ggml.merges[%zu] uses \"%s\", which is not in tokenizer.ggml.tokens", i, t.c_str()));
            }
            return it->second;
        };
        const int32_t a = find(left), b = find(right), merged = find(left + right);
        v->merges[(uint64_t(uint32_t(a)) << 32) | uint32_t(b)] = {int32_t(i), merged};
    }

    finish(*v);
    // The file's special ids replace the lookup by content, which stays for those it leaves out (the converter writes
    // them only when tokenizer_config.json or config.json names them); an id must name a token.
    const std::pair<int32_t, int32_t *> ids[] = {{g.bos, &v->bos}, {g.eos, &v->eos}, {g.unk, &v->unk}, {g.pad, &v->pad}};
    const char * const keys[] = {"bos", "eos", "unknown", "padding"};
    for (size_t k = 0; k < 4; ++k) {
        const int32_t id = ids[k].first;
        if (id < 0) continue;
        if (id >= v->n_tokens || !v->id_to_string[size_t(id)]) {
            bad(format("tokenizer.ggml.%s_token_id is %d, which names no token", keys[k], id));
        }
        *ids[k].second = id;
    }
    return std::unique_ptr<vocab>(new vocab(std::move(v)));
}

vocab::gguf_data vocab::to_gguf(int32_t n_vocab) const {
    const impl & v = *p_;
    if (!v.split_bloom || v.add_prefix_space || v.ignore_merges) {
        fail(BLOOM_ERR_UNSUPPORTED, "this tokenizer (%s%s%s) differs from what GGUF's pre-tokenizer \"bloom\" means "
             "(BLOOM's Split, then ByteLevel without a prefix space), so a GGUF file could not reproduce it",
             v.split_bloom ? "" : "no BLOOM Split pre-tokenizer; ", v.add_prefix_space ? "add_prefix_space; " : "",
             v.ignore_merges ? "ignore_merges" : "");
    }
    if (n_vocab < v.n_tokens) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "%d tokens do not fit in an embedding of %d rows", v.n_tokens, n_vocab);
    }
    for (const auto & a : v.added) {
        if (a.lstrip || a.rstrip || a.single_word) {
            BLOOM_LOG_WARN("added token \"%s\" has lstrip/rstrip/single_word, which GGUF does not store; llama.cpp and "
                           "a reload of the GGUF match it without them", a.content.c_str());
        }
    }
    gguf_data g;
    g.tokens.resize(size_t(n_vocab));
    g.types.assign(size_t(n_vocab), token_normal);
    std::vector<const added_token *> added_by_id(size_t(v.n_tokens), nullptr);
    for (const auto & a : v.added) added_by_id[size_t(a.id)] = &a;
    for (int32_t id = 0; id < n_vocab; ++id) {
        const std::string * s = id < v.n_tokens ? v.id_to_string[size_t(id)] : nullptr;
        if (!s) {
            // convert_hf_to_gguf.py's filler for ids the tokenizer does not use (BLOOM pads 250680 to 250880).
            g.tokens[size_t(id)] = "[PAD" + std::to_string(id) + "]";
            g.types[size_t(id)] = token_unused;
        } else if (const added_token * a = added_by_id[size_t(id)]) {
            g.tokens[size_t(id)] = *s;
            g.types[size_t(id)] = a->special || looks_special(*s) ? token_control : token_user_defined;
        } else {
            g.tokens[size_t(id)] = *s;
        }
    }
    std::vector<std::pair<int32_t, uint64_t>> by_rank;
    by_rank.reserve(v.merges.size());
    for (const auto & [pair, rm] : v.merges) by_rank.push_back({rm.first, pair});
    std::sort(by_rank.begin(), by_rank.end());
    g.merges.reserve(by_rank.size());
    for (const auto & [rank, pair] : by_rank) {
        const std::string & left = *v.model_id_to_token[size_t(pair >> 32)];
        const std::string & right = *v.model_id_to_token[size_t(pair & 0xffffffffu)];
        if (left.find(' ') != std::string::npos || right.find(' ') != std::string::npos) {
            fail(BLOOM_ERR_UNSUPPORTED, "merge \"%s\" + \"%s\" has a token with a space, which GGUF's \"left right\" "
                 "merge strings cannot hold", left.c_str(), right.c_str());
        }
        g.merges.push_back(left + " " + right);
    }
    g.bos = v.bos;
    g.eos = v.eos;
    g.unk = v.unk;
    g.pad = v.pad;
    return g;
}

} // namespace bloom
