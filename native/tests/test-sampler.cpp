// The sampler's penalties and warpers against hand-computed cases, and the stop-string matcher.
#include "check.h"

#include "bloom-error.h"
#include "bloom-generate.h"
#include "bloom-sampler.h"

#include <map>
#include <set>
#include <vector>

namespace {

bloom_sampler_params greedy() {
    bloom_sampler_params p = {};
    p.seed = 1;
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    p.penalty_last_n = -1;
    return p;
}

bool rejects(bloom_sampler_params p, const char * field) {
    try {
        bloom::sampler s(8, p);
    } catch (const bloom::error & e) {
        return e.status() == BLOOM_ERR_INVALID_ARGUMENT && std::string(e.what()).find(field) != std::string::npos;
    }
    return false;
}

// Draws many samples and returns the set of tokens ever drawn.
std::set<int32_t> support(bloom_sampler_params p, const std::vector<float> & logits, int n = 2000) {
    bloom::sampler s(int32_t(logits.size()), p);
    std::set<int32_t> seen;
    for (int i = 0; i < n; ++i) seen.insert(s.sample(logits.data()));
    return seen;
}

} // namespace

int main() {
    const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f, 0.5f, 2.0f};

    // Greedy: the first index of the maximum, as torch.argmax.
    {
        bloom::sampler s(6, greedy());
        CHECK_EQ(s.sample(logits.data()), 1);
    }
    // Repetition penalty (HF): positive logits divided, negative multiplied, once per distinct token.
    {
        auto p = greedy();
        p.repetition_penalty = 2.0f;
        bloom::sampler s(6, p);
        s.accept(1);
        s.accept(1);
        CHECK_EQ(s.sample(logits.data()), 2);   // 3/2 = 1.5 < 3
        s.accept(2);
        CHECK_EQ(s.sample(logits.data()), 5);   // 1 and 2 fell to 1.5; 2.0 wins
        s.reset();
        CHECK_EQ(s.sample(logits.data()), 1);
    }
    {
        // Below 1 the penalty favours seen tokens; a negative logit is still multiplied (-2 * 0.25 = -0.5).
        auto p = greedy();
        p.repetition_penalty = 0.25f;          // < 1 boosts seen tokens
        std::vector<float> l = {-2.0f, -1.0f};
        bloom::sampler s(2, p);
        s.accept(0);
        CHECK_EQ(s.sample(l.data()), 0);        // -2 * 0.25 = -0.5 > -1
    }
    // Presence and frequency penalties.
    {
        auto p = greedy();
        p.frequency_penalty = 0.6f;
        bloom::sampler s(6, p);
        s.accept(1);
        s.accept(1);                             // 3 - 1.2 = 1.8
        CHECK_EQ(s.sample(logits.data()), 2);
        s.accept(2);
        s.accept(2);
        CHECK_EQ(s.sample(logits.data()), 5);   // 2.0 beats 1.8 and 1.8
    }
    // penalty_last_n: only the most recent tokens count.
    {
        auto p = greedy();
        p.presence_penalty = 5.0f;
        p.penalty_last_n = 1;
        bloom::sampler s(6, p);
        s.accept(1);
        s.accept(4);                             // 1 left the window
        CHECK_EQ(s.sample(logits.data()), 1);
    }
    // top-k keeps ties with the k-th; top-p and min-p cut the tail.
    {
        auto p = greedy();
        p.temperature = 1.0f;
        p.top_k = 1;
        CHECK((support(p, logits) == std::set<int32_t>{1, 2}));
        p.top_k = 3;
        CHECK((support(p, logits) == std::set<int32_t>{1, 2, 5}));
        p.top_k = 0;
        // probs ∝ e^3, e^3, e^2, e^1, e^0.5, e^-2: the two e^3 hold 0.771 of the mass, e^2 another 0.142.
        p.top_p = 0.77f;
        CHECK((support(p, logits) == std::set<int32_t>{1, 2}));
        p.top_p = 0.8f;
        CHECK((support(p, logits) == std::set<int32_t>{1, 2, 5}));
        p.top_p = 1.0f;
        p.min_p = 0.3f;                          // e^2/e^3 = 0.37 stays, e^1/e^3 = 0.14 goes
        CHECK((support(p, logits) == std::set<int32_t>{1, 2, 5}));
        p.min_p = 0.0f;
        CHECK_EQ(support(p, logits, 5000).size(), size_t(6));
    }
    // Same seed, same draws; temperature sharpens.
    {
        auto p = greedy();
        p.temperature = 1.5f;
        p.seed = 42;
        bloom::sampler a(6, p), b(6, p);
        std::vector<int32_t> da, db;
        for (int i = 0; i < 50; ++i) { da.push_back(a.sample(logits.data())); db.push_back(b.sample(logits.data())); }
        CHECK(da == db);
        p.temperature = 0.05f;
        CHECK((support(p, std::vector<float>{0.0f, 1.0f, 0.0f}) == std::set<int32_t>{1}));
    }
    // Invalid values name their field.
    {
        auto p = greedy(); p.temperature = -1.0f;        CHECK(rejects(p, "temperature"));
        p = greedy(); p.top_k = -3;                       CHECK(rejects(p, "top_k"));
        p = greedy(); p.top_p = 0.0f;                     CHECK(rejects(p, "top_p"));
        p = greedy(); p.top_p = 1.5f;                     CHECK(rejects(p, "top_p"));
        p = greedy(); p.min_p = -0.1f;                    CHECK(rejects(p, "min_p"));
        p = greedy(); p.repetition_penalty = 0.0f;        CHECK(rejects(p, "repetition_penalty"));
        p = greedy(); p.penalty_last_n = -2;              CHECK(rejects(p, "penalty_last_n"));
        bloom::sampler s(6, greedy());
        bool threw = false;
        try { s.accept(6); } catch (const bloom::error & e) { threw = e.status() == BLOOM_ERR_INVALID_ARGUMENT; }
        CHECK(threw);
    }

    // Stop strings: text before the stop string is released, a possible prefix is held back.
    {
        bloom::stop_matcher m({"\n\n", "END"});
        CHECK_EQ(m.push("Hello"), std::string("Hello"));
        CHECK_EQ(m.push(" E"), std::string(" "));       // "E" may start "END"
        CHECK_EQ(m.push("x"), std::string("Ex"));
        CHECK_EQ(m.push("\n"), std::string(""));
        CHECK(!m.stopped());
        CHECK_EQ(m.push("\nmore"), std::string(""));
        CHECK(m.stopped());
        CHECK_EQ(m.push("after"), std::string(""));
        CHECK_EQ(m.flush(), std::string(""));
    }
    {
        bloom::stop_matcher m({"END"});
        CHECK_EQ(m.push("abcEN"), std::string("abc"));
        CHECK_EQ(m.flush(), std::string("EN"));         // never completed: released at the end
        bloom::stop_matcher n({"ab"});
        CHECK_EQ(n.push("xxaby"), std::string("xx"));   // the stop string inside one push
        CHECK(n.stopped());
        bloom::stop_matcher none({});
        CHECK_EQ(none.push("E"), std::string("E"));
        bloom::stop_matcher utf({"é!"});
        CHECK_EQ(utf.push("caf\xc3\xa9"), std::string("caf"));
        CHECK_EQ(utf.push("?"), std::string("\xc3\xa9?"));
    }
    return TEST_MAIN_RESULT();
}
