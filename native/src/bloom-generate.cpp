#include "bloom-generate.h"

#include "bloom-error.h"

#include <chrono>

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

bloom_generate_result generate(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
                               const bloom_generate_params & params) {
    using clock = std::chrono::steady_clock;
    const model & m = ctx.get_model();
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
    if (n_prompt > ctx.n_ctx()) {
        fail(BLOOM_ERR_CONTEXT_FULL, "the prompt has %zu tokens but the context holds %u", n_prompt, ctx.n_ctx());
    }
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

    bloom_generate_result res = {};
    res.n_prompt      = int32_t(n_prompt);
    res.finish_reason = BLOOM_FINISH_LENGTH;

    // Reuse the cached prefix, but always evaluate at least the last prompt token: its logits start generation.
    const std::vector<int32_t> & cached = ctx.tokens();
    size_t reuse = 0;
    while (reuse < cached.size() && reuse + 1 < n_prompt && cached[reuse] == prompt[reuse]) {
        ++reuse;
    }
    ctx.truncate(uint32_t(reuse));
    res.n_reused = int32_t(reuse);

    const auto t0 = clock::now();
    ctx.decode(prompt + reuse, n_prompt - reuse, false);
    const auto t1 = clock::now();
    res.prefill_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    for (size_t i = 0; i < n_prompt; ++i) {
        smpl.accept(prompt[i]);
    }

    detokenizer  detok(*m.tokenizer, true);
    stop_matcher matcher(std::move(stops));
    const int32_t eos = m.tokenizer->eos();
    auto deliver = [&](int32_t token, const std::string & text) {
        return params.callback ? params.callback(token, text.data(), text.size(), params.user_data) : true;
    };
    bool ended = false;
    while (!ended) {
        if (res.n_generated >= params.max_tokens) {
            res.finish_reason = BLOOM_FINISH_LENGTH;
            break;
        }
        const int32_t tok = smpl.sample(ctx.last_logits());
        smpl.accept(tok);
        ++res.n_generated;
        if (tok == eos && !params.ignore_eos) {
            // Hugging Face's generate() includes the end-of-sequence token in its output; so do we (no text).
            res.finish_reason = BLOOM_FINISH_EOS;
            ended = true;
            if (!deliver(tok, {})) {
                res.finish_reason = BLOOM_FINISH_CANCELLED;
            }
            break;
        }
        const std::string text = matcher.push(detok.push(tok));
        if (matcher.stopped()) {
            res.finish_reason = BLOOM_FINISH_STOP;
            ended = true;
        }
        if (!deliver(tok, text)) {
            res.finish_reason = BLOOM_FINISH_CANCELLED;
            break;
        }
        if (ended || res.n_generated >= params.max_tokens) {
            continue;  // no need to evaluate a token nothing will follow
        }
        if (ctx.n_past() >= ctx.n_ctx()) {
            res.finish_reason = BLOOM_FINISH_CONTEXT_FULL;
            break;
        }
        ctx.decode(&tok, 1, false);
    }
    // Text still held back (a partial stop string, an unfinished UTF-8 sequence) goes out in a last call.
    if (res.finish_reason != BLOOM_FINISH_CANCELLED) {
        const std::string rest = matcher.push(detok.flush()) + matcher.flush();
        if (!rest.empty()) {
            deliver(-1, rest);
        }
    }
    res.decode_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    return res;
}

} // namespace bloom
