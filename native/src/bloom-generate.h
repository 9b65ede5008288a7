// Streaming text out of tokens, and the generation loop (a generator, stepped alone or many in one decode) built on
// a context and a sampler.
#pragma once

#include "bloom-context.h"
#include "bloom-sampler.h"

#include <string>
#include <vector>

namespace bloom {

// Incremental detokenizer: holds back an unfinished UTF-8 sequence until a later token completes it.
class detokenizer {
public:
    detokenizer(const vocab & v, bool skip_special) : vocab_(&v), skip_special_(skip_special) {}
    // The text that token completes (possibly empty).
    std::string push(int32_t token);
    // What is held back, unfinished sequences as U+FFFD; resets.
    std::string flush();

private:
    const vocab * vocab_;  // a pointer, so a detokenizer can be copied (bloom_detokenizer_push tries on a copy)
    bool          skip_special_;
    std::string   pending_;
};

// Holds back the tail of a text stream that might be the start of a stop string.
class stop_matcher {
public:
    explicit stop_matcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
    // Adds text; returns what is safe to emit. Sets stopped() once a stop string appears (the text before it is
    // returned, the stop string and anything after it dropped).
    std::string push(const std::string & text);
    // The rest, at the end of the stream.
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string              held_;
    bool                     stopped_ = false;
};

// One generation in one sequence of a context, advanced step by step (bloom_generator_*): the only generation loop.
// A step evaluates what the sequence needs (prompt pieces, or its last token), samples, and records an event.
class generator {
public:
    // Validates, reuses the cached prefix of the prompt in params.seq_id, reserves cells for the rest, and feeds
    // the prompt to the sampler's penalties. Throws bloom::error; on an error nothing has changed.
    generator(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
              const bloom_generate_params & params);
    ~generator();  // releases the reservation and the sequence
    generator(const generator &) = delete;
    generator & operator=(const generator &) = delete;

    // One step of these generators of one context in one decode (see bloom_context_step); events go to
    // each generator's event(). Throws bloom::error; a failed decode leaves the generators unchanged.
    static void step(context & ctx, generator * const * gens, size_t n);
    // Steps this generator alone until it samples a token or finishes.
    void step_one();

    const bloom_generator_event & event() const { return event_; }
    const bloom_generate_result & result() const { return res_; }
    bool finished() const { return res_.finish_reason >= 0; }
    context & ctx() const { return ctx_; }
    // The log-probabilities recorded for the last event's token (params.n_logprobs > 0); throws bloom::error
    // when there are none.
    void logprobs(float * out_logprob, int32_t * top_ids, float * top_logprobs, size_t capacity,
                  size_t * out_n) const;

private:
    size_t prompt_left() const { return prompt_.size() - n_evaluated_; }
    // After a logits row arrived: samples and applies the finish rules in bloom_generate's order. has_cell: a
    // cell is free for the token that would follow.
    void sample_and_decide(const float * logits, bool has_cell);
    void finish(int32_t reason);  // sets the finish reason and flushes the held-back text into the tail
    void set_event(int32_t token);
    void record_logprobs(const float * logits, int32_t token);

    context &                ctx_;
    sampler &                smpl_;
    int32_t                  seq_;
    int32_t                  max_tokens_;
    bool                     ignore_eos_;
    int32_t                  eos_;
    std::vector<int32_t>     prompt_;
    size_t                   n_evaluated_;       // prompt tokens in the cache (reused or evaluated)
    uint32_t                 reserved_;          // cells still reserved for the prompt
    int32_t                  pending_ = -1;      // the sampled token still to evaluate, -1 when none
    detokenizer              detok_;
    stop_matcher             matcher_;
    bloom_generate_result    res_ = {};
    std::string              text_, tail_;       // the event's text, borrowed by callers until the next step
    bloom_generator_event    event_ = {};
    int32_t                  n_logprobs_;
    int32_t                  lp_token_ = -1;     // the token whose log-probabilities are recorded, -1 when none
    float                    lp_ = 0.0f;
    std::vector<int32_t>     lp_top_ids_;
    std::vector<float>       lp_top_;
};

// bloom_generate: a loop over one generator, delivering through params.callback. Throws bloom::error.
bloom_generate_result generate(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
                               const bloom_generate_params & params);

} // namespace bloom
