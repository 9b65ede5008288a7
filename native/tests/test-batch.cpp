// Many sequences in one context, through the C API only, on a tiny random f32 checkpoint (n_embd 64, 4 heads, 3
// layers, its own lm_head, the tiny test tokenizer's 1000 tokens), each check with flash attention on and off and an
// f32 KV cache:
//  - a sequence's logits decoded in a batch with others equal its logits decoded alone in a one-sequence context
//    within 1e-5 of the logits' range: mixes of 1..16 sequences of different prompt lengths, prefill pieces and
//    single decoded tokens in the same batches, tokens of different sequences in blocks or interleaved, sequences
//    removed, rolled back and restarted in freed cells; greedy ids identical;
//  - sequence operations: seq_cp (a prompt evaluated once, continued differently in each copy), seq_rm of a tail
//    and re-decode, seq_keep, seq_n_past, seq_tokens, cells_used;
//  - the single-sequence calls on a context of several sequences act on sequence 0 only;
//  - generators: bloom_generate = a bloom_generator_step loop; bloom_context_step over generators of different
//    prompts (long ones evaluated in pieces between the others' tokens, others joining in freed sequences) = each
//    alone; stop strings, held-back text, max_tokens, penalties, a full context; prompt reservations; the
//    log-probabilities generators record (n_logprobs) against the log-softmax of logits decoded alone;
//  - bad input gives the documented status and a message naming the problem, changes nothing, and leaves the
//    context usable (its next logits equal a fresh context's);
//  - 250 create/decode/free cycles, for ASan's leak check.
// The reference is always an independent path: a fresh context of one sequence and bloom_context_decode, or
// bloom_generate.
#include "bloom.h"

#include "check.h"
#include "checkpoint.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace bloom_test;

namespace {

constexpr double kTol = 1e-5;  // of the logits' range, for f32 weights and an f32 KV cache

bloom_model * g_model = nullptr;  // the model every helper uses: g_lm_head, or g_tied for test_held_back_tail
bloom_model * g_lm_head = nullptr;
bloom_model * g_tied = nullptr;
int32_t       g_vocab = 0;
int32_t       g_eos   = -1;
// One CPU thread: the model is tiny, and on a busy 2-core machine ggml's spinning workers made a 6-token decode take
// up to 280 ms instead of 0.2 ms (ctest runs the tests two at a time). One batch context of test_mix and two of
// test_cycles run with 2.
int32_t       g_threads = 1;
double        g_worst = 0;  // the largest relative logits difference seen in any batch-vs-alone comparison

using tokens_t = std::vector<int32_t>;
using row_t    = std::vector<float>;

const char * fa_name(int32_t fa) { return fa == BLOOM_FLASH_ATTN_ON ? "flash attention" : "no flash attention"; }

std::string lower(std::string s) {
    for (char & c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Expects status `want` from `got`, with a last error that contains every needle (case-insensitive).
#define EXPECT_STATUS(got, want, ...) expect_status(__FILE__, __LINE__, #got, (got), (want), {__VA_ARGS__})

void expect_status(const char * file, int line, const char * what, int32_t got, int32_t want,
                   std::initializer_list<const char *> needles) {
    const std::string msg = bloom_last_error();
    bool ok = got == want;
    if (ok && want != BLOOM_OK) {
        ok = !msg.empty();
        for (const char * n : needles) ok = ok && lower(msg).find(lower(n)) != std::string::npos;
    }
    if (!ok) {
        ++g_failures;
        std::fprintf(stderr, "%s:%d: %s: got %d (%s) '%s', expected %d (%s)", file, line, what, got,
                     bloom_status_string(got), msg.c_str(), want, bloom_status_string(want));
        for (const char * n : needles) std::fprintf(stderr, " naming '%s'", n);
        std::fprintf(stderr, "\n");
    }
}

// Compares a row with its reference; records the worst relative difference.
bool close_rows(const row_t & got, const row_t & ref, const char * what) {
    const double d = max_abs_diff(got, ref) / range_of(ref);
    if (!(d <= g_worst)) g_worst = d;  // a NaN sticks
    if (!(d <= kTol)) {
        ++g_failures;
        std::fprintf(stderr, "%s: logits differ from the reference by %.3g of their range (tolerance %g)\n", what, d,
                     kTol);
        return false;
    }
    return true;
}

tokens_t random_tokens(std::mt19937 & rng, size_t n) {
    tokens_t t(n);
    for (int32_t & x : t) x = 3 + int32_t(rng() % uint32_t(g_vocab - 3));  // no <unk> <s> </s>
    return t;
}

bloom_context_params ctx_params(uint32_t n_ctx, uint32_t n_batch, uint32_t n_seq_max, int32_t fa) {
    bloom_context_params p = bloom_context_default_params();
    p.n_ctx      = n_ctx;
    p.n_batch    = n_batch;
    p.n_threads  = g_threads;
    p.type_kv    = BLOOM_KV_F32;
    p.flash_attn = fa;
    p.n_seq_max  = n_seq_max;
    return p;
}

struct ctx_deleter { void operator()(bloom_context * c) const { bloom_context_free(c); } };
struct smpl_deleter { void operator()(bloom_sampler * s) const { bloom_sampler_free(s); } };
struct gen_deleter { void operator()(bloom_generator * g) const { bloom_generator_free(g); } };
using ctx_ptr  = std::unique_ptr<bloom_context, ctx_deleter>;
using smpl_ptr = std::unique_ptr<bloom_sampler, smpl_deleter>;
using gen_ptr  = std::unique_ptr<bloom_generator, gen_deleter>;

ctx_ptr new_ctx(uint32_t n_ctx, uint32_t n_batch, uint32_t n_seq_max, int32_t fa) {
    const bloom_context_params p = ctx_params(n_ctx, n_batch, n_seq_max, fa);
    bloom_context * c = nullptr;
    const int32_t st = bloom_context_init(&c, g_model, &p);
    if (st != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "bloom_context_init(n_ctx %u, n_batch %u, n_seq_max %u): %s\n", n_ctx, n_batch,
                     n_seq_max, bloom_last_error());
    }
    return ctx_ptr(c);
}

smpl_ptr new_sampler(float repetition_penalty = 1.0f, float temperature = 0.0f, uint64_t seed = 1) {
    bloom_sampler_params p = bloom_sampler_default_params();
    p.repetition_penalty = repetition_penalty;
    p.temperature = temperature;
    p.seed = seed;
    bloom_sampler * s = nullptr;
    CHECK_EQ(bloom_sampler_init(&s, g_model, &p), BLOOM_OK);
    return smpl_ptr(s);
}

row_t logits_row(const float * p) { return p ? row_t(p, p + g_vocab) : row_t(); }

// Logits of every position of tokens, decoded alone in a fresh one-sequence context in one call.
std::vector<row_t> alone_rows(int32_t fa, const tokens_t & tokens) {
    std::vector<row_t> rows;
    ctx_ptr c = new_ctx(512, 512, 1, fa);
    if (!c || tokens.empty()) return rows;
    if (bloom_context_decode(c.get(), tokens.data(), tokens.size(), true) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "alone decode: %s\n", bloom_last_error());
        return rows;
    }
    const float * l = nullptr;
    size_t n = 0;
    CHECK_EQ(bloom_context_get_logits(&l, &n, c.get()), BLOOM_OK);
    CHECK_EQ(n, tokens.size());
    for (size_t i = 0; i < n; ++i) rows.push_back(logits_row(l + i * size_t(g_vocab)));
    return rows;
}

row_t alone_last(int32_t fa, const tokens_t & tokens) {
    std::vector<row_t> r = alone_rows(fa, tokens);
    return r.empty() ? row_t() : r.back();
}

// Greedy continuation of prompt, alone, token by token: decode, argmax through a greedy sampler, decode it, ...
tokens_t alone_greedy(int32_t fa, const tokens_t & prompt, int n) {
    tokens_t out;
    ctx_ptr c = new_ctx(512, 512, 1, fa);
    smpl_ptr s = new_sampler();
    if (!c || !s) return out;
    CHECK_EQ(bloom_context_decode(c.get(), prompt.data(), prompt.size(), false), BLOOM_OK);
    for (int i = 0; i < n; ++i) {
        int32_t t = -1;
        CHECK_EQ(bloom_sampler_sample(&t, s.get(), c.get()), BLOOM_OK);
        out.push_back(t);
        if (i + 1 < n) CHECK_EQ(bloom_context_decode(c.get(), &t, 1, false), BLOOM_OK);
    }
    return out;
}

// A batch under construction; bool arrays kept as char so that they have data().
struct batch_builder {
    tokens_t             tok;
    std::vector<int32_t> pos, seq;
    std::unique_ptr<bool[]> want_buf;
    std::vector<char>    want;
    void add(int32_t t, int32_t p, int32_t s, bool w) {
        tok.push_back(t);
        pos.push_back(p);
        seq.push_back(s);
        want.push_back(w);
    }
    bloom_batch get(bool with_logits = true) {
        want_buf.reset(new bool[want.size() + 1]);
        for (size_t i = 0; i < want.size(); ++i) want_buf[i] = want[i] != 0;
        bloom_batch b = {};
        b.n_tokens = tok.size();
        b.tokens   = tok.data();
        b.pos      = pos.data();
        b.seq_id   = seq.data();
        b.logits   = with_logits ? want_buf.get() : nullptr;
        return b;
    }
};

// Decodes a batch that must succeed.
bool decode_ok(bloom_context * c, batch_builder & bb, bool with_logits = true) {
    bloom_batch b = bb.get(with_logits);
    const int32_t st = bloom_context_decode_batch(c, &b);
    if (st != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "decode_batch of %zu tokens: %s: %s\n", b.n_tokens, bloom_status_string(st),
                     bloom_last_error());
    }
    return st == BLOOM_OK;
}

row_t ith(const bloom_context * c, int32_t i) {
    const float * l = nullptr;
    if (bloom_context_get_logits_ith(&l, c, i) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "get_logits_ith(%d): %s\n", i, bloom_last_error());
        return {};
    }
    return logits_row(l);
}

tokens_t seq_tokens(const bloom_context * c, int32_t seq) {
    size_t n = 0;
    tokens_t t(1024);
    if (bloom_context_seq_tokens(t.data(), t.size(), &n, c, seq) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "seq_tokens(%d): %s\n", seq, bloom_last_error());
        return {};
    }
    t.resize(n);
    return t;
}

tokens_t concat(tokens_t a, const tokens_t & b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

tokens_t slice(const tokens_t & a, size_t from, size_t to) {
    return tokens_t(a.begin() + std::ptrdiff_t(from), a.begin() + std::ptrdiff_t(std::min(to, a.size())));
}

// ------------------------------------------------------------------------------------------ batches vs alone

// n_seq sequences with prompts of 1..24 tokens and 1..8 greedy tokens each, starting at different steps: each step
// puts into one batch a piece of every unfinished prompt (1..8 tokens) and the last sampled token of every sequence
// past its prompt, up to n_batch; some extra tokens ask for logits. Tokens of different sequences are either in
// blocks (in a shuffled order) or interleaved one by one. Every logits row is compared with the row of the same
// position decoded alone, and the greedy ids with a one-sequence greedy loop.
// With churn, `churn` times a finished sequence is checked and then either removed (seq_rm of all of it) and started
// again with a new prompt, or rolled back (seq_rm of a tail) and continued with new tokens: later tokens land in
// cells freed in any order, between other sequences' cells.
void test_mix(int32_t fa, int n_seq, uint32_t seed, bool interleave, int32_t threads = 1, int churn = 0,
              size_t max_prompt = 24) {
    std::mt19937 rng(seed);
    struct seq_state {
        tokens_t prompt, toks, gen;
        int n_gen = 0, start = 0;
        size_t n_eval = 0;
        std::map<int32_t, row_t> rows;  // position -> logits row from the batches
    };
    std::vector<seq_state> seqs(static_cast<size_t>(n_seq));
    for (seq_state & s : seqs) {
        s.prompt = random_tokens(rng, 1 + rng() % max_prompt);
        s.toks = s.prompt;
        s.n_gen = 1 + int(rng() % 8);
        s.start = int(rng() % 4);
    }
    const uint32_t n_batch = 48;
    g_threads = threads;
    ctx_ptr c = new_ctx(uint32_t(std::max<size_t>(640, size_t(n_seq) * (max_prompt + 16))), n_batch, uint32_t(n_seq),
                        fa);
    g_threads = 1;
    smpl_ptr greedy = new_sampler();
    if (!c || !greedy) return;
    int steps = 0, mixed_steps = 0, n_checked = 0;
    uint32_t max_used = 0;
    double worst = 0;
    // Compares a finished sequence with the same tokens alone.
    auto verify = [&](int si) {
        seq_state & s = seqs[size_t(si)];
        ++n_checked;
        CHECK_EQ(int(s.gen.size()), s.n_gen);
        CHECK((seq_tokens(c.get(), si) == s.toks));
        const std::vector<row_t> ref = alone_rows(fa, s.toks);
        for (const auto & [p, r] : s.rows) {
            if (size_t(p) >= ref.size()) { ++g_failures; continue; }
            char what[128];
            std::snprintf(what, sizeof what, "mix %d seqs seed %u (%s): seq %d pos %d", n_seq, seed, fa_name(fa), si,
                          p);
            close_rows(r, ref[size_t(p)], what);
            worst = std::max(worst, max_abs_diff(r, ref[size_t(p)]) / range_of(ref[size_t(p)]));
        }
        const tokens_t alone = alone_greedy(fa, s.prompt, s.n_gen);
        if (alone != s.gen) {
            ++g_failures;
            std::fprintf(stderr, "mix %d seqs seed %u (%s): seq %d: greedy ids differ from the ones decoded alone\n",
                         n_seq, seed, fa_name(fa), si);
        }
    };
    for (int step = 0; step < 400; ++step) {
        for (int si = 0; si < n_seq && churn > 0; ++si) {
            seq_state & s = seqs[size_t(si)];
            if (int(s.gen.size()) != s.n_gen || rng() % 2) continue;
            verify(si);
            --churn;
            size_t keep = 0;
            if (rng() % 2 && s.n_eval > 1) keep = 1 + rng() % (s.n_eval - 1);  // roll back to keep tokens
            CHECK_EQ(bloom_context_seq_rm(c.get(), si, int32_t(keep), -1), BLOOM_OK);
            CHECK_EQ(bloom_context_seq_n_past(c.get(), si), int32_t(keep));
            s.prompt = concat(slice(s.toks, 0, keep), random_tokens(rng, 1 + rng() % (keep ? 6 : max_prompt)));
            s.toks = s.prompt;
            s.gen.clear();
            s.rows.clear();
            s.n_eval = keep;
            s.n_gen = 1 + int(rng() % 8);
            s.start = step + int(rng() % 3);
        }
        bool all_done = true;
        for (const seq_state & s : seqs) all_done = all_done && int(s.gen.size()) == s.n_gen;
        if (all_done) break;
        // Each sequence's piece for this step.
        std::vector<std::vector<size_t>> pieces(static_cast<size_t>(n_seq));  // indices into toks
        std::vector<int> order(static_cast<size_t>(n_seq));
        for (int i = 0; i < n_seq; ++i) order[size_t(i)] = i;
        std::shuffle(order.begin(), order.end(), rng);
        size_t budget = n_batch;
        int n_prefill = 0, n_single = 0;
        for (int si : order) {
            seq_state & s = seqs[size_t(si)];
            if (s.start > step || int(s.gen.size()) == s.n_gen || budget == 0) continue;
            size_t n = s.toks.size() - s.n_eval;
            if (s.n_eval < s.prompt.size()) {
                n = std::min<size_t>(n, 1 + rng() % 8);
                ++n_prefill;
            } else {
                ++n_single;
            }
            n = std::min(n, budget);
            budget -= n;
            for (size_t k = 0; k < n; ++k) pieces[size_t(si)].push_back(s.n_eval + k);
        }
        if (n_prefill > 0 && n_single > 0) ++mixed_steps;
        // Into one batch: blocks in the shuffled order, or one token of each sequence in turn.
        batch_builder bb;
        std::vector<std::pair<int, size_t>> where;  // batch index -> (sequence, index into toks)
        auto add = [&](int si, size_t k) {
            seq_state & s = seqs[size_t(si)];
            const bool last = k + 1 == s.toks.size();  // its logits give the next token
            const bool end_of_piece = k == pieces[size_t(si)].back();
            bb.add(s.toks[k], int32_t(k), si, last || (end_of_piece && rng() % 2) || rng() % 5 == 0);
            where.emplace_back(si, k);
        };
        if (interleave) {
            for (size_t j = 0;; ++j) {
                bool any = false;
                for (int si : order) {
                    if (j < pieces[size_t(si)].size()) { add(si, pieces[size_t(si)][j]); any = true; }
                }
                if (!any) break;
            }
        } else {
            for (int si : order) for (size_t k : pieces[size_t(si)]) add(si, k);
        }
        if (bb.tok.empty()) continue;
        ++steps;
        if (!decode_ok(c.get(), bb)) return;

        // The rows: one per token that asked, in batch order, the same through get_logits and get_logits_ith.
        const float * all = nullptr;
        size_t n_rows = 0, row = 0, n_want = 0;
        for (char w : bb.want) n_want += w ? 1 : 0;
        if (n_want > 0) {  // (a batch without logits rows has nothing to read)
            CHECK_EQ(bloom_context_get_logits(&all, &n_rows, c.get()), BLOOM_OK);
            CHECK_EQ(n_rows, n_want);
        }
        for (size_t i = 0; i < bb.tok.size(); ++i) {
            const auto [si, k] = where[i];
            seq_state & s = seqs[size_t(si)];
            if (!bb.want[i]) {
                const float * none = nullptr;
                CHECK_EQ(bloom_context_get_logits_ith(&none, c.get(), int32_t(i)), BLOOM_ERR_INVALID_ARGUMENT);
                continue;
            }
            row_t r = ith(c.get(), int32_t(i));
            if (row < n_rows && !r.empty()) {
                CHECK(std::memcmp(r.data(), all + row * size_t(g_vocab), size_t(g_vocab) * sizeof(float)) == 0);
            }
            ++row;
            s.rows[int32_t(k)] = r;
            if (k + 1 == s.toks.size()) {  // the sequence's last token: sample its next one
                int32_t t = -1;
                CHECK_EQ(bloom_sampler_sample_ith(&t, greedy.get(), c.get(), int32_t(i)), BLOOM_OK);
                s.gen.push_back(t);
                if (int(s.gen.size()) < s.n_gen) s.toks.push_back(t);
            }
        }
        uint32_t used = 0;
        for (int si = 0; si < n_seq; ++si) {
            seq_state & s = seqs[size_t(si)];
            s.n_eval += pieces[size_t(si)].size();
            used += uint32_t(s.n_eval);
            CHECK_EQ(bloom_context_seq_n_past(c.get(), si), int32_t(s.n_eval));
        }
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
        max_used = std::max(max_used, used);
    }

    for (int si = 0; si < n_seq; ++si) verify(si);
    std::printf("mix of %2d sequences (%s, %s, %d thread%s, prompts up to %3zu): %3d batches, %3d with prefill and "
                "single tokens together, %2d sequences checked, %4u cells at most, worst logits difference %.2e of "
                "the range\n", n_seq, fa_name(fa), interleave ? "interleaved" : "in blocks", threads,
                threads > 1 ? "s" : "", max_prompt, steps, mixed_steps, n_checked, max_used, worst);
}

// ------------------------------------------------------------------------------------------ sequence operations

void test_seq_ops(int32_t fa) {
    std::mt19937 rng(11);
    const tokens_t prompt = random_tokens(rng, 10);
    const int k = 4;
    ctx_ptr c = new_ctx(128, 32, uint32_t(k + 1), fa);
    if (!c) return;
    CHECK_EQ(bloom_context_cells_used(c.get()), 0u);
    for (int s = 0; s <= k; ++s) CHECK_EQ(bloom_context_seq_n_past(c.get(), s), 0);

    // The prompt once, in sequence 0, then shared by 1..k without copies.
    batch_builder pb;
    for (size_t i = 0; i < prompt.size(); ++i) pb.add(prompt[i], int32_t(i), 0, false);
    decode_ok(c.get(), pb, false);  // logits NULL: the last token's row only
    {
        const float * l = nullptr;
        size_t n = 0;
        CHECK_EQ(bloom_context_get_logits(&l, &n, c.get()), BLOOM_OK);
        CHECK_EQ(n, size_t(1));
        CHECK_EQ(bloom_context_get_logits_ith(&l, c.get(), 0), BLOOM_ERR_INVALID_ARGUMENT);
        close_rows(ith(c.get(), int32_t(prompt.size() - 1)), alone_last(fa, prompt), "prompt, logits NULL");
    }
    for (int s = 1; s <= k; ++s) CHECK_EQ(bloom_context_seq_cp(c.get(), 0, s, 0, -1), BLOOM_OK);
    CHECK_EQ(bloom_context_cells_used(c.get()), uint32_t(prompt.size()));
    for (int s = 0; s <= k; ++s) {
        CHECK_EQ(bloom_context_seq_n_past(c.get(), s), int32_t(prompt.size()));
        CHECK((seq_tokens(c.get(), s) == prompt));
    }

    // Each copy continues with tokens of its own (3 + s of them), all in one batch.
    std::vector<tokens_t> cont(size_t(k + 1));
    batch_builder cb;
    std::vector<std::vector<int32_t>> idx(size_t(k + 1));
    for (int s = 0; s <= k; ++s) {
        cont[size_t(s)] = random_tokens(rng, size_t(3 + s));
        for (size_t j = 0; j < cont[size_t(s)].size(); ++j) {
            idx[size_t(s)].push_back(int32_t(cb.tok.size()));
            cb.add(cont[size_t(s)][j], int32_t(prompt.size() + j), s, true);
        }
    }
    decode_ok(c.get(), cb);
    uint32_t used = uint32_t(prompt.size());
    std::vector<row_t> last_rows(size_t(k + 1));
    for (int s = 0; s <= k; ++s) {
        const tokens_t full = concat(prompt, cont[size_t(s)]);
        const std::vector<row_t> ref = alone_rows(fa, full);
        for (size_t j = 0; j < cont[size_t(s)].size(); ++j) {
            char what[96];
            std::snprintf(what, sizeof what, "seq_cp (%s): copy %d, token %zu", fa_name(fa), s, j);
            if (ref.size() == full.size()) close_rows(ith(c.get(), idx[size_t(s)][j]), ref[prompt.size() + j], what);
        }
        last_rows[size_t(s)] = ith(c.get(), idx[size_t(s)].back());
        used += uint32_t(cont[size_t(s)].size());
        CHECK_EQ(bloom_context_seq_n_past(c.get(), s), int32_t(full.size()));
        CHECK((seq_tokens(c.get(), s) == full));
    }
    CHECK_EQ(bloom_context_cells_used(c.get()), used);

    // seq_rm of sequence 2's tail past its first own token, then the same tokens again: the same last logits.
    {
        const int s = 2;
        const int32_t keep = int32_t(prompt.size()) + 1;
        CHECK_EQ(bloom_context_seq_rm(c.get(), s, keep, -1), BLOOM_OK);
        const float * l = nullptr;
        size_t n = 0;
        CHECK_EQ(bloom_context_get_logits(&l, &n, c.get()), BLOOM_ERR_INVALID_ARGUMENT);  // seq_rm clears them
        used -= uint32_t(cont[size_t(s)].size() - 1);
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), s), keep);
        CHECK((seq_tokens(c.get(), s) == slice(concat(prompt, cont[size_t(s)]), 0, size_t(keep))));
        batch_builder rb;
        for (size_t j = 1; j < cont[size_t(s)].size(); ++j) {
            rb.add(cont[size_t(s)][j], keep + int32_t(j - 1), s, j + 1 == cont[size_t(s)].size());
        }
        decode_ok(c.get(), rb);
        used += uint32_t(cont[size_t(s)].size() - 1);
        close_rows(ith(c.get(), int32_t(rb.tok.size() - 1)), last_rows[size_t(s)], "seq_rm of a tail, then re-decode");
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
    }

    // Removing all of sequence 1 frees only its own cells: the prompt's stay for the others.
    CHECK_EQ(bloom_context_seq_rm(c.get(), 1, 0, -1), BLOOM_OK);
    used -= uint32_t(cont[1].size());
    CHECK_EQ(bloom_context_cells_used(c.get()), used);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), 0);
    CHECK(seq_tokens(c.get(), 1).empty());
    {
        // Sequence 0 goes on unchanged; sequence 1 starts again from nothing.
        const tokens_t more = random_tokens(rng, 2);
        batch_builder mb;
        mb.add(more[0], int32_t(prompt.size() + cont[0].size()), 0, true);
        mb.add(more[1], 0, 1, true);
        decode_ok(c.get(), mb);
        close_rows(ith(c.get(), 0), alone_last(fa, concat(concat(prompt, cont[0]), {more[0]})),
                   "seq 0 after seq_rm of seq 1");
        close_rows(ith(c.get(), 1), alone_last(fa, {more[1]}), "seq 1 anew after its seq_rm");
        used += 2;
        cont[0].push_back(more[0]);
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
    }

    // seq_cp of a part: dst becomes a copy of src's first 5 positions (its own cells go), then continues.
    {
        CHECK_EQ(bloom_context_seq_cp(c.get(), 3, 1, 0, 5), BLOOM_OK);
        used -= 1;  // sequence 1's one own cell
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), 5);
        CHECK((seq_tokens(c.get(), 1) == slice(prompt, 0, 5)));
        const tokens_t x = random_tokens(rng, 3);
        batch_builder xb;
        for (size_t j = 0; j < x.size(); ++j) xb.add(x[j], int32_t(5 + j), 1, j + 1 == x.size());
        decode_ok(c.get(), xb);
        used += 3;
        close_rows(ith(c.get(), 2), alone_last(fa, concat(slice(prompt, 0, 5), x)), "seq_cp of positions [0, 5)");
    }

    // A hole in the middle: seq_n_past stays one past the highest position, seq_tokens skips the hole.
    {
        const tokens_t full4 = concat(prompt, cont[4]);
        CHECK_EQ(bloom_context_seq_rm(c.get(), 4, int32_t(prompt.size()) + 1, int32_t(prompt.size()) + 3), BLOOM_OK);
        used -= 2;
        CHECK_EQ(bloom_context_cells_used(c.get()), used);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 4), int32_t(full4.size()));
        tokens_t want = full4;
        want.erase(want.begin() + std::ptrdiff_t(prompt.size()) + 1, want.begin() + std::ptrdiff_t(prompt.size()) + 3);
        CHECK((seq_tokens(c.get(), 4) == want));
    }

    // seq_tokens with a small buffer reports the size it needs.
    {
        tokens_t small(2);
        size_t n = 0;
        EXPECT_STATUS(bloom_context_seq_tokens(small.data(), small.size(), &n, c.get(), 3), BLOOM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, prompt.size() + cont[3].size());
    }

    // seq_keep: only sequence 3's cells remain, shared prompt included; it continues as if alone.
    {
        CHECK_EQ(bloom_context_seq_keep(c.get(), 3), BLOOM_OK);
        const tokens_t full3 = concat(prompt, cont[3]);
        CHECK_EQ(bloom_context_cells_used(c.get()), uint32_t(full3.size()));
        for (int s = 0; s <= k; ++s) CHECK_EQ(bloom_context_seq_n_past(c.get(), s), s == 3 ? int32_t(full3.size()) : 0);
        CHECK((seq_tokens(c.get(), 3) == full3));
        const int32_t t = random_tokens(rng, 1)[0];
        batch_builder kb;
        kb.add(t, int32_t(full3.size()), 3, true);
        decode_ok(c.get(), kb);
        close_rows(ith(c.get(), 0), alone_last(fa, concat(full3, {t})), "seq 3 after seq_keep");
    }

    // seq_rm(-1, 0, -1) empties the cache.
    CHECK_EQ(bloom_context_seq_rm(c.get(), -1, 0, -1), BLOOM_OK);
    CHECK_EQ(bloom_context_cells_used(c.get()), 0u);
    for (int s = 0; s <= k; ++s) CHECK_EQ(bloom_context_seq_n_past(c.get(), s), 0);
    CHECK_EQ(bloom_context_n_past(c.get()), 0u);
    {
        // And it starts over exactly.
        batch_builder ab;
        for (size_t i = 0; i < prompt.size(); ++i) ab.add(prompt[i], int32_t(i), 2, i + 1 == prompt.size());
        decode_ok(c.get(), ab);
        close_rows(ith(c.get(), int32_t(prompt.size() - 1)), alone_last(fa, prompt), "after seq_rm(-1)");
    }
}

// The single-sequence calls on a context of three sequences: sequence 0 only.
void test_single_calls_multi(int32_t fa) {
    std::mt19937 rng(21);
    const tokens_t a = random_tokens(rng, 6), b = random_tokens(rng, 5), z = random_tokens(rng, 9);
    ctx_ptr c = new_ctx(128, 4, 3, fa);  // n_batch 4: decode chunks its 9 tokens
    if (!c) return;
    batch_builder bb;
    for (size_t i = 0; i < 4; ++i) bb.add(a[i], int32_t(i), 1, false);
    decode_ok(c.get(), bb);  // 4 tokens of a in sequence 1 (n_batch)
    bb = batch_builder();
    for (size_t i = 0; i < b.size() - 1; ++i) bb.add(b[i], int32_t(i), 2, false);
    decode_ok(c.get(), bb);

    CHECK_EQ(bloom_context_n_past(c.get()), 0u);
    CHECK_EQ(bloom_context_decode(c.get(), z.data(), z.size(), true), BLOOM_OK);
    CHECK_EQ(bloom_context_n_past(c.get()), uint32_t(z.size()));
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 0), int32_t(z.size()));
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), 4);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 2), int32_t(b.size() - 1));
    CHECK_EQ(bloom_context_cells_used(c.get()), uint32_t(z.size() + 4 + b.size() - 1));
    {
        const float * l = nullptr;
        size_t n = 0;
        CHECK_EQ(bloom_context_get_logits(&l, &n, c.get()), BLOOM_OK);
        CHECK_EQ(n, z.size());
        const std::vector<row_t> ref = alone_rows(fa, z);
        for (size_t i = 0; i < n && i < ref.size(); ++i) {
            close_rows(logits_row(l + i * size_t(g_vocab)), ref[i], "decode on sequence 0");
        }
        tokens_t got(z.size());
        size_t n_got = 0;
        CHECK_EQ(bloom_context_get_tokens(got.data(), got.size(), &n_got, c.get()), BLOOM_OK);
        CHECK_EQ(n_got, z.size());
        CHECK((got == z));
    }
    CHECK_EQ(bloom_context_truncate(c.get(), 3), BLOOM_OK);
    CHECK_EQ(bloom_context_n_past(c.get()), 3u);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), 4);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 2), int32_t(b.size() - 1));
    CHECK_EQ(bloom_context_cells_used(c.get()), uint32_t(3 + 4 + b.size() - 1));
    EXPECT_STATUS(bloom_context_truncate(c.get(), 4), BLOOM_ERR_INVALID_ARGUMENT, "4");

    // Sequences 1 and 2 go on as if nothing happened to sequence 0; sequence 0 from its truncated state.
    bb = batch_builder();
    for (size_t i = 4; i < a.size(); ++i) bb.add(a[i], int32_t(i), 1, i + 1 == a.size());
    bb.add(b.back(), int32_t(b.size() - 1), 2, true);
    bb.add(z[3], 3, 0, true);
    decode_ok(c.get(), bb);
    close_rows(ith(c.get(), int32_t(a.size() - 4 - 1)), alone_last(fa, a), "seq 1 after single-sequence calls");
    close_rows(ith(c.get(), int32_t(a.size() - 4)), alone_last(fa, b), "seq 2 after single-sequence calls");
    close_rows(ith(c.get(), int32_t(a.size() - 4 + 1)), alone_last(fa, slice(z, 0, 4)), "seq 0 after truncate");
    // A single decode after a batch: its logits are sequence 0's.
    CHECK_EQ(bloom_context_decode(c.get(), &z[4], 1, false), BLOOM_OK);
    {
        const float * l = nullptr;
        size_t n = 0;
        CHECK_EQ(bloom_context_get_logits(&l, &n, c.get()), BLOOM_OK);
        CHECK_EQ(n, size_t(1));
        if (n == 1) close_rows(logits_row(l), alone_last(fa, slice(z, 0, 5)), "single decode after a batch");
        smpl_ptr s = new_sampler();
        int32_t t = -1;
        CHECK_EQ(bloom_sampler_sample(&t, s.get(), c.get()), BLOOM_OK);
        const tokens_t want = alone_greedy(fa, slice(z, 0, 5), 1);
        CHECK_EQ(t, want.at(0));
    }
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), int32_t(a.size()));
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 2), int32_t(b.size()));
}

// ------------------------------------------------------------------------------------------ generators

struct run_out {
    tokens_t    tokens;   // sampled tokens (no -1)
    std::string text;     // all text delivered, held-back text included
    std::vector<size_t> cum;  // bloom_generate: text length delivered up to each token
    bloom_generate_result res = {};
    int32_t     status = BLOOM_OK;
};

bool operator==(const run_out & a, const run_out & b) {
    return a.tokens == b.tokens && a.text == b.text && a.res.finish_reason == b.res.finish_reason &&
           a.res.n_generated == b.res.n_generated && a.res.n_prompt == b.res.n_prompt;
}

void show_diff(const char * what, const run_out & got, const run_out & want) {
    ++g_failures;
    std::fprintf(stderr, "%s: %zu tokens, finish %d, n_generated %d, text '%s'; expected %zu tokens, finish %d, "
                 "n_generated %d, text '%s'\n", what, got.tokens.size(), got.res.finish_reason, got.res.n_generated,
                 got.text.c_str(), want.tokens.size(), want.res.finish_reason, want.res.n_generated, want.text.c_str());
    for (size_t i = 0; i < std::max(got.tokens.size(), want.tokens.size()); ++i) {
        const int32_t g = i < got.tokens.size() ? got.tokens[i] : -2, w = i < want.tokens.size() ? want.tokens[i] : -2;
        if (g != w) { std::fprintf(stderr, "  first difference at token %zu: %d vs %d\n", i, g, w); break; }
    }
}

struct gen_opts {
    int32_t max_tokens = 8;
    bool ignore_eos = true;
    std::vector<std::string> stop;
    float repetition_penalty = 1.0f;
    float temperature = 0.0f;  // > 0: drawn with the seed (only where both sides see the same logits)
    uint64_t seed = 1;
    uint32_t n_ctx = 512, n_batch = 512;
};

struct params_holder {
    std::vector<const char *> ptrs;
    std::vector<size_t> lens;
    bloom_generate_params p;
    params_holder(const gen_opts & o, int32_t seq_id) : p(bloom_generate_default_params()) {
        for (const std::string & s : o.stop) { ptrs.push_back(s.data()); lens.push_back(s.size()); }
        p.max_tokens = o.max_tokens;
        p.ignore_eos = o.ignore_eos;
        p.stop = ptrs.empty() ? nullptr : ptrs.data();
        p.stop_lens = lens.empty() ? nullptr : lens.data();
        p.n_stop = ptrs.size();
        p.seq_id = seq_id;
    }
};

// bloom_generate alone, in a fresh one-sequence context, its callback collecting tokens and text.
run_out generate_alone(int32_t fa, const tokens_t & prompt, const gen_opts & o) {
    run_out r;
    ctx_ptr c = new_ctx(o.n_ctx, o.n_batch, 1, fa);
    smpl_ptr s = new_sampler(o.repetition_penalty, o.temperature, o.seed);
    if (!c || !s) return r;
    params_holder ph(o, 0);
    ph.p.callback = [](bloom_token t, const char * text, size_t len, void * ud) {
        run_out & out = *static_cast<run_out *>(ud);
        out.text.append(text, len);
        if (t >= 0) {
            out.tokens.push_back(t);
            out.cum.push_back(out.text.size());
        }
        return true;
    };
    ph.p.user_data = &r;
    r.status = bloom_generate(&r.res, c.get(), s.get(), prompt.data(), prompt.size(), &ph.p);
    if (r.status != BLOOM_OK) std::fprintf(stderr, "bloom_generate: %s\n", bloom_last_error());
    return r;
}

void take_event(run_out & r, const bloom_generator_event & e) {
    if (e.token >= 0) r.tokens.push_back(e.token);
    if (e.text_len) r.text.append(e.text, e.text_len);
    if (e.tail_len) r.text.append(e.tail, e.tail_len);
}

// A bloom_generator_step loop, in a fresh one-sequence context.
run_out generator_alone(int32_t fa, const tokens_t & prompt, const gen_opts & o) {
    run_out r;
    ctx_ptr c = new_ctx(o.n_ctx, o.n_batch, 1, fa);
    smpl_ptr s = new_sampler(o.repetition_penalty, o.temperature, o.seed);
    if (!c || !s) return r;
    params_holder ph(o, 0);
    bloom_generator * g = nullptr;
    r.status = bloom_generator_init(&g, c.get(), s.get(), prompt.data(), prompt.size(), &ph.p);
    if (r.status != BLOOM_OK) { std::fprintf(stderr, "generator_init: %s\n", bloom_last_error()); return r; }
    gen_ptr gp(g);
    for (int i = 0; i < 10000; ++i) {
        bloom_generator_event e = {};
        r.status = bloom_generator_step(&e, g);
        if (r.status != BLOOM_OK) { std::fprintf(stderr, "generator_step: %s\n", bloom_last_error()); break; }
        take_event(r, e);
        if (e.finish_reason >= 0) {
            // Finished: stepping again reports the same finish reason and no token.
            bloom_generator_event again = {};
            CHECK_EQ(bloom_generator_step(&again, g), BLOOM_OK);
            CHECK_EQ(again.token, -1);
            CHECK_EQ(again.finish_reason, e.finish_reason);
            CHECK_EQ(again.text_len + again.tail_len, size_t(0));
            break;
        }
    }
    CHECK_EQ(bloom_generator_get_result(&r.res, g), BLOOM_OK);
    return r;
}

void expect_same(const char * what, const run_out & got, const run_out & want) {
    CHECK_EQ(got.status, BLOOM_OK);
    CHECK_EQ(want.status, BLOOM_OK);
    if (!(got == want)) show_diff(what, got, want);
}

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// n bytes of text from about `at`, starting and ending on character boundaries.
std::string cut(const std::string & text, size_t at, size_t n) {
    while (at > 0 && utf8_continuation(text[at])) --at;
    size_t end = std::min(text.size(), at + n);
    while (end < text.size() && utf8_continuation(text[end])) ++end;
    return text.substr(at, end - at);
}

// bloom_generate against a bloom_generator_step loop (they must agree on tokens, text and finish reason), and
// what each option does: max_tokens, stop strings, held-back text, a context that fills up, a prompt over n_batch.
// Greedy, and drawn with a seed (both sides see the same logits, so the draws agree too).
void test_generate_vs_generator(int32_t fa, float temperature) {
    std::mt19937 rng(31);
    const tokens_t prompt = random_tokens(rng, 12);
    gen_opts o;
    o.max_tokens = 20;
    o.temperature = temperature;
    o.seed = 9;
    const run_out plain = generate_alone(fa, prompt, o);
    CHECK_EQ(plain.res.finish_reason, int32_t(BLOOM_FINISH_LENGTH));
    CHECK_EQ(plain.res.n_generated, 20);
    CHECK_EQ(plain.tokens.size(), size_t(20));
    CHECK_EQ(plain.res.n_prompt, int32_t(prompt.size()));
    expect_same("generator loop, max_tokens 20", generator_alone(fa, prompt, o), plain);
    // The greedy ids are those of the plain greedy loop.
    if (temperature == 0.0f) CHECK((plain.tokens == alone_greedy(fa, prompt, 20)));

    // max_tokens 0 and 1.
    for (int32_t mt : {0, 1, 7}) {
        gen_opts m = o;
        m.max_tokens = mt;
        const run_out a = generate_alone(fa, prompt, m);
        CHECK_EQ(a.res.n_generated, mt);
        CHECK_EQ(a.tokens.size(), size_t(mt));
        CHECK_EQ(a.res.finish_reason, int32_t(BLOOM_FINISH_LENGTH));
        CHECK((a.tokens == slice(plain.tokens, 0, size_t(mt))));
        expect_same("generator loop, small max_tokens", generator_alone(fa, prompt, m), a);
    }
    // With the end-of-sequence token in force: whatever happens, both paths agree.
    {
        gen_opts e = o;
        e.ignore_eos = false;
        e.max_tokens = 60;
        const run_out a = generate_alone(fa, prompt, e);
        expect_same("generator loop, eos on", generator_alone(fa, prompt, e), a);
        if (a.res.finish_reason == BLOOM_FINISH_EOS) CHECK(!a.tokens.empty() && a.tokens.back() == g_eos);
    }
    // A repetition penalty: the prompt reaches the penalties in both. At 100 a seen token's logit is near 0 or far
    // below, so none is picked again while any unseen one is positive (hundreds of them, with random weights).
    {
        gen_opts e = o;
        e.repetition_penalty = 100.0f;
        e.temperature = 0.0f;
        const run_out a = generate_alone(fa, prompt, e);
        expect_same("generator loop, repetition penalty", generator_alone(fa, prompt, e), a);
        tokens_t seen = prompt;
        for (int32_t t : a.tokens) {
            if (std::find(seen.begin(), seen.end(), t) != seen.end()) {
                ++g_failures;
                std::fprintf(stderr, "repetition penalty 100 (%s): token %d picked although already seen\n",
                             fa_name(fa), t);
            }
            seen.push_back(t);
        }
    }

    // A stop string cut from the middle of the plain text: generation stops at the token that completes its first
    // occurrence, and the text before it is all that is delivered.
    if (plain.text.size() >= 12) {
        const std::string stop = cut(plain.text, plain.text.size() / 2, 3);
        const size_t first = plain.text.find(stop);
        gen_opts so = o;
        so.stop = {stop};
        const run_out a = generate_alone(fa, prompt, so);
        CHECK_EQ(a.res.finish_reason, int32_t(BLOOM_FINISH_STOP));
        CHECK_EQ(a.text, plain.text.substr(0, first));
        // It generated exactly the tokens up to the one whose text completes the stop string.
        size_t n_want = 0;
        while (n_want < plain.cum.size() && plain.cum[n_want] < first + stop.size()) ++n_want;
        CHECK_EQ(a.tokens.size(), n_want + 1);
        CHECK((a.tokens == slice(plain.tokens, 0, n_want + 1)));
        CHECK_EQ(a.res.n_generated, int32_t(a.tokens.size()));
        expect_same("generator loop, stop string", generator_alone(fa, prompt, so), a);

        // A stop string that starts with the plain text's end and never completes: that end is held back until
        // the last event's tail, and all the text still arrives.
        const std::string tail_stop = cut(plain.text, plain.text.size() - 1, 1) + "\x01\x02";
        CHECK(plain.text.find(tail_stop) == std::string::npos);
        gen_opts to = o;
        to.stop = {tail_stop};
        const run_out b = generate_alone(fa, prompt, to);
        CHECK_EQ(b.res.finish_reason, int32_t(BLOOM_FINISH_LENGTH));
        if (b.text != plain.text) {
            ++g_failures;
            std::fprintf(stderr, "held-back text (%s): bloom_generate with stop string '%s' delivered '%s', without it "
                         "'%s'\n", fa_name(fa), tail_stop.c_str(), b.text.c_str(), plain.text.c_str());
        }
        const run_out bg = generator_alone(fa, prompt, to);
        expect_same("generator loop, held-back text", bg, b);
        // The held-back byte comes in the tail of the last event.
        {
            ctx_ptr c = new_ctx(512, 512, 1, fa);
            smpl_ptr s = new_sampler(to.repetition_penalty, to.temperature, to.seed);
            params_holder ph(to, 0);
            bloom_generator * g = nullptr;
            CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), prompt.data(), prompt.size(), &ph.p), BLOOM_OK);
            gen_ptr gp(g);
            bloom_generator_event e = {};
            std::string tail;
            for (int i = 0; i < 100 && g; ++i) {
                CHECK_EQ(bloom_generator_step(&e, g), BLOOM_OK);
                if (e.finish_reason >= 0) { tail.assign(e.tail, e.tail_len); break; }
                CHECK_EQ(e.tail_len, size_t(0));
            }
            CHECK_EQ(e.finish_reason, int32_t(BLOOM_FINISH_LENGTH));
            CHECK(!tail.empty() && plain.text.size() >= tail.size() &&
                  plain.text.compare(plain.text.size() - tail.size(), tail.size(), tail) == 0);
        }
    } else {
        ++g_failures;
        std::fprintf(stderr, "the plain run produced too little text (%zu bytes) to place a stop string\n",
                     plain.text.size());
    }

    // A context that fills up: both stop with CONTEXT_FULL, after the same tokens.
    {
        gen_opts f = o;
        f.n_ctx = 16;
        f.max_tokens = 40;
        const run_out a = generate_alone(fa, prompt, f);
        CHECK_EQ(a.res.finish_reason, int32_t(BLOOM_FINISH_CONTEXT_FULL));
        CHECK((a.tokens == slice(plain.tokens, 0, a.tokens.size())));
        CHECK(a.tokens.size() >= 4);
        expect_same("generator loop, context full", generator_alone(fa, prompt, f), a);
    }

    // A prompt longer than n_batch: the generator's first step evaluates it in pieces.
    {
        const tokens_t long_prompt = random_tokens(rng, 45);
        gen_opts l = o;
        l.max_tokens = 6;
        const run_out want = generate_alone(fa, long_prompt, l);
        l.n_batch = 16;
        expect_same("generator loop, prompt of 45 tokens with n_batch 16", generator_alone(fa, long_prompt, l), want);
        expect_same("bloom_generate, prompt of 45 tokens with n_batch 16", generate_alone(fa, long_prompt, l), want);
    }
}

// Text held back at the end by a stop string's start and by an unfinished UTF-8 sequence at once. With tied
// embeddings and random weights a token's own embedding comes back through the residual stream and dominates the
// next logits, so greedy decoding repeats the prompt's last token. A prompt ending in a lone UTF-8 lead byte thus
// makes every token complete a U+FFFD for the one before and leaves the last unfinished; with a stop string that
// starts with U+FFFD, the last complete U+FFFD is held back too. The end must deliver both.
void test_held_back_tail(int32_t fa) {
    bloom_model * const saved = g_model;
    g_model = g_tied;
    int32_t lead = -1;
    for (int32_t t = 3; t < g_vocab && lead < 0; ++t) {
        char piece[8];
        size_t n = 0;
        if (bloom_token_to_piece(piece, sizeof piece, &n, g_model, t) == BLOOM_OK && n == 1 &&
            static_cast<unsigned char>(piece[0]) >= 0xC2 && static_cast<unsigned char>(piece[0]) <= 0xF4) {
            lead = t;
        }
    }
    CHECK(lead >= 0);
    std::mt19937 rng(71);
    const tokens_t prompt = concat(random_tokens(rng, 5), {lead});
    gen_opts o;
    o.max_tokens = 6;
    const run_out plain = generate_alone(fa, prompt, o);
    std::string fffd6;
    for (int i = 0; i < 6; ++i) fffd6 += "\xEF\xBF\xBD";
    // The setup: six times the lead byte, five U+FFFD as they complete and a sixth from the end.
    CHECK((plain.tokens == tokens_t(6, lead)));
    CHECK_EQ(plain.text, fffd6);
    gen_opts so = o;
    so.stop = {"\xEF\xBF\xBD\x01"};
    const run_out a = generate_alone(fa, prompt, so);
    CHECK_EQ(a.res.finish_reason, int32_t(BLOOM_FINISH_LENGTH));
    if (a.text != plain.text) {
        ++g_failures;
        std::fprintf(stderr, "held back at the end (%s): bloom_generate with a stop string starting with U+FFFD "
                     "delivered %zu bytes, without it %zu (six U+FFFD)\n", fa_name(fa), a.text.size(),
                     plain.text.size());
    }
    expect_same("held back at the end: generator loop", generator_alone(fa, prompt, so), a);
    g_model = saved;
}

// bloom_context_step over generators of different prompts in one context = each alone; a long prompt is
// evaluated in pieces while the others decode; a generator joins when another has finished and its cells are freed.
void test_context_step(int32_t fa) {
    std::mt19937 rng(41);
    const int n_gen = 6;
    const uint32_t n_batch = 16;
    struct job { tokens_t prompt; gen_opts o; run_out want, got; int seq = -1; };
    std::vector<job> jobs;
    const size_t lens[] = {3, 45, 7, 1, 20, 11, 30, 5};
    for (size_t i = 0; i < std::size(lens); ++i) {
        job j;
        j.prompt = random_tokens(rng, lens[i]);
        j.o.max_tokens = 3 + int32_t(rng() % 10);
        j.o.ignore_eos = i % 3 != 0;
        if (i == 2) j.o.repetition_penalty = 1.4f;
        jobs.push_back(j);
    }
    for (job & j : jobs) j.want = generate_alone(fa, j.prompt, j.o);
    // Stop strings for job 4 from its own text, placed as in test_generate_vs_generator.
    CHECK(jobs[4].want.text.size() >= 6);
    if (jobs[4].want.text.size() >= 6) {
        gen_opts full = jobs[4].o;
        full.max_tokens = 12;
        const run_out longer = generate_alone(fa, jobs[4].prompt, full);
        jobs[4].o = full;
        const std::string stop = cut(longer.text, longer.text.size() / 2, 2);
        jobs[4].o.stop = {stop, "\x01never"};
        jobs[4].want = generate_alone(fa, jobs[4].prompt, jobs[4].o);
        CHECK_EQ(jobs[4].want.res.finish_reason, int32_t(BLOOM_FINISH_STOP));
    }

    ctx_ptr c = new_ctx(512, n_batch, uint32_t(n_gen), fa);
    if (!c) return;
    std::vector<smpl_ptr> samplers;
    std::vector<std::unique_ptr<params_holder>> holders;
    std::vector<gen_ptr> gens(jobs.size());
    std::vector<int> live;  // indices into jobs, in step order
    size_t next_job = 0;
    auto start = [&](int seq) {
        job & j = jobs[next_job];
        samplers.push_back(new_sampler(j.o.repetition_penalty, j.o.temperature, j.o.seed));
        holders.push_back(std::make_unique<params_holder>(j.o, seq));
        bloom_generator * g = nullptr;
        const int32_t st = bloom_generator_init(&g, c.get(), samplers.back().get(), j.prompt.data(), j.prompt.size(),
                                                &holders.back()->p);
        if (st != BLOOM_OK) {
            ++g_failures;
            std::fprintf(stderr, "generator_init for job %zu: %s\n", next_job, bloom_last_error());
            return;
        }
        gens[next_job].reset(g);
        j.seq = seq;
        live.push_back(int(next_job));
        ++next_job;
    };
    for (int s = 0; s < n_gen; ++s) start(s);
    // The generators' prompts are reserved at once.
    {
        uint32_t reserved = 0;
        for (int i : live) reserved += uint32_t(jobs[size_t(i)].prompt.size());
        CHECK_EQ(bloom_context_cells_used(c.get()), reserved);
    }
    // A sequence held by a live generator cannot get another one.
    {
        smpl_ptr s = new_sampler();
        params_holder ph(gen_opts(), 2);
        bloom_generator * g = nullptr;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), jobs[0].prompt.data(), 1, &ph.p),
                      BLOOM_ERR_INVALID_ARGUMENT, "seq");
        CHECK(g == nullptr);
    }

    int steps = 0, interleaved = 0;
    while (!live.empty() && steps < 500) {
        ++steps;
        std::vector<bloom_generator *> gs;
        for (int i : live) gs.push_back(gens[size_t(i)].get());
        std::vector<bloom_generator_event> ev(gs.size());
        const int32_t st = bloom_context_step(ev.data(), c.get(), gs.data(), gs.size());
        if (st != BLOOM_OK) {
            ++g_failures;
            std::fprintf(stderr, "context_step %d: %s\n", steps, bloom_last_error());
            break;
        }
        bool some_waiting = false, some_token = false;
        std::vector<int> finished;
        for (size_t k = 0; k < live.size(); ++k) {
            job & j = jobs[size_t(live[k])];
            take_event(j.got, ev[k]);
            if (ev[k].token < 0 && ev[k].finish_reason < 0) some_waiting = true;
            if (ev[k].token >= 0) some_token = true;
            if (ev[k].finish_reason >= 0) finished.push_back(int(k));
        }
        if (some_waiting && some_token) ++interleaved;
        // Retire the finished ones (a finished generator stepped once more reports its reason again), free their
        // cells and start the next jobs in their sequences.
        for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
            const int ji = live[size_t(*it)];
            job & j = jobs[size_t(ji)];
            bloom_generator * g = gens[size_t(ji)].get();
            bloom_generator_event again = {};
            CHECK_EQ(bloom_context_step(&again, c.get(), &g, 1), BLOOM_OK);
            CHECK_EQ(again.token, -1);
            CHECK_EQ(again.text_len + again.tail_len, size_t(0));
            CHECK_EQ(bloom_generator_get_result(&j.got.res, g), BLOOM_OK);
            CHECK_EQ(again.finish_reason, j.got.res.finish_reason);
            gens[size_t(ji)].reset();
            live.erase(live.begin() + *it);
            CHECK_EQ(bloom_context_seq_rm(c.get(), j.seq, 0, -1), BLOOM_OK);
            CHECK_EQ(bloom_context_seq_n_past(c.get(), j.seq), 0);
            if (next_job < jobs.size()) start(j.seq);
        }
    }
    CHECK(live.empty());
    CHECK(interleaved > 0);  // the long prompts were evaluated between the others' tokens
    for (size_t i = 0; i < jobs.size(); ++i) {
        char what[96];
        std::snprintf(what, sizeof what, "context_step (%s): job %zu (prompt %zu tokens)", fa_name(fa), i,
                      jobs[i].prompt.size());
        expect_same(what, jobs[i].got, jobs[i].want);
    }
    CHECK_EQ(bloom_context_cells_used(c.get()), 0u);
    std::printf("context_step (%s): %zu generators over %d steps, %d steps with prompts still in evaluation next "
                "to sampled tokens\n", fa_name(fa), jobs.size(), steps, interleaved);

    // n samples of one prompt: evaluated once in sequence 0, copied to 1..3; each generator reuses all of it but
    // the last token and gives the tokens of the prompt alone.
    {
        const tokens_t prompt = jobs[5].prompt;
        gen_opts o;
        o.max_tokens = 5;
        const run_out want = generate_alone(fa, prompt, o);
        CHECK_EQ(bloom_context_decode(c.get(), prompt.data(), prompt.size(), false), BLOOM_OK);
        for (int s = 1; s < 4; ++s) CHECK_EQ(bloom_context_seq_cp(c.get(), 0, s, 0, -1), BLOOM_OK);
        std::vector<smpl_ptr> ss;
        std::vector<std::unique_ptr<params_holder>> ps;
        std::vector<gen_ptr> gs;
        std::vector<bloom_generator *> raw;
        for (int s = 0; s < 4; ++s) {
            ss.push_back(new_sampler());
            ps.push_back(std::make_unique<params_holder>(o, s));
            bloom_generator * g = nullptr;
            CHECK_EQ(bloom_generator_init(&g, c.get(), ss.back().get(), prompt.data(), prompt.size(), &ps.back()->p),
                     BLOOM_OK);
            gs.emplace_back(g);
            raw.push_back(g);
        }
        std::vector<run_out> got(4);
        std::vector<bool> fin(4, false);
        if (std::find(raw.begin(), raw.end(), nullptr) != raw.end()) return;
        for (int step = 0; step < 50; ++step) {
            std::vector<bloom_generator_event> ev(4);
            CHECK_EQ(bloom_context_step(ev.data(), c.get(), raw.data(), raw.size()), BLOOM_OK);
            bool all = true;
            for (size_t k = 0; k < 4; ++k) {
                if (fin[k]) {
                    CHECK_EQ(ev[k].token, -1);
                    CHECK(ev[k].finish_reason >= 0);
                    continue;
                }
                take_event(got[k], ev[k]);
                fin[k] = ev[k].finish_reason >= 0;
                all = all && fin[k];
            }
            if (all) break;
        }
        for (size_t k = 0; k < 4; ++k) {
            CHECK_EQ(bloom_generator_get_result(&got[k].res, raw[k]), BLOOM_OK);
            CHECK_EQ(got[k].res.n_reused, int32_t(prompt.size()) - 1);
            expect_same("n samples of one prompt after seq_cp", got[k], want);
        }
    }
}

// Reservations: a generator's prompt holds its cells from init, counted by cells_used; freeing the generator,
// finished or not, releases what its prompt has not used yet, and leaves the evaluated cells to its sequence. When the
// pool fills up, running generators end with CONTEXT_FULL after a prefix of the tokens they would make alone.
// Log-probabilities recorded by generators stepped together (n_logprobs): each sampled token's and the top k, against
// the log-softmax (in double) of the logits of the same tokens decoded alone; one generator samples at temperature 1
// with a repetition penalty, which must not change the recorded (raw) distribution.
void test_generator_logprobs(int32_t fa) {
    std::mt19937 rng(61);
    const int k = 4;
    const tokens_t prompts[2] = {random_tokens(rng, 9), random_tokens(rng, 14)};
    ctx_ptr c = new_ctx(128, 16, 2, fa);
    smpl_ptr greedy = new_sampler(), hot = new_sampler(1.3f, 1.0f, 5);
    if (!c || !greedy || !hot) return;
    gen_opts o;
    o.max_tokens = 5;
    o.ignore_eos = true;
    params_holder ph0(o, 0), ph1(o, 1);
    ph0.p.n_logprobs = k;
    ph1.p.n_logprobs = k;
    bloom_generator * g[2] = {nullptr, nullptr};
    CHECK_EQ(bloom_generator_init(&g[0], c.get(), greedy.get(), prompts[0].data(), prompts[0].size(), &ph0.p), BLOOM_OK);
    CHECK_EQ(bloom_generator_init(&g[1], c.get(), hot.get(), prompts[1].data(), prompts[1].size(), &ph1.p), BLOOM_OK);
    gen_ptr keep0(g[0]), keep1(g[1]);
    if (!g[0] || !g[1]) return;
    float lp = 0;
    size_t n = 0;
    int32_t ids[k];
    float lps[k];
    EXPECT_STATUS(bloom_generator_get_logprobs(&lp, ids, lps, k, &n, g[0]), BLOOM_ERR_INVALID_ARGUMENT, "no token");
    tokens_t seen[2] = {prompts[0], prompts[1]};
    int checked = 0;
    for (int step = 0; step < 12; ++step) {
        bloom_generator_event ev[2] = {};
        CHECK_EQ(bloom_context_step(ev, c.get(), g, 2), BLOOM_OK);
        for (int i = 0; i < 2; ++i) {
            if (ev[i].token < 0) continue;
            const row_t ref = alone_last(fa, seen[i]);
            seen[i].push_back(ev[i].token);
            if (ref.empty()) continue;
            double max = ref[0], sum = 0;
            for (float x : ref) max = std::max(max, double(x));
            for (float x : ref) sum += std::exp(double(x) - max);
            const double log_z = max + std::log(sum);
            std::vector<int32_t> order(ref.size());
            for (size_t j = 0; j < order.size(); ++j) order[j] = int32_t(j);
            std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ref[a] > ref[b]; });
            CHECK_EQ(bloom_generator_get_logprobs(&lp, ids, lps, k, &n, g[i]), BLOOM_OK);
            CHECK_EQ(n, size_t(k));
            CHECK_NEAR(lp, double(ref[ev[i].token]) - log_z, 1e-4);
            for (int j = 0; j < k; ++j) {
                CHECK_EQ(ids[j], order[j]);
                CHECK_NEAR(lps[j], double(ref[order[j]]) - log_z, 1e-4);
            }
            if (i == 0) CHECK_EQ(ev[i].token, ids[0]);  // greedy takes the most likely token
            ++checked;
            size_t n_own = 7;
            CHECK_EQ(bloom_generator_get_logprobs(&lp, nullptr, nullptr, 0, &n_own, g[i]), BLOOM_OK);
            CHECK_EQ(n_own, size_t(0));
        }
    }
    CHECK_EQ(checked, 10);
    // Without n_logprobs nothing is recorded; too many is refused at init.
    smpl_ptr s = new_sampler();
    ctx_ptr c2 = new_ctx(64, 16, 1, fa);
    if (!s || !c2) return;
    params_holder plain(o, 0);
    bloom_generator * g2 = nullptr;
    plain.p.n_logprobs = BLOOM_MAX_LOGPROBS + 1;
    EXPECT_STATUS(bloom_generator_init(&g2, c2.get(), s.get(), prompts[0].data(), prompts[0].size(), &plain.p),
                  BLOOM_ERR_INVALID_ARGUMENT, "n_logprobs");
    plain.p.n_logprobs = 0;
    CHECK_EQ(bloom_generator_init(&g2, c2.get(), s.get(), prompts[0].data(), prompts[0].size(), &plain.p), BLOOM_OK);
    gen_ptr keep2(g2);
    bloom_generator_event ev = {};
    CHECK_EQ(bloom_generator_step(&ev, g2), BLOOM_OK);
    CHECK(ev.token >= 0);
    EXPECT_STATUS(bloom_generator_get_logprobs(&lp, ids, lps, k, &n, g2), BLOOM_ERR_INVALID_ARGUMENT, "n_logprobs 0");
}

void test_generator_pool(int32_t fa) {
    std::mt19937 rng(81);
    const tokens_t p20 = random_tokens(rng, 20), p60 = random_tokens(rng, 60);
    ctx_ptr c = new_ctx(64, 8, 3, fa);
    smpl_ptr s = new_sampler();
    if (!c || !s) return;
    gen_opts o;
    params_holder ph0(o, 0), ph1(o, 1);
    bloom_generator * g = nullptr;
    CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), p20.data(), p20.size(), &ph0.p), BLOOM_OK);
    CHECK_EQ(bloom_context_cells_used(c.get()), 20u);
    bloom_generator_free(g);
    CHECK_EQ(bloom_context_cells_used(c.get()), 0u);
    CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), p20.data(), p20.size(), &ph0.p), BLOOM_OK);
    bloom_generator_event e = {};
    CHECK_EQ(bloom_context_step(&e, c.get(), &g, 1), BLOOM_OK);  // 8 of the 20 prompt tokens (n_batch)
    CHECK_EQ(e.token, -1);
    CHECK_EQ(e.finish_reason, -1);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 0), 8);
    CHECK_EQ(bloom_context_cells_used(c.get()), 20u);
    bloom_generate_result r = {};
    CHECK_EQ(bloom_generator_get_result(&r, g), BLOOM_OK);
    CHECK_EQ(r.finish_reason, -1);
    CHECK_EQ(r.n_generated, 0);
    bloom_generator_free(g);  // mid-prompt
    CHECK_EQ(bloom_context_cells_used(c.get()), 8u);
    CHECK((seq_tokens(c.get(), 0) == slice(p20, 0, 8)));
    // 56 free cells: a prompt of 60 waits, until sequence 0 is removed.
    g = nullptr;
    EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), p60.data(), p60.size(), &ph1.p), BLOOM_ERR_CONTEXT_FULL);
    CHECK(g == nullptr);
    // A generator in sequence 0 again reuses the 8 evaluated tokens.
    CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), p20.data(), p20.size(), &ph0.p), BLOOM_OK);
    CHECK_EQ(bloom_generator_get_result(&r, g), BLOOM_OK);
    CHECK_EQ(r.n_reused, 8);
    CHECK_EQ(bloom_context_cells_used(c.get()), 20u);
    bloom_generator_free(g);
    CHECK_EQ(bloom_context_seq_rm(c.get(), 0, 0, -1), BLOOM_OK);
    CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), p60.data(), p60.size(), &ph1.p), BLOOM_OK);
    bloom_generator_free(g);
    CHECK_EQ(bloom_context_seq_rm(c.get(), -1, 0, -1), BLOOM_OK);
    CHECK_EQ(bloom_context_cells_used(c.get()), 0u);

    // Two generators of 20-token prompts and up to 40 tokens each in 64 cells: both end with CONTEXT_FULL.
    gen_opts lo;
    lo.max_tokens = 40;
    const tokens_t q = random_tokens(rng, 20);
    const run_out want_a = generate_alone(fa, p20, lo), want_b = generate_alone(fa, q, lo);
    params_holder pa(lo, 0), pb(lo, 2);
    smpl_ptr sa = new_sampler(), sb = new_sampler();
    bloom_generator * ga = nullptr, * gb = nullptr;
    CHECK_EQ(bloom_generator_init(&ga, c.get(), sa.get(), p20.data(), p20.size(), &pa.p), BLOOM_OK);
    CHECK_EQ(bloom_generator_init(&gb, c.get(), sb.get(), q.data(), q.size(), &pb.p), BLOOM_OK);
    gen_ptr hold_a(ga), hold_b(gb);
    if (!ga || !gb) return;
    bloom_generator * both[2] = {ga, gb};
    run_out got[2];
    bool fin[2] = {false, false};
    for (int step = 0; step < 100 && !(fin[0] && fin[1]); ++step) {
        bloom_generator_event ev[2] = {};
        CHECK_EQ(bloom_context_step(ev, c.get(), both, 2), BLOOM_OK);
        for (int k = 0; k < 2; ++k) {
            if (fin[k]) continue;
            take_event(got[k], ev[k]);
            fin[k] = ev[k].finish_reason >= 0;
        }
    }
    for (int k = 0; k < 2; ++k) {
        CHECK_EQ(bloom_generator_get_result(&got[k].res, both[k]), BLOOM_OK);
        CHECK_EQ(got[k].res.finish_reason, int32_t(BLOOM_FINISH_CONTEXT_FULL));
        const run_out & want = k == 0 ? want_a : want_b;
        CHECK(!got[k].tokens.empty());
        if (got[k].tokens != slice(want.tokens, 0, got[k].tokens.size())) {
            ++g_failures;
            std::fprintf(stderr, "pool full (%s): generator %d's tokens are not a prefix of its tokens alone\n",
                         fa_name(fa), k);
        }
    }
    CHECK_EQ(bloom_context_cells_used(c.get()), 64u);
    CHECK_EQ(got[0].tokens.size() + got[1].tokens.size(), size_t(64 - 40 + 2));  // the last of each not evaluated
}

// ------------------------------------------------------------------------------------------ bad input

void test_bad_input(int32_t fa) {
    std::mt19937 rng(51);
    const tokens_t a = random_tokens(rng, 12), b = random_tokens(rng, 12);
    ctx_ptr c = new_ctx(32, 8, 4, fa);
    if (!c) return;
    batch_builder bb;
    for (int i = 0; i < 3; ++i) bb.add(a[size_t(i)], i, 0, false);
    for (int i = 0; i < 2; ++i) bb.add(b[size_t(i)], i, 1, false);
    decode_ok(c.get(), bb);
    const uint32_t used0 = bloom_context_cells_used(c.get());
    CHECK_EQ(used0, 5u);

    // Each bad batch: the status, a message naming the problem, and nothing changed.
    auto bad = [&](const char * what, batch_builder & x, int32_t want, std::initializer_list<const char *> needles,
                   bool null_tokens = false, bool null_pos = false, bool null_seq = false) {
        bloom_batch batch = x.get();
        if (null_tokens) batch.tokens = nullptr;
        if (null_pos) batch.pos = nullptr;
        if (null_seq) batch.seq_id = nullptr;
        const int32_t st = bloom_context_decode_batch(c.get(), &batch);
        const std::string msg = bloom_last_error();
        bool ok = st == want && !msg.empty();
        for (const char * n : needles) ok = ok && lower(msg).find(lower(n)) != std::string::npos;
        if (!ok) {
            ++g_failures;
            std::fprintf(stderr, "bad batch '%s' (%s): got %d '%s', expected %d naming", what, fa_name(fa), st,
                         msg.c_str(), want);
            for (const char * n : needles) std::fprintf(stderr, " '%s'", n);
            std::fprintf(stderr, "\n");
        }
        if (bloom_context_cells_used(c.get()) != used0 || bloom_context_seq_n_past(c.get(), 0) != 3 ||
            bloom_context_seq_n_past(c.get(), 1) != 2 || bloom_context_seq_n_past(c.get(), 2) != 0) {
            ++g_failures;
            std::fprintf(stderr, "bad batch '%s' changed the cache: %u cells used, n_past %d %d %d\n", what,
                         bloom_context_cells_used(c.get()), bloom_context_seq_n_past(c.get(), 0),
                         bloom_context_seq_n_past(c.get(), 1), bloom_context_seq_n_past(c.get(), 2));
        }
    };
    {
        batch_builder x;  // seq_id == n_seq_max, after a valid token
        x.add(a[3], 3, 0, true);
        x.add(b[2], 0, 4, true);
        bad("seq_id 4 of 4", x, BLOOM_ERR_INVALID_ARGUMENT, {"seq", "4"});
    }
    {
        batch_builder x;
        x.add(a[3], 3, 0, true);
        x.add(b[2], 0, 117, true);
        bad("seq_id 117", x, BLOOM_ERR_INVALID_ARGUMENT, {"seq", "117"});
    }
    {
        batch_builder x;
        x.add(b[2], 2, -3, true);
        bad("seq_id -3", x, BLOOM_ERR_INVALID_ARGUMENT, {"seq", "-3"});
    }
    {
        batch_builder x;  // skips positions 3..5
        x.add(a[3], 6, 0, true);
        bad("position that skips", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;  // goes back to a position the sequence holds
        x.add(a[3], 1, 0, true);
        bad("position that goes back", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;  // a gap inside the batch
        x.add(a[3], 3, 0, false);
        x.add(a[4], 5, 0, true);
        bad("gap inside the batch", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;  // the same position twice
        x.add(b[2], 2, 1, false);
        x.add(b[3], 2, 1, true);
        bad("position twice", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;  // a sequence's tokens out of order
        x.add(b[3], 3, 1, false);
        x.add(b[2], 2, 1, true);
        bad("positions out of order", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;  // a negative position
        x.add(b[2], -1, 2, true);
        bad("negative position", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"});
    }
    {
        batch_builder x;
        bad("empty batch", x, BLOOM_ERR_INVALID_ARGUMENT, {});
    }
    {
        batch_builder x;  // 9 tokens, n_batch 8
        for (int i = 0; i < 9; ++i) x.add(a[size_t(3 + i)], 3 + i, 0, false);
        bad("more tokens than n_batch", x, BLOOM_ERR_INVALID_ARGUMENT, {"n_batch"});
    }
    {
        batch_builder x;  // a bad id after a good token
        x.add(a[3], 3, 0, false);
        x.add(g_vocab, 2, 1, true);
        bad("token id n_vocab", x, BLOOM_ERR_INVALID_ARGUMENT, {"token", "1000"});
    }
    {
        batch_builder x;
        x.add(-5, 3, 0, true);
        bad("token id -5", x, BLOOM_ERR_INVALID_ARGUMENT, {"token", "-5"});
    }
    {
        batch_builder x;
        x.add(a[3], 3, 0, true);
        bad("NULL tokens", x, BLOOM_ERR_INVALID_ARGUMENT, {"token"}, true, false, false);
        bad("NULL pos", x, BLOOM_ERR_INVALID_ARGUMENT, {"pos"}, false, true, false);
        bad("NULL seq_id", x, BLOOM_ERR_INVALID_ARGUMENT, {"seq"}, false, false, true);
    }
    EXPECT_STATUS(bloom_context_decode_batch(c.get(), nullptr), BLOOM_ERR_INVALID_ARGUMENT);
    {
        batch_builder x;
        x.add(a[3], 3, 0, true);
        bloom_batch batch = x.get();
        EXPECT_STATUS(bloom_context_decode_batch(nullptr, &batch), BLOOM_ERR_INVALID_ARGUMENT);
    }
    // The single-sequence decode rejects the same things.
    {
        const int32_t bad_id = g_vocab + 7;
        EXPECT_STATUS(bloom_context_decode(c.get(), &bad_id, 1, false), BLOOM_ERR_INVALID_ARGUMENT, "token");
        EXPECT_STATUS(bloom_context_decode(c.get(), a.data(), 0, false), BLOOM_ERR_INVALID_ARGUMENT);
        EXPECT_STATUS(bloom_context_decode(c.get(), nullptr, 1, false), BLOOM_ERR_INVALID_ARGUMENT);
        CHECK_EQ(bloom_context_cells_used(c.get()), used0);
    }

    // Sequence operations and logits rows outside their ranges.
    EXPECT_STATUS(bloom_context_seq_rm(c.get(), 4, 0, -1), BLOOM_ERR_INVALID_ARGUMENT, "seq");
    EXPECT_STATUS(bloom_context_seq_rm(c.get(), -2, 0, -1), BLOOM_ERR_INVALID_ARGUMENT, "seq");
    EXPECT_STATUS(bloom_context_seq_rm(c.get(), 0, -1, -1), BLOOM_ERR_INVALID_ARGUMENT, "-1");
    EXPECT_STATUS(bloom_context_seq_cp(c.get(), 0, 0, 0, -1), BLOOM_ERR_INVALID_ARGUMENT);
    EXPECT_STATUS(bloom_context_seq_cp(c.get(), 0, 4, 0, -1), BLOOM_ERR_INVALID_ARGUMENT, "4");
    EXPECT_STATUS(bloom_context_seq_cp(c.get(), -1, 2, 0, -1), BLOOM_ERR_INVALID_ARGUMENT, "-1");
    EXPECT_STATUS(bloom_context_seq_cp(c.get(), 0, 2, -4, -1), BLOOM_ERR_INVALID_ARGUMENT, "-4");
    EXPECT_STATUS(bloom_context_seq_keep(c.get(), -1), BLOOM_ERR_INVALID_ARGUMENT, "seq");
    EXPECT_STATUS(bloom_context_seq_keep(c.get(), 4), BLOOM_ERR_INVALID_ARGUMENT, "seq");
    CHECK_EQ(bloom_context_seq_n_past(c.get(), 4), -1);
    CHECK_EQ(bloom_context_seq_n_past(c.get(), -1), -1);
    {
        tokens_t t(8);
        size_t n = 0;
        EXPECT_STATUS(bloom_context_seq_tokens(t.data(), t.size(), &n, c.get(), 4), BLOOM_ERR_INVALID_ARGUMENT, "seq");
        EXPECT_STATUS(bloom_context_seq_tokens(t.data(), t.size(), &n, c.get(), -1), BLOOM_ERR_INVALID_ARGUMENT, "seq");
    }
    CHECK_EQ(bloom_context_cells_used(c.get()), used0);

    // Usable afterwards: the next tokens of both sequences give a fresh context's logits.
    bb = batch_builder();
    bb.add(a[3], 3, 0, true);
    bb.add(b[2], 2, 1, true);
    decode_ok(c.get(), bb);
    close_rows(ith(c.get(), 0), alone_last(fa, slice(a, 0, 4)), "seq 0 after bad batches");
    close_rows(ith(c.get(), 1), alone_last(fa, slice(b, 0, 3)), "seq 1 after bad batches");
    {
        const float * l = nullptr;
        EXPECT_STATUS(bloom_context_get_logits_ith(&l, c.get(), 2), BLOOM_ERR_INVALID_ARGUMENT);
        EXPECT_STATUS(bloom_context_get_logits_ith(&l, c.get(), -1), BLOOM_ERR_INVALID_ARGUMENT);
        smpl_ptr s = new_sampler();
        int32_t t = -1;
        EXPECT_STATUS(bloom_sampler_sample_ith(&t, s.get(), c.get(), 2), BLOOM_ERR_INVALID_ARGUMENT);
        CHECK_EQ(bloom_sampler_sample_ith(&t, s.get(), c.get(), 1), BLOOM_OK);
        const tokens_t want = alone_greedy(fa, slice(b, 0, 3), 1);
        CHECK_EQ(t, want.at(0));
    }

    // A full pool: 4 + 3 cells used; seq 2 takes 8 + 8 + 8 (n_batch 8 at a time) of the 25 left, then 2 tokens do
    // not fit in the 1 free cell. Nothing changes, and the other sequences' logits stay those of a fresh context.
    for (int i = 0; i < 3; ++i) {
        batch_builder fb;
        for (int j = 0; j < 8; ++j) fb.add(a[size_t(j) % a.size()], i * 8 + j, 2, false);
        decode_ok(c.get(), fb);
    }
    const uint32_t used_full = bloom_context_cells_used(c.get());
    CHECK_EQ(used_full, 31u);
    {
        batch_builder x;
        x.add(a[4], 4, 0, true);
        x.add(b[3], 3, 1, true);
        bloom_batch batch = x.get();
        EXPECT_STATUS(bloom_context_decode_batch(c.get(), &batch), BLOOM_ERR_CONTEXT_FULL);
        CHECK_EQ(bloom_context_cells_used(c.get()), used_full);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 0), 4);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 1), 3);
        EXPECT_STATUS(bloom_context_decode(c.get(), &a[4], 2, false), BLOOM_ERR_CONTEXT_FULL);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 0), 4);
        // A generator whose prompt does not fit in the free cells now.
        smpl_ptr s = new_sampler();
        params_holder ph(gen_opts(), 3);
        bloom_generator * g = nullptr;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), b.data(), 4, &ph.p), BLOOM_ERR_CONTEXT_FULL);
        CHECK(g == nullptr);
        CHECK_EQ(bloom_context_cells_used(c.get()), used_full);
    }
    {
        batch_builder x;  // the last free cell, for sequence 1
        x.add(b[3], 3, 1, true);
        decode_ok(c.get(), x);
        close_rows(ith(c.get(), 0), alone_last(fa, slice(b, 0, 4)), "seq 1 in the last free cell");
        CHECK_EQ(bloom_context_cells_used(c.get()), 32u);
        batch_builder y;
        y.add(a[4], 4, 0, true);
        bloom_batch batch = y.get();
        EXPECT_STATUS(bloom_context_decode_batch(c.get(), &batch), BLOOM_ERR_CONTEXT_FULL);
    }
    // Freeing sequence 2 makes room; sequence 0 continues exactly.
    CHECK_EQ(bloom_context_seq_rm(c.get(), 2, 0, -1), BLOOM_OK);
    CHECK_EQ(bloom_context_cells_used(c.get()), 8u);
    {
        batch_builder x;
        x.add(a[4], 4, 0, false);
        x.add(a[5], 5, 0, true);
        decode_ok(c.get(), x);
        close_rows(ith(c.get(), 1), alone_last(fa, slice(a, 0, 6)), "seq 0 after the pool was full");
    }

    // Generators: a prompt longer than the context, a bad seq_id, bad tokens, an empty prompt.
    {
        smpl_ptr s = new_sampler();
        const tokens_t longp = random_tokens(rng, 33);
        params_holder ph(gen_opts(), 3);
        bloom_generator * g = nullptr;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), longp.data(), longp.size(), &ph.p),
                      BLOOM_ERR_CONTEXT_FULL, "33");
        ph.p.seq_id = 4;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT,
                      "seq");
        ph.p.seq_id = -1;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT,
                      "seq");
        ph.p.seq_id = 3;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 0, &ph.p), BLOOM_ERR_INVALID_ARGUMENT);
        const tokens_t badp = {5, g_vocab};
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), badp.data(), badp.size(), &ph.p),
                      BLOOM_ERR_INVALID_ARGUMENT, "token");
        ph.p.max_tokens = -1;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT,
                      "max_tokens");
        ph.p.max_tokens = 4;
        ph.p.size = 0;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT,
                      "size");
        bloom_generate_result r = {};
        EXPECT_STATUS(bloom_generate(&r, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT, "size");
        ph.p.size = sizeof(bloom_generate_params) + 64;
        EXPECT_STATUS(bloom_generator_init(&g, c.get(), s.get(), a.data(), 2, &ph.p), BLOOM_ERR_INVALID_ARGUMENT,
                      "size");
        CHECK(g == nullptr);
        ph.p.size = sizeof(bloom_generate_params);
        ph.p.seq_id = 0;
        EXPECT_STATUS(bloom_generate(&r, c.get(), s.get(), longp.data(), longp.size(), &ph.p),
                      BLOOM_ERR_CONTEXT_FULL);
        CHECK_EQ(bloom_context_cells_used(c.get()), 10u);
        CHECK_EQ(bloom_context_seq_n_past(c.get(), 0), 6);
        // bloom_context_step: NULL, the same generator twice, one of another context.
        CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), b.data(), 3, &ph.p), BLOOM_OK);  // seq 0: no reuse
        gen_ptr gp(g);
        ctx_ptr other = new_ctx(32, 8, 1, fa);
        smpl_ptr s2 = new_sampler();
        bloom_generator * g2 = nullptr;
        CHECK_EQ(bloom_generator_init(&g2, other.get(), s2.get(), a.data(), 2, nullptr), BLOOM_OK);
        gen_ptr gp2(g2);
        bloom_generator_event ev[2] = {};
        bloom_generator * twice[2] = {g, g};
        EXPECT_STATUS(bloom_context_step(ev, c.get(), twice, 2), BLOOM_ERR_INVALID_ARGUMENT);
        bloom_generator * with_null[2] = {g, nullptr};
        EXPECT_STATUS(bloom_context_step(ev, c.get(), with_null, 2), BLOOM_ERR_INVALID_ARGUMENT);
        bloom_generator * foreign[2] = {g, g2};
        EXPECT_STATUS(bloom_context_step(ev, c.get(), foreign, 2), BLOOM_ERR_INVALID_ARGUMENT);
        // The generator still runs as it would have.
        gen_opts o;
        o.max_tokens = 4;
        run_out got;
        for (int i = 0; i < 10; ++i) {
            bloom_generator_event e = {};
            CHECK_EQ(bloom_context_step(&e, c.get(), &g, 1), BLOOM_OK);
            take_event(got, e);
            if (e.finish_reason >= 0) break;
        }
        CHECK_EQ(bloom_generator_get_result(&got.res, g), BLOOM_OK);
        o.n_ctx = 32;
        o.n_batch = 8;
        expect_same("generator after rejected steps", got, generate_alone(fa, slice(b, 0, 3), o));
    }
}

// Parameter structs: size 0 or too large is rejected, a smaller size (an older caller) gets the defaults for the
// fields it does not know; n_seq_max outside [1, BLOOM_MAX_SEQ].
void test_params(const std::string & dir) {
    bloom_context * c = nullptr;
    bloom_context_params cp = ctx_params(64, 16, 2, BLOOM_FLASH_ATTN_AUTO);
    cp.size = 0;
    EXPECT_STATUS(bloom_context_init(&c, g_model, &cp), BLOOM_ERR_INVALID_ARGUMENT, "size");
    CHECK(c == nullptr);
    cp.size = sizeof(cp) + 4;
    EXPECT_STATUS(bloom_context_init(&c, g_model, &cp), BLOOM_ERR_INVALID_ARGUMENT, "size");
    cp = ctx_params(64, 16, 0, BLOOM_FLASH_ATTN_AUTO);
    EXPECT_STATUS(bloom_context_init(&c, g_model, &cp), BLOOM_ERR_INVALID_ARGUMENT, "n_seq_max");
    cp.n_seq_max = BLOOM_MAX_SEQ + 1;
    EXPECT_STATUS(bloom_context_init(&c, g_model, &cp), BLOOM_ERR_INVALID_ARGUMENT, "n_seq_max");
    CHECK(c == nullptr);
    cp.n_seq_max = BLOOM_MAX_SEQ;
    CHECK_EQ(bloom_context_init(&c, g_model, &cp), BLOOM_OK);
    if (c) {
        // The highest sequence id works.
        const int32_t t = 5;
        bloom_batch b = {1, &t, nullptr, nullptr, nullptr};
        const int32_t pos = 0, seq = BLOOM_MAX_SEQ - 1;
        b.pos = &pos;
        b.seq_id = &seq;
        CHECK_EQ(bloom_context_decode_batch(c, &b), BLOOM_OK);
        CHECK_EQ(bloom_context_seq_n_past(c, BLOOM_MAX_SEQ - 1), 1);
        CHECK_EQ(bloom_context_seq_n_past(c, BLOOM_MAX_SEQ), -1);
        bloom_context_params got = bloom_context_default_params();
        CHECK_EQ(bloom_context_get_params(&got, c), BLOOM_OK);
        CHECK_EQ(got.n_seq_max, uint32_t(BLOOM_MAX_SEQ));
        CHECK_EQ(got.n_ctx, 64u);
        CHECK_EQ(got.n_batch, 16u);
        bloom_context_free(c);
        c = nullptr;
    }
    // ABI 7 is the first with sized structs, so no smaller size is an older caller yet: rejected. (When a field is
    // added, ABI 7's size must keep working with the new field at its default.)
    {
        bloom_context_params old = ctx_params(64, 16, 7, BLOOM_FLASH_ATTN_OFF);
        old.size = uint32_t(offsetof(bloom_context_params, n_seq_max));
        EXPECT_STATUS(bloom_context_init(&c, g_model, &old), BLOOM_ERR_INVALID_ARGUMENT, "size");
        CHECK(c == nullptr);
        old.size = uint32_t(sizeof old);
        CHECK_EQ(bloom_context_init(&c, g_model, &old), BLOOM_OK);
        if (c) {
            bloom_context_params got = bloom_context_default_params();
            CHECK_EQ(bloom_context_get_params(&got, c), BLOOM_OK);
            CHECK_EQ(got.n_seq_max, 7u);
            CHECK_EQ(got.n_ctx, 64u);
            CHECK_EQ(got.flash_attn, int32_t(BLOOM_FLASH_ATTN_OFF));
            // get_params writes only the caller's size.
            bloom_context_params small;
            std::memset(&small, 0xAB, sizeof small);
            small.size = uint32_t(offsetof(bloom_context_params, n_seq_max));
            CHECK_EQ(bloom_context_get_params(&small, c), BLOOM_OK);
            CHECK_EQ(small.n_ctx, 64u);
            CHECK_EQ(small.n_seq_max, 0xABABABABu);
            small.size = 0;
            EXPECT_STATUS(bloom_context_get_params(&small, c), BLOOM_ERR_INVALID_ARGUMENT, "size");
            bloom_context_free(c);
            c = nullptr;
        }
    }
    // NULL params: the defaults.
    CHECK_EQ(bloom_context_init(&c, g_model, nullptr), BLOOM_OK);
    if (c) {
        bloom_context_params got = bloom_context_default_params();
        CHECK_EQ(bloom_context_get_params(&got, c), BLOOM_OK);
        CHECK_EQ(got.n_seq_max, 1u);
        CHECK_EQ(got.n_ctx, 2048u);
        bloom_context_free(c);
    }
    {
        bloom_model_params mp = bloom_model_default_params();
        CHECK_EQ(mp.size, uint32_t(sizeof mp));
        mp.size = 0;
        bloom_model * m = nullptr;
        EXPECT_STATUS(bloom_model_load(&m, dir.c_str(), dir.size(), &mp), BLOOM_ERR_INVALID_ARGUMENT, "size");
        CHECK(m == nullptr);
        bloom_sampler_params sp = bloom_sampler_default_params();
        CHECK_EQ(sp.size, uint32_t(sizeof sp));
        sp.size = 0;
        bloom_sampler * s = nullptr;
        EXPECT_STATUS(bloom_sampler_init(&s, g_model, &sp), BLOOM_ERR_INVALID_ARGUMENT, "size");
        CHECK(s == nullptr);
        CHECK_EQ(bloom_context_default_params().size, uint32_t(sizeof(bloom_context_params)));
        CHECK_EQ(bloom_generate_default_params().size, uint32_t(sizeof(bloom_generate_params)));
        CHECK_EQ(bloom_generate_default_params().seq_id, 0);
        CHECK_EQ(bloom_context_default_params().n_seq_max, 1u);
    }
}

// Many short lives of contexts, samplers and generators on one model; ASan's leak check sees what one leaks.
void test_cycles() {
    std::mt19937 rng(61);
    const tokens_t p = random_tokens(rng, 6);
    const auto t0 = std::chrono::steady_clock::now();
    const int n = 250;
    for (int i = 0; i < n; ++i) {
        g_threads = i % 125 == 0 ? 2 : 1;  // a pool of worker threads to start and stop, twice
        ctx_ptr c = new_ctx(64, 16, 4, i % 2 ? BLOOM_FLASH_ATTN_ON : BLOOM_FLASH_ATTN_OFF);
        g_threads = 1;
        if (!c) break;
        batch_builder bb;
        for (size_t j = 0; j < p.size(); ++j) bb.add(p[j], int32_t(j), 0, false);
        bb.add(p[0], 0, 1, true);
        decode_ok(c.get(), bb);
        CHECK_EQ(bloom_context_seq_cp(c.get(), 0, 2, 0, -1), BLOOM_OK);
        if (i % 5 == 0) {
            smpl_ptr s = new_sampler();
            gen_opts o;
            o.max_tokens = 2;
            params_holder ph(o, 3);
            bloom_generator * g = nullptr;
            CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), p.data(), p.size(), &ph.p), BLOOM_OK);
            bloom_generator_event e = {};
            CHECK_EQ(bloom_context_step(&e, c.get(), &g, 1), BLOOM_OK);
            if (i % 10 != 0) CHECK_EQ(bloom_generator_step(&e, g), BLOOM_OK);  // else freed after one step
            bloom_generator_free(g);
        }
        if (i % 7 == 0) {
            // Failed calls on the way.
            batch_builder x;
            x.add(p[0], 9, 0, true);
            bloom_batch b = x.get();
            CHECK_EQ(bloom_context_decode_batch(c.get(), &b), BLOOM_ERR_INVALID_ARGUMENT);
            bloom_context_params bad = ctx_params(64, 16, 0, BLOOM_FLASH_ATTN_AUTO);
            bloom_context * none = nullptr;
            CHECK_EQ(bloom_context_init(&none, g_model, &bad), BLOOM_ERR_INVALID_ARGUMENT);
            smpl_ptr s = new_sampler();
            bloom_generator * g = nullptr;
            const tokens_t too_long(65, p[0]);
            CHECK_EQ(bloom_generator_init(&g, c.get(), s.get(), too_long.data(), too_long.size(), nullptr),
                     BLOOM_ERR_CONTEXT_FULL);
        }
        if (i % 13 == 0) {
            smpl_ptr s = new_sampler();
            gen_opts o;
            o.max_tokens = 3;
            params_holder ph(o, 1);
            bloom_generate_result r = {};
            CHECK_EQ(bloom_generate(&r, c.get(), s.get(), p.data(), p.size(), &ph.p), BLOOM_OK);
        }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%d context lives: %.2f s\n", n, s);
}

} // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress and failures in order when both go to one log
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_EQ(bloom_abi_version(), uint32_t(BLOOM_ABI_VERSION));
    char tmpl[] = "/tmp/bloom-test-batch-XXXXXX";
    const char * made = mkdtemp(tmpl);
    if (!made) { std::perror("mkdtemp"); return 1; }
    // Its own lm_head, so that generations vary (with tied embeddings a token mostly predicts itself), and a tied one
    // for test_held_back_tail, which needs exactly that.
    const std::string dir = std::string(made) + "/model", tied_dir = std::string(made) + "/tied";
    const ck_spec spec = {/*n_embd*/ 64, /*n_head*/ 4, /*n_layer*/ 3, /*vocab_size*/ 1000, /*bf16*/ false,
                          /*lm_head*/ true, /*prefix*/ false};
    ck_spec tied_spec = spec;
    tied_spec.lm_head = false;
    write_checkpoint(dir, spec, 7);
    write_checkpoint(tied_dir, tied_spec, 7);
    bloom_model_params mp = bloom_model_default_params();
    mp.n_gpu_layers = 0;
    if (bloom_model_load(&g_lm_head, dir.c_str(), dir.size(), &mp) != BLOOM_OK ||
        bloom_model_load(&g_tied, tied_dir.c_str(), tied_dir.size(), &mp) != BLOOM_OK) {
        std::fprintf(stderr, "loading the test checkpoints: %s\n", bloom_last_error());
        return 1;
    }
    g_model = g_lm_head;
    bloom_model_info info = {};
    CHECK_EQ(bloom_model_get_info(&info, g_model), BLOOM_OK);
    CHECK_EQ(info.n_embd, spec.n_embd);
    CHECK_EQ(info.n_head, spec.n_head);
    CHECK_EQ(info.n_layer, spec.n_layer);
    CHECK_EQ(info.n_vocab, spec.vocab_size);
    CHECK_EQ(info.n_vocab_tokens, spec.vocab_size);  // every id has text
    CHECK_EQ(info.weight_dtype, int32_t(BLOOM_DTYPE_F32));
    g_vocab = info.n_vocab;
    g_eos = info.eos_token;

    auto timed = [](const char * name, const std::function<void()> & f) {
        const auto t = std::chrono::steady_clock::now();
        f();
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
        std::printf("  %-28s %6.2f s\n", name, sec);
    };
    for (int32_t fa : {BLOOM_FLASH_ATTN_ON, BLOOM_FLASH_ATTN_OFF}) {
        std::printf("-- %s\n", fa_name(fa));
        timed("batch mixes", [&] {
            test_mix(fa, 1, 101, false);
            test_mix(fa, 2, 102, true);
            test_mix(fa, 5, 103, false);
            test_mix(fa, 9, 104, true);
            test_mix(fa, 16, 105, false);
            test_mix(fa, 16, 106, true, 2);
            test_mix(fa, 7, 107, true, 1, 30);   // with sequences removed, rolled back and restarted
            test_mix(fa, 16, 108, false, 1, 40);
            test_mix(fa, 8, 109, true, 1, 12, 150);  // past 256 and 512 cells
            for (uint32_t seed = 110; seed < 118; ++seed) {
                test_mix(fa, 1 + int(seed % 16), seed, seed % 2 == 0, 1, 10);
            }
        });
        timed("sequence operations", [&] { test_seq_ops(fa); });
        timed("single-sequence calls", [&] { test_single_calls_multi(fa); });
        timed("generate vs generator", [&] {
            test_generate_vs_generator(fa, 0.0f);
            test_generate_vs_generator(fa, 1.0f);
            test_held_back_tail(fa);
        });
        timed("context_step", [&] { test_context_step(fa); });
        timed("generator reservations", [&] { test_generator_pool(fa); });
        timed("generator logprobs", [&] { test_generator_logprobs(fa); });
        timed("bad input", [&] { test_bad_input(fa); });
    }
    timed("params", [&] { test_params(dir); });
    timed("context lives", [&] { test_cycles(); });
    std::printf("worst batch-vs-alone logits difference: %.2e of the range (tolerance %g)\n", g_worst, kTol);

    bloom_model_free(g_lm_head);
    bloom_model_free(g_tied);
    if (g_failures == 0) {
        const std::string cmd = "rm -rf '" + std::string(made) + "'";
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", made);
    } else {
        std::fprintf(stderr, "checkpoints kept in %s\n", made);
    }
    std::printf("test-batch: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return TEST_MAIN_RESULT();
}
