// Sampling: penalties and warpers in Hugging Face's order, then argmax or a seeded draw.
#pragma once

#include "bloom.h"

#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>
#include <vector>

namespace bloom {

class sampler {
public:
    sampler(int32_t n_vocab, const bloom_sampler_params & params);  // throws bloom::error naming a bad field
    void accept(int32_t token);
    void reset();
    // Picks a token from one row of n_vocab logits.
    int32_t sample(const float * logits);
    const bloom_sampler_params & params() const { return params_; }

private:
    int32_t              n_vocab_;
    bloom_sampler_params params_;
    std::mt19937_64      rng_;
    std::deque<int32_t>  recent_;                  // the last penalty_last_n tokens (all when -1)
    std::unordered_map<int32_t, int32_t> counts_;  // occurrences within recent_
    std::vector<float>   work_;
    std::vector<int32_t> ids_;
    std::vector<double>  probs_;                   // reused: no allocation per sampled token
};

} // namespace bloom
