// BLOOM's tokenizer: Hugging Face tokenizer.json (BPE over GPT-2 byte-level symbols) with exactly the semantics of
// Hugging Face's Rust `tokenizers` library, so token ids match what transformers feeds the model.
//
// Pipeline of tokenize(), as HF runs it for BLOOM:
//   1. added tokens (<unk> <s> </s> <pad>, ...) are cut out of the raw text, leftmost-longest, never BPE'd;
//   2. the rest goes through the Split pre-tokenizer (BLOOM's regex, Isolated), then ByteLevel (each byte becomes
//      one printable character), then BPE with merges applied by rank.
// tokenizer.json features outside what BLOOM-family tokenizers use (normalizers, other pre-tokenizers or
// models, BPE dropout, subword prefixes, byte fallback, template post-processors) are refused at load time
// with BLOOM_ERR_UNSUPPORTED rather than silently tokenized differently.
//
// Threading: a loaded vocab is immutable apart from an internal, mutex-guarded word cache; every const method may
// be called from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bloom {

class vocab {
public:
    // Loads a Hugging Face tokenizer.json.
    // Throws bloom::error: BLOOM_ERR_IO (missing or unreadable file), BLOOM_ERR_FORMAT (bad JSON, missing or
    // mistyped field, a merge naming a token absent from the vocab), BLOOM_ERR_UNSUPPORTED (a model type other than
    // BPE, a normalizer, pre-tokenizer, decoder or post-processor this implementation does not have). Messages start
    // with the path.
    static std::unique_ptr<vocab> load_hf(const std::string & tokenizer_json_path);

    // llama.cpp's token types, as tokenizer.ggml.token_type stores them.
    enum token_type : int32_t {
        token_normal = 1, token_unknown = 2, token_control = 3, token_user_defined = 4, token_unused = 5,
        token_byte = 6,
    };

    // A tokenizer as GGUF metadata holds it (the tokenizer.ggml.* keys of model "gpt2", pre-tokenizer "bloom"),
    // in the layout llama.cpp's convert_hf_to_gguf.py writes: every id below n_vocab has an entry, ids without a
    // token are "[PAD<id>]" of type unused, added tokens are control (special) or user_defined.
    struct gguf_data {
        std::vector<std::string> tokens;  // by id
        std::vector<int32_t>     types;   // by id, token_type values; empty: all normal
        std::vector<std::string> merges;  // "left right", by rank
        int32_t bos = -1, eos = -1, unk = -1, pad = -1;  // -1: the file names none ("<s>" etc. are looked up)
    };

    // Builds the tokenizer from GGUF metadata, with the same tokenization as load_hf gives for the tokenizer.json
    // it was converted from: the vocabulary is every token not of type unused; control tokens become special added
    // tokens and user_defined ones non-special added tokens (as HF's added tokens, matched before BPE); BLOOM's
    // Split + ByteLevel pre-tokenizer without prefix space, which is what pre-tokenizer "bloom" means.
    // Throws bloom::error(BLOOM_ERR_FORMAT) for inconsistent data (a merge naming an unknown token, a token listed
    // twice, a special id out of range); messages start with `where` and name the key.
    static std::unique_ptr<vocab> from_gguf(const gguf_data & data, const std::string & where);

    // The inverse of from_gguf, for writing a GGUF: tokens padded to n_vocab (the embedding's rows, >= n_tokens()),
    // types as convert_hf_to_gguf.py assigns them, merges in rank order. Throws bloom::error(BLOOM_ERR_UNSUPPORTED)
    // when GGUF's "bloom" pre-tokenizer cannot express this tokenizer (a prefix space, no BLOOM Split, ignore_merges,
    // a merge of tokens containing a space), so that a converted file never tokenizes differently.
    gguf_data to_gguf(int32_t n_vocab) const;

    ~vocab();
    vocab(const vocab &) = delete;
    vocab & operator=(const vocab &) = delete;

    // Token ids of UTF-8 text, as HF's encode(text, add_special_tokens=...) (BLOOM's post-processor adds nothing).
    // parse_special: match special added tokens in the text; false treats "<s>" etc. as plain text (HF's
    // encode_special_tokens mode; non-special added tokens are still matched).
    // Throws bloom::error(BLOOM_ERR_INVALID_ARGUMENT) on invalid UTF-8, naming the byte offset.
    std::vector<int32_t> tokenize(std::string_view text, bool parse_special) const;

    // The bytes a token stands for, as HF's ByteLevel decoder produces them: the spelling mapped back through the
    // byte table (possibly part of a UTF-8 sequence). An added token goes through the same rule, which gives its
    // content for "<s>" and the like; a spelling with a character outside the table is taken as is.
    // "" for an id with no token (outside [0, n_tokens()) included).
    std::string token_to_piece(int32_t id) const;

    // The token as the vocab spells it (e.g. "Ġworld"); an added token's content. "" for an id with no token.
    // Borrowed until the vocab is freed.
    const std::string & token_to_string(int32_t id) const;

    // HF's decode(ids, skip_special_tokens): the tokens' bytes joined, then invalid UTF-8 replaced with U+FFFD as
    // Rust's String::from_utf8_lossy does. Ids with no token are skipped, as HF does.
    std::string decode(const int32_t * ids, size_t n, bool skip_special) const;

    // True for added tokens marked "special" (BLOOM: all four).
    bool is_special(int32_t id) const;

    // 1 + the largest id in the vocab or the added tokens.
    int32_t n_tokens() const;

    // Ids of "<s>", "</s>", "<pad>", "<unk>" (added tokens or vocab entries); -1 when absent.
    int32_t bos() const;
    int32_t eos() const;
    int32_t pad() const;
    int32_t unk() const;

    struct impl;

private:
    explicit vocab(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

// Length of the longest prefix of s[0..n) that can be emitted now: everything except a trailing, still incomplete
// UTF-8 sequence that the next bytes could complete. A tail that can never become valid is not held back (it will
// come out as U+FFFD). For streaming detokenization; the result is <= n.
size_t utf8_complete_prefix(const char * s, size_t n);

// s with every invalid UTF-8 sequence replaced by U+FFFD, one per maximal invalid subpart, exactly as Rust's
// String::from_utf8_lossy (and so HF's decode) does.
std::string utf8_lossy(std::string_view s);

} // namespace bloom
