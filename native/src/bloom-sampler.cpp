#include "bloom-sampler.h"

#include "bloom-error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace bloom {

sampler::sampler(int32_t n_vocab, const bloom_sampler_params & p) : n_vocab_(n_vocab), params_(p), rng_(p.seed) {
    if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "temperature must be a finite number >= 0, not %g", double(p.temperature));
    }
    if (p.top_k < 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "top_k must be >= 0 (0 = off), not %d", p.top_k);
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1], not %g", double(p.top_p));
    }
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "min_p must be in [0, 1], not %g", double(p.min_p));
    }
    if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "repetition_penalty must be a finite number > 0, not %g",
             double(p.repetition_penalty));
    }
    if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "presence_penalty and frequency_penalty must be finite");
    }
    if (p.penalty_last_n < -1) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "penalty_last_n must be >= -1 (-1 = all), not %d", p.penalty_last_n);
    }
}

void sampler::accept(int32_t token) {
    if (token < 0 || token >= n_vocab_) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "token id %d is out of range [0, %d)", token, n_vocab_);
    }
    if (params_.penalty_last_n == 0) {
        return;
    }
    recent_.push_back(token);
    ++counts_[token];
    if (params_.penalty_last_n > 0 && recent_.size() > size_t(params_.penalty_last_n)) {
        const int32_t old = recent_.front();
        recent_.pop_front();
        if (--counts_[old] == 0) {
            counts_.erase(old);
        }
    }
}

void sampler::reset() {
    recent_.clear();
    counts_.clear();
    rng_.seed(params_.seed);
}

int32_t sampler::sample(const float * logits) {
    work_.assign(logits, logits + n_vocab_);
    float * l = work_.data();

    // RepetitionPenaltyLogitsProcessor: once per distinct seen token.
    if (params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
        for (const auto & [tok, count] : counts_) {
            float & v = l[tok];
            if (params_.repetition_penalty != 1.0f) {
                v = v < 0.0f ? v * params_.repetition_penalty : v / params_.repetition_penalty;
            }
            v -= params_.presence_penalty + params_.frequency_penalty * float(count);
        }
    }

    if (params_.temperature == 0.0f) {
        // torch.argmax: the first index of the maximum.
        return int32_t(std::max_element(work_.begin(), work_.end()) - work_.begin());
    }

    for (int32_t i = 0; i < n_vocab_; ++i) {
        l[i] /= params_.temperature;
    }
    // Candidates sorted by logit, descending; the warpers cut the tail.
    ids_.resize(size_t(n_vocab_));
    std::iota(ids_.begin(), ids_.end(), 0);
    size_t n = ids_.size();
    auto by_logit = [l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
    if (params_.top_k > 0 && size_t(params_.top_k) < n) {
        // TopKLogitsWarper keeps every token whose logit ties the k-th.
        std::nth_element(ids_.begin(), ids_.begin() + params_.top_k - 1, ids_.end(), by_logit);
        const float kth = l[ids_[size_t(params_.top_k) - 1]];
        n = size_t(std::partition(ids_.begin(), ids_.end(), [l, kth](int32_t i) { return l[i] >= kth; }) - ids_.begin());
    }
    std::sort(ids_.begin(), ids_.begin() + n, by_logit);

    // Probabilities of the remaining candidates.
    std::vector<double> & probs = probs_;
    probs.resize(n);
    const double max_l = l[ids_[0]];
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
        probs[i] = std::exp(double(l[ids_[i]]) - max_l);
        sum += probs[i];
    }
    for (double & p : probs) {
        p /= sum;
    }
    if (params_.top_p < 1.0f) {
        // TopPLogitsWarper: keep the smallest head whose mass reaches top_p (at least one token).
        double cum = 0.0;
        size_t keep = 0;
        while (keep < n) {
            cum += probs[keep++];
            if (cum >= double(params_.top_p)) {
                break;
            }
        }
        n = keep;
    }
    if (params_.min_p > 0.0f) {
        // MinPLogitsWarper: drop tokens below min_p times the top probability.
        const double floor_p = double(params_.min_p) * probs[0];
        size_t keep = 1;
        while (keep < n && probs[keep] >= floor_p) {
            ++keep;
        }
        n = keep;
    }
    double mass = 0.0;
    for (size_t i = 0; i < n; ++i) {
        mass += probs[i];
    }
    std::uniform_real_distribution<double> uni(0.0, mass);
    double r = uni(rng_);
    for (size_t i = 0; i < n; ++i) {
        r -= probs[i];
        if (r < 0.0) {
            return ids_[i];
        }
    }
    return ids_[n - 1];
}

} // namespace bloom
