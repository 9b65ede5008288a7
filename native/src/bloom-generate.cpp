#include "bloom-generate.h"

#include "bloom-error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace bloom {

std::string detokenizer::push(int32_t token) {
    if (skip_special_ && vocab_->is_special(token)) {
        return {};
    }
    pending_ += vocab_->token_to_piece(token);
    const size_t n = utf8_complete_prefix(pending_.data(), pending_.size());
    std::string out = utf8_lossy(std::string_view(pending_.data(), n));
    pending_.erase(0, n);
    return out;
}

std::string detokenizer::flush() {
    std::string out = utf8_lossy(pending_);
    pending_.clear();
    return out;
}

std::string stop_matcher::push(const std::string & text) {
    if (stopped_) {
        return {};
    }
    held_ += text;
    if (stops_.empty()) {
        std::string out;
        out.swap(held_);
        return out;
    }
    // The earliest stop string wins.
    size_t first = std::string::npos;
    for (const std::string & s : stops_) {
        const size_t p = held_.find(s);
        if (p < first) {
            first = p;
        }
    }
    if (first != std::string::npos) {
        stopped_ = true;
        std::string out = held_.substr(0, first);
        held_.clear();
        return out;
    }
    // Keep the longest tail that is a proper prefix of some stop string; it starts where a stop string starts,
    // so it never splits a UTF-8 sequence.
    size_t keep = 0;
    for (const std::string & s : stops_) {
        for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k) {
            if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
                keep = k;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string stop_matcher::flush() {
    std::string out;
    if (!stopped_) {
        out.swap(held_);
    }
    held_.clear();
    return out;
}

namespace {

std::vector<std::string> stop_strings(const bloom_generate_params & params) {
    std::vector<std::string> stops;
    for (size_t i = 0; i < params.n_stop; ++i) {
        if (!params.stop || !params.stop_lens || !params.stop[i]) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "stop string %zu is NULL", i);
        }
        if (params.stop_lens[i] == 0) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "stop string %zu is empty", i);
        }
        stops.emplace_back(params.stop[i], params.stop_lens[i]);
    }
    return stops;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

generator::generator(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
                     const bloom_generate_params & params)
    : ctx_(ctx), smpl_(smpl), seq_(params.seq_id), max_tokens_(params.max_tokens), ignore_eos_(params.ignore_eos),
      eos_(ctx.get_model().tokenizer->eos()), n_evaluated_(0), reserved_(0),
      detok_(*ctx.get_model().tokenizer, true), matcher_(stop_strings(params)), n_logprobs_(params.n_logprobs) {
    const model & m = ctx.get_model();
    if (params.n_logprobs < 0 || params.n_logprobs > BLOOM_MAX_LOGPROBS) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_logprobs must be in [0, %d], not %d", BLOOM_MAX_LOGPROBS,
             params.n_logprobs);
    }
    if (n_prompt == 0 || !prompt) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the prompt is empty; generation needs at least one token");
    }
    if (params.max_tokens < 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "max_tokens must be >= 0, not %d", params.max_tokens);
    }
    for (size_t i = 0; i < n_prompt; ++i) {
        if (prompt[i] < 0 || prompt[i] >= m.hp.n_vocab) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "prompt token id %d at index %zu is out of range [0, %d)", prompt[i], i,
                 m.hp.n_vocab);
        }
    }
    ctx.check_seq(seq_, "seq_id");
    if (ctx.seq_claimed(seq_)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "sequence %d already has a live generator; free it first", seq_);
    }
    if (n_prompt > ctx.n_ctx()) {
        fail(BLOOM_ERR_CONTEXT_FULL, "the prompt has %zu tokens but the context holds %u", n_prompt, ctx.n_ctx());
    }
    prompt_.assign(prompt, prompt + n_prompt);

    // Reuse the cached prefix, but always evaluate at least the last prompt token: its logits start generation.
    size_t n_cached = 0;
    const std::vector<int32_t> cached = ctx.seq_tokens(seq_, &n_cached);
    size_t reuse = 0;
    while (reuse < n_cached && reuse + 1 < n_prompt && cached[reuse] == prompt[reuse]) {
        ++reuse;
    }
    // The rest of the prompt must fit in the cells free now plus those its own removal frees; checked before
    // anything changes.
    const uint32_t needed = uint32_t(n_prompt - reuse);
    const uint32_t freed = ctx.cells_freed_by_rm(seq_, int32_t(reuse));
    if (needed > ctx.cells_available() + freed) {
        fail(BLOOM_ERR_CONTEXT_FULL, "the prompt needs %u more cells but %u of the context's %u are free (other "
             "sequences hold or have reserved the rest); retry when some have finished", needed,
             ctx.cells_available() + freed, ctx.n_ctx());
    }
    ctx.seq_rm(seq_, int32_t(reuse), -1);
    ctx.claim_run(seq_, uint32_t(std::min<int64_t>(int64_t(needed) + params.max_tokens, ctx.n_ctx())));
    ctx.reserve(needed);
    reserved_ = needed;
    ctx.set_claimed(seq_, true);
    n_evaluated_ = reuse;
    for (size_t i = 0; i < n_prompt; ++i) {
        smpl_.accept(prompt[i]);
    }
    res_.n_prompt      = int32_t(n_prompt);
    res_.n_reused      = int32_t(reuse);
    res_.finish_reason = -1;
    set_event(-1);
}

generator::~generator() {
    ctx_.unreserve(reserved_);
    ctx_.release_claims(seq_);
    ctx_.set_claimed(seq_, false);
}

void generator::set_event(int32_t token) {
    event_.token         = token;
    event_.text          = text_.data();
    event_.text_len      = text_.size();
    event_.tail          = tail_.data();
    event_.tail_len      = tail_.size();
    event_.finish_reason = res_.finish_reason;
}

void generator::finish(int32_t reason) {
    res_.finish_reason = reason;
    // Text still held back (a partial stop string, an unfinished UTF-8 sequence) goes out as the tail. Two
    // statements: the detokenizer's rest must reach the matcher before the matcher lets go of what it holds (the
    // operands of + have no order).
    tail_ = matcher_.push(detok_.flush());
    tail_ += matcher_.flush();
}

void generator::sample_and_decide(const float * logits, bool has_cell) {
    // bloom_generate's order: max_tokens, then the token's own finish (EOS, a stop string), then max_tokens again
    // and a full context for the token that would follow.
    if (res_.n_generated >= max_tokens_) {
        finish(BLOOM_FINISH_LENGTH);
        set_event(-1);
        return;
    }
    const int32_t tok = smpl_.sample(logits);
    if (n_logprobs_ > 0) {
        record_logprobs(logits, tok);
    }
    smpl_.accept(tok);
    ++res_.n_generated;
    if (tok == eos_ && !ignore_eos_) {
        // Hugging Face's generate() includes the end-of-sequence token in its output; so do we (no text).
        finish(BLOOM_FINISH_EOS);
        set_event(tok);
        return;
    }
    text_ = matcher_.push(detok_.push(tok));
    if (matcher_.stopped()) {
        finish(BLOOM_FINISH_STOP);
    } else if (res_.n_generated >= max_tokens_) {
        finish(BLOOM_FINISH_LENGTH);
    } else if (!has_cell) {
        finish(BLOOM_FINISH_CONTEXT_FULL);
    } else {
        pending_ = tok;
    }
    set_event(tok);
}

void generator::record_logprobs(const float * logits, int32_t token) {
    const int32_t n_vocab = ctx_.get_model().hp.n_vocab;
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; ++i) {
        max = std::max(max, logits[i]);
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; ++i) {
        sum += std::exp(double(logits[i]) - double(max));
    }
    const double log_z = double(max) + std::log(sum);
    lp_token_ = token;
    lp_ = float(double(logits[token]) - log_z);
    const size_t k = std::min(size_t(n_logprobs_), size_t(n_vocab));
    lp_top_ids_.resize(size_t(n_vocab));
    std::iota(lp_top_ids_.begin(), lp_top_ids_.end(), 0);
    std::partial_sort(lp_top_ids_.begin(), lp_top_ids_.begin() + std::ptrdiff_t(k), lp_top_ids_.end(),
                      [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    lp_top_ids_.resize(k);
    lp_top_.resize(k);
    for (size_t i = 0; i < k; ++i) {
        lp_top_[i] = float(double(logits[lp_top_ids_[i]]) - log_z);
    }
}

void generator::logprobs(float * out_logprob, int32_t * top_ids, float * top_logprobs, size_t capacity,
                         size_t * out_n) const {
    if (n_logprobs_ == 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the generator was started with n_logprobs 0: no log-probabilities recorded");
    }
    if (event_.token < 0 || event_.token != lp_token_) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the generator's last event carries no token");
    }
    const size_t n = std::min(capacity, lp_top_ids_.size());
    if (n > 0 && (!top_ids || !top_logprobs)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "out_top_ids and out_top_logprobs must not be NULL when capacity > 0");
    }
    std::copy_n(lp_top_ids_.begin(), n, top_ids);
    std::copy_n(lp_top_.begin(), n, top_logprobs);
    *out_logprob = lp_;
    *out_n = n;
}

void generator::step(context & ctx, generator * const * gens, size_t n) {
    using clock = std::chrono::steady_clock;
    for (size_t i = 0; i < n; ++i) {
        if (!gens[i]) fail(BLOOM_ERR_INVALID_ARGUMENT, "generator %zu is NULL", i);
        if (&gens[i]->ctx_ != &ctx) fail(BLOOM_ERR_INVALID_ARGUMENT, "generator %zu belongs to another context", i);
        for (size_t j = 0; j < i; ++j) {
            if (gens[j] == gens[i]) fail(BLOOM_ERR_INVALID_ARGUMENT, "generator %zu is listed twice (also at %zu)", i, j);
        }
    }
    // The batch: first every running generator's last token, then pieces of prompts while n_batch allows.
    struct part { generator * g; int first, count; bool logits; };
    std::vector<part> parts;
    std::vector<int32_t> tokens, pos, seq;
    std::vector<char> want;
    const int n_batch = int(ctx.params().n_batch);
    uint32_t free_cells = ctx.cells_available();
    uint32_t n_reserved = 0;
    std::vector<char> full(n, 0);  // a running generator whose next token finds no cell
    auto add = [&](generator * g, const int32_t * toks, int count, bool logits_last) {
        parts.push_back({ g, int(tokens.size()), count, logits_last });
        for (int k = 0; k < count; ++k) {
            tokens.push_back(toks[k]);
            pos.push_back(ctx.seq_n_past(g->seq_) + k);
            seq.push_back(g->seq_);
            want.push_back(logits_last && k == count - 1);
        }
    };
    for (size_t i = 0; i < n; ++i) {
        generator * g = gens[i];
        if (g->finished() || g->pending_ < 0) continue;
        if (int(tokens.size()) >= n_batch) continue;  // beyond n_batch running generators: they wait a step
        if (free_cells == 0) { full[i] = 1; continue; }
        --free_cells;
        add(g, &g->pending_, 1, true);
    }
    for (size_t i = 0; i < n; ++i) {
        generator * g = gens[i];
        if (g->finished() || g->pending_ >= 0 || g->prompt_left() == 0) continue;
        const int room = n_batch - int(tokens.size());
        if (room <= 0) break;
        const int count = int(std::min(size_t(room), g->prompt_left()));
        n_reserved += uint32_t(count);
        add(g, g->prompt_.data() + g->n_evaluated_, count, size_t(count) == g->prompt_left());
    }

    // Evaluate; on an error nothing of the generators has changed yet.
    const auto t0 = clock::now();
    if (!tokens.empty()) {
        const batch_view b = { tokens.data(), pos.data(), seq.data(), reinterpret_cast<const bool *>(want.data()),
                               int(tokens.size()) };
        ctx.eval(b, n_reserved);
    }
    const double eval_ms = ms_since(t0);

    for (size_t i = 0; i < n; ++i) {
        generator * g = gens[i];
        g->text_.clear();
        g->tail_.clear();
        if (g->finished()) {
            g->set_event(-1);
        } else if (full[i]) {
            g->pending_ = -1;
            g->finish(BLOOM_FINISH_CONTEXT_FULL);
            g->set_event(-1);
        } else {
            g->set_event(-1);  // still waiting (a prompt piece, or no room in this batch)
        }
    }
    // Sample for every generator whose logits row arrived; a continuing one needs a cell for its next token.
    free_cells = ctx.cells_available();
    for (const part & p : parts) {
        generator * g = p.g;
        const bool prefill = g->pending_ < 0;
        if (prefill) {
            g->n_evaluated_ += size_t(p.count);
            const uint32_t used = std::min(g->reserved_, uint32_t(p.count));
            g->reserved_ -= used;
            g->res_.prefill_ms += eval_ms;
        } else {
            g->pending_ = -1;
            g->res_.decode_ms += eval_ms;
        }
        if (!p.logits) continue;
        const auto ts = clock::now();
        const bool has_cell = free_cells > 0;
        g->sample_and_decide(ctx.logits_ith(p.first + p.count - 1), has_cell);
        if (g->pending_ >= 0) --free_cells;
        g->res_.decode_ms += ms_since(ts);
    }
}

void generator::step_one() {
    generator * self = this;
    do {
        step(ctx_, &self, 1);
    } while (!finished() && event_.token < 0);
}

bloom_generate_result generate(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
                               const bloom_generate_params & params) {
    generator gen(ctx, smpl, prompt, n_prompt, params);
    auto deliver = [&](int32_t token, const char * text, size_t len) {
        return params.callback ? params.callback(token, text, len, params.user_data) : true;
    };
    bool cancelled = false;
    while (!gen.finished()) {
        gen.step_one();
        const bloom_generator_event & ev = gen.event();
        if (ev.token >= 0 && !deliver(ev.token, ev.text, ev.text_len)) {
            cancelled = true;
            break;
        }
        if (ev.finish_reason >= 0 && ev.tail_len > 0) {
            deliver(-1, ev.tail, ev.tail_len);
        }
    }
    bloom_generate_result res = gen.result();
    if (cancelled) res.finish_reason = BLOOM_FINISH_CANCELLED;
    return res;
}

} // namespace bloom
