// Streaming text out of tokens, and the generation loop built on a context and a sampler.
#pragma once

#include "bloom-context.h"
#include "bloom-sampler.h"

#include <string>

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

// bloom_generate's loop. Throws bloom::error.
bloom_generate_result generate(context & ctx, sampler & smpl, const int32_t * prompt, size_t n_prompt,
                               const bloom_generate_params & params);

} // namespace bloom
