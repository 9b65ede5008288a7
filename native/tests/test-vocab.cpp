// Tests of the BLOOM tokenizer (bloom-vocab):
//  - golden: every case of data/tokenizer-golden.json, made by Hugging Face's Rust tokenizers from
//    data/bloom-tiny-tokenizer.json (a 1000-token BPE in BLOOM's exact tokenizer.json layout; see
//    ci/tokenizer-oracle/), ids, token spellings and decodes must match exactly;
//  - hand: cases derived by hand from the definitions (Oniguruma's \s, the nested class of BLOOM's pattern, merge
//    ranks, added-token options) on small tokenizers built here so that each wrong reading gives a different answer.
//    ci/tokenizer-oracle/verify-hand-cases.mjs replays them against the Rust library (set BLOOM_VOCAB_TEST_DUMP to a
//    directory to write them out);
//  - errors: bad files and bad input name the problem;
//  - UTF-8 helpers; a 250k-token vocab (BLOOM's size) loads and agrees with a naive BPE.
#include "bloom-error.h"
#include "bloom-vocab.h"

#include "check.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using nlohmann::json;

namespace {

std::string g_tmp_dir;
std::string g_dump_dir; // BLOOM_VOCAB_TEST_DUMP: where the hand cases are written for the Rust oracle
json g_dumped_cases = json::array();
int g_file_counter = 0;

std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string write_temp(const std::string & name, const std::string & text) {
    const std::string path = g_tmp_dir + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    if (!g_dump_dir.empty()) std::ofstream(g_dump_dir + "/" + name, std::ios::binary) << text;
    return path;
}

std::string show(const std::vector<int32_t> & v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

// The GPT-2 byte table, written again here from its definition so the test does not lean on the code under test.
std::string byte_level(std::string_view raw) {
    std::string out;
    for (unsigned char b : raw) {
        const bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = b;
        if (!keep) {
            uint32_t n = 0;
            for (uint32_t x = 0; x < b; ++x) {
                if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++n;
            }
            cp = 256 + n;
        }
        if (cp < 0x80) {
            out += char(cp);
        } else {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

// ------------------------------------------------------------------------------------------ small tokenizers

const char * k_bloom_pattern = " ?[^(\\s|[.,!?…。，、।۔،])]+";

json special_token(int id, const std::string & content) {
    return {{"id", id}, {"special", true}, {"content", content}, {"single_word", false},
            {"lstrip", false}, {"rstrip", false}, {"normalized", false}};
}

// A byte-level BPE in BLOOM's layout: <unk> <s> </s> <pad> at 0-3, the 256 ByteLevel characters at 4 + byte, then
// one token per merge (given as raw text, in rank order; a merge spelling an existing token adds none).
using merge_list = std::vector<std::pair<std::string, std::string>>;

struct mini {
    json j;
    std::map<std::string, int32_t> ids; // raw text -> id
    int32_t next = 0;

    explicit mini(const merge_list & merges) {
        json vocab = json::object();
        for (const char * s : {"<unk>", "<s>", "</s>", "<pad>"}) {
            vocab[s] = next;
            ids[s] = next++;
        }
        for (int b = 0; b < 256; ++b) {
            const std::string raw(1, char(b));
            vocab[byte_level(raw)] = next;
            ids[raw] = next++;
        }
        json merge_list = json::array();
        for (const auto & [l, r] : merges) {
            if (!ids.count(l) || !ids.count(r)) {
                std::fprintf(stderr, "test bug: merge of unknown token\n");
                std::abort();
            }
            merge_list.push_back(byte_level(l) + " " + byte_level(r));
            if (!ids.count(l + r)) {
                vocab[byte_level(l + r)] = next;
                ids[l + r] = next++;
            }
        }
        j = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr},
             {"added_tokens", {special_token(0, "<unk>"), special_token(1, "<s>"), special_token(2, "</s>"),
                               special_token(3, "<pad>")}},
             {"normalizer", nullptr},
             {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {
                 {{"type", "Split"}, {"pattern", {{"Regex", k_bloom_pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                 {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
             {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", false}}},
             {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", false}}},
             {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"vocab", vocab}, {"merges", merge_list}}}};
    }

    int32_t id(const std::string & raw) const {
        auto it = ids.find(raw);
        if (it == ids.end()) {
            std::fprintf(stderr, "test bug: no token %s\n", raw.c_str());
            std::abort();
        }
        return it->second;
    }

    std::unique_ptr<bloom::vocab> load(std::string & path_out) const {
        path_out = write_temp("mini-" + std::to_string(++g_file_counter) + ".json", j.dump());
        return bloom::vocab::load_hf(path_out);
    }
};

// Checks tokenize(text) == expected and records the case for the Rust oracle. `oracle` is false where the Node binding
// cannot express the case (parse_special = false with non-special added tokens around).
void expect_tokens(const bloom::vocab & v, const std::string & file, const char * what, const std::string & text,
                   bool parse_special, const std::vector<int32_t> & expected, bool oracle = true) {
    std::vector<int32_t> got;
    try {
        got = v.tokenize(text, parse_special);
    } catch (const bloom::error & e) {
        std::fprintf(stderr, "hand case %s: threw %s\n", what, e.what());
    }
    if (got != expected) {
        ++g_failures;
        std::fprintf(stderr, "hand case %s: got %s, expected %s\n", what, show(got).c_str(), show(expected).c_str());
    }
    if (oracle) {
        const std::string name = file.substr(file.rfind('/') + 1);
        g_dumped_cases.push_back({{"name", what}, {"tokenizer", name}, {"text", text}, {"parse_special", parse_special},
                                  {"ids", expected}});
    }
}

template <class F>
void expect_error(const char * what, bloom_status status, const std::string & needle, F && f) {
    try {
        f();
        ++g_failures;
        std::fprintf(stderr, "%s: no error thrown\n", what);
    } catch (const bloom::error & e) {
        if (e.status() != status || std::string(e.what()).find(needle) == std::string::npos) {
            ++g_failures;
            std::fprintf(stderr, "%s: got status %d \"%s\", expected status %d mentioning \"%s\"\n", what,
                         int(e.status()), e.what(), int(status), needle.c_str());
        }
    }
}

// ------------------------------------------------------------------------------------------------ golden

void test_golden() {
    const std::string dir = BLOOM_TEST_DATA_DIR;
    auto v = bloom::vocab::load_hf(dir + "/bloom-tiny-tokenizer.json");
    CHECK_EQ(v->n_tokens(), 1000);
    CHECK_EQ(v->unk(), 0);
    CHECK_EQ(v->bos(), 1);
    CHECK_EQ(v->eos(), 2);
    CHECK_EQ(v->pad(), 3);
    for (int32_t id = 0; id < 4; ++id) CHECK(v->is_special(id));
    CHECK(!v->is_special(4));
    CHECK(!v->is_special(999));
    CHECK(!v->is_special(1000));
    CHECK_EQ(v->token_to_string(36), std::string("Ġ"));  // byte 0x20 at 4 + 0x20
    CHECK_EQ(v->token_to_piece(36), std::string(" "));
    CHECK_EQ(v->token_to_string(4), std::string("Ā"));   // byte 0x00 -> U+0100
    CHECK_EQ(v->token_to_piece(4), std::string(1, '\0'));
    CHECK_EQ(v->token_to_piece(4 + 0xE4), std::string("\xE4")); // half a character: raw byte
    CHECK_EQ(v->token_to_string(2), std::string("</s>"));
    CHECK_EQ(v->token_to_piece(2), std::string("</s>"));
    CHECK_EQ(v->token_to_string(1000), std::string());
    CHECK_EQ(v->token_to_string(-1), std::string());
    CHECK_EQ(v->token_to_piece(1000), std::string());

    const json golden = json::parse(read_file(dir + "/tokenizer-golden.json"));
    size_t n_cases = 0;
    for (const json & c : golden.at("cases")) {
        ++n_cases;
        const std::string name = c.at("name");
        const std::string text = c.at("text");
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto ids_raw = c.at("ids_raw").get<std::vector<int32_t>>();
        const auto tokens = c.at("tokens").get<std::vector<std::string>>();
        auto report = [&](const char * what, const std::string & got, const std::string & want) {
            ++g_failures;
            std::fprintf(stderr, "golden %s: %s\n  got  %s\n  want %s\n", name.c_str(), what, got.c_str(), want.c_str());
        };

        const auto got = v->tokenize(text, true);
        if (got != ids) report("ids (parse_special)", show(got), show(ids));
        const auto got_raw = v->tokenize(text, false);
        if (got_raw != ids_raw) report("ids (no parse_special)", show(got_raw), show(ids_raw));
        for (size_t k = 0; k < ids.size() && k < tokens.size(); ++k) {
            if (v->token_to_string(ids[k]) != tokens[k]) report("token string", v->token_to_string(ids[k]), tokens[k]);
        }
        const auto dec = [&](const std::vector<int32_t> & x, bool skip) { return v->decode(x.data(), x.size(), skip); };
        if (dec(ids, false) != c.at("decoded")) report("decode", dec(ids, false), c.at("decoded"));
        if (dec(ids, true) != c.at("decoded_skip_special")) report("decode skip_special", dec(ids, true), c.at("decoded_skip_special"));
        const std::vector<int32_t> tail(ids.begin() + (ids.empty() ? 0 : 1), ids.end());
        const std::vector<int32_t> head(ids.begin(), ids.end() - (ids.empty() ? 0 : 1));
        if (dec(tail, false) != c.at("decoded_drop_first")) report("decode drop first", dec(tail, false), c.at("decoded_drop_first"));
        if (dec(head, false) != c.at("decoded_drop_last")) report("decode drop last", dec(head, false), c.at("decoded_drop_last"));
        // token_to_piece joined == decode before the UTF-8 repair
        std::string joined;
        for (int32_t id : ids) joined += v->token_to_piece(id);
        if (bloom::utf8_lossy(joined) != dec(ids, false)) report("pieces joined", joined, dec(ids, false));
    }
    CHECK(n_cases >= 60);

    // Concurrent use (the word cache is shared): two threads, same answers.
    std::atomic<int> wrong{0};
    auto worker = [&] {
        for (int round = 0; round < 3; ++round) {
            for (const json & c : golden.at("cases")) {
                if (v->tokenize(c.at("text").get<std::string>(), true) != c.at("ids").get<std::vector<int32_t>>()) ++wrong;
            }
        }
    };
    std::thread t1(worker), t2(worker);
    t1.join();
    t2.join();
    CHECK_EQ(wrong.load(), 0);
    std::printf("golden: %zu cases checked\n", n_cases);

    // Reasoned by hand from the pattern and the vocab (which holds these merged spellings); the oracle agrees.
    auto spell = [&](const std::string & text) {
        std::vector<std::string> out;
        for (int32_t id : v->tokenize(text, true)) out.push_back(v->token_to_string(id));
        return out;
    };
    using S = std::vector<std::string>;
    CHECK_EQ(spell("Hello, world!"), (S{"Hello", ",", "Ġworld", "!"}));
    // `(`, `|`, `)` are excluded (nested class): " (" is a gap, not " (b|c)" as one word.
    CHECK_EQ(spell("a (b|c) d"), (S{"a", "Ġ(", "b", "|", "c", ")", "Ġd"}));
    // Two spaces: the first is a gap of its own, the second starts the word.
    CHECK_EQ(spell("x  y"), (S{"x", "Ġ", "Ġy"}));
    CHECK_EQ(v->tokenize("a</s>b<s>", true), (std::vector<int32_t>{101, 2, 102, 1}));
    CHECK_EQ(spell("a</s>b<s>"), (S{"a", "</s>", "b", "<s>"}));
}

// ------------------------------------------------------------------------------------------------- hand cases

void test_split_and_bpe_by_hand() {
    // Each merge is a trap for one wrong reading: if the wrong pieces reach BPE, they merge into a different token.
    const std::string NEL = "\xC2\x85", NBSP = "\xC2\xA0", BOM = "\xEF\xBB\xBF";
    mini m(merge_list{
        {"a", "\xC2"}, {"a\xC2", "\x85"}, {"a\xC2", "\xA0"},   // "a"+NEL / "a"+NBSP as one word
        {"\xC2", "\xA0"},                                       // NBSP alone
        {"\xEF", "\xBB"}, {"\xEF\xBB", "\xBF"}, {"a", BOM}, {"a" + BOM, "b"}, // "a"+BOM+"b": BOM is no space
        {" ", "b"},
        {"x", "y"}, {"y", "z"}, {"x", "y"},                     // duplicate pair: the later rank counts
        {"q", "q"},                                             // ties: leftmost first
        {"n", "o"}, {"m", "n"}, {"m", "no"},                    // rank beats position
        {"h", "i"}, {"g", "h"}, {"gh", "i"}, {"g", "hi"},       // two merges spelling the same token
        {"(", "b"}, {"b", ")"}, {"|", "b"},                     // would only fire if ( | ) were not excluded
    });
    std::string path;
    auto v = m.load(path);
    auto ids = [&](std::initializer_list<std::string> raws) {
        std::vector<int32_t> out;
        for (const auto & r : raws) out.push_back(m.id(r));
        return out;
    };

    // U+0085 is White_Space for Oniguruma (not for JS \s): a gap, so no "a"+NEL merge.
    expect_tokens(*v, path, "nel-is-space", "a" + NEL + "b", true, ids({"a", "\xC2", "\x85", "b"}));
    // U+00A0 is White_Space too; NBSP alone becomes its merged token.
    expect_tokens(*v, path, "nbsp-is-space", "a" + NBSP + "b", true, ids({"a", NBSP, "b"}));
    // U+FEFF is not White_Space for Oniguruma (it is for JS \s): one word, merged whole.
    expect_tokens(*v, path, "bom-is-not-space", "a" + BOM + "b", true, ids({"a" + BOM + "b"}));
    // ` ?` takes only U+0020: a space before a gap character is part of the gap.
    expect_tokens(*v, path, "space-then-nbsp", "a " + NBSP + "b", true, ids({"a", " ", NBSP, "b"}));
    expect_tokens(*v, path, "nbsp-then-word", NBSP + "b", true, ids({NBSP, "b"}));
    expect_tokens(*v, path, "space-word", " b", true, ids({" b"}));
    expect_tokens(*v, path, "nel-space-word", "a" + NEL + " b", true, ids({"a", "\xC2", "\x85", " b"}));
    // ( | ) are excluded: no "(b", "b)" or "|b" merges.
    expect_tokens(*v, path, "paren-pipe", "(b)|b", true, ids({"(", "b", ")", "|", "b"}));

    expect_tokens(*v, path, "duplicate-merge-last-rank", "xyz", true, ids({"x", "yz"}));
    expect_tokens(*v, path, "tie-leftmost", "qqq", true, ids({"qq", "q"}));
    expect_tokens(*v, path, "tie-leftmost-4", "qqqq", true, ids({"qq", "qq"}));
    expect_tokens(*v, path, "rank-over-position", "mno", true, ids({"mno"}));
    expect_tokens(*v, path, "same-token-two-merges", "ghi", true, ids({"ghi"}));
    CHECK_EQ(v->tokenize("ghi", true), (std::vector<int32_t>{m.id("ghi")}));

    // The same merges in the [left, right] array form, with a "#version" line in the string form elsewhere.
    mini arr = m;
    json merges_arr = json::array();
    for (const json & s : arr.j["model"]["merges"]) {
        const std::string t = s;
        merges_arr.push_back({t.substr(0, t.find(' ')), t.substr(t.find(' ') + 1)});
    }
    arr.j["model"]["merges"] = merges_arr;
    auto va = arr.load(path);
    expect_tokens(*va, path, "array-merges", "xyz mno ghi qqq", true, ids({"x", "yz", " ", "mno", " ", "ghi", " ", "qq", "q"}));

    mini ver = m;
    ver.j["model"]["merges"].insert(ver.j["model"]["merges"].begin(), "#version: 0.2");
    auto vv = ver.load(path);
    expect_tokens(*vv, path, "version-line-skipped", "xyz mno", true, ids({"x", "yz", " ", "mno"}));


    // ignore_merges: a word found whole in the vocab is one token even where no merge leads to it. The id 1000
    // leaves 261..999 without a token: decode skips them, as HF does.
    mini ign(merge_list{{"g", "h"}});
    ign.j["model"]["vocab"][byte_level("gi")] = 1000;
    ign.j["model"]["ignore_merges"] = true;
    auto vi = ign.load(path);
    expect_tokens(*vi, path, "ignore-merges", "gi gh", true, {1000, ign.id(" "), ign.id("gh")});
    CHECK_EQ(vi->n_tokens(), 1001);
    CHECK_EQ(vi->token_to_piece(500), std::string());
    const std::vector<int32_t> with_hole{ign.id("g"), 500, 1000};
    CHECK_EQ(vi->decode(with_hole.data(), with_hole.size(), false), std::string("ggi"));
    ign.j["model"]["ignore_merges"] = false;
    auto vi2 = ign.load(path);
    expect_tokens(*vi2, path, "no-ignore-merges", "gi", true, {ign.id("g"), ign.id("i")});

    // ByteLevel's add_prefix_space puts a space before every Split piece that lacks one, not just the first.
    mini pfx(merge_list{{" ", "a"}, {" ", "b"}});
    pfx.j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
    auto vp = pfx.load(path);
    expect_tokens(*vp, path, "add-prefix-space", "a  b(a", true,
                  {pfx.id(" a"), pfx.id(" "), pfx.id(" b"), pfx.id(" "), pfx.id("("), pfx.id(" a")});

    // A byte missing from the vocab: dropped without unk_token, <unk> with it, runs fused with fuse_unk.
    mini unk(merge_list{{"a", "b"}});
    unk.j["model"]["vocab"].erase(byte_level("z"));
    auto vu = unk.load(path);
    // Dropping the z's makes a and b neighbours, and they merge.
    expect_tokens(*vu, path, "missing-byte-dropped", "azzb", true, {unk.id("ab")});
    unk.j["model"]["unk_token"] = "<unk>";
    auto vu2 = unk.load(path);
    expect_tokens(*vu2, path, "missing-byte-unk", "azzb", true, {unk.id("a"), 0, 0, unk.id("b")});
    unk.j["model"]["fuse_unk"] = true;
    auto vu3 = unk.load(path);
    expect_tokens(*vu3, path, "missing-byte-fuse-unk", "azzbz", true, {unk.id("a"), 0, unk.id("b"), 0});
}

void expect_decode(const bloom::vocab & v, const std::string & file, const char * what, const std::vector<int32_t> & ids,
                   bool skip_special, const std::string & expected) {
    const std::string got = v.decode(ids.data(), ids.size(), skip_special);
    if (got != expected) {
        ++g_failures;
        std::fprintf(stderr, "decode case %s: got \"%s\", expected \"%s\"\n", what, got.c_str(), expected.c_str());
    }
    const std::string name = file.substr(file.rfind('/') + 1);
    g_dumped_cases.push_back({{"name", what}, {"tokenizer", name}, {"decode", ids}, {"skip_special", skip_special},
                              {"text", expected}});
}

void test_added_tokens_by_hand() {
    mini m(merge_list{{"a", "b"}}); // 261 model tokens: "ab" is 260
    auto added = [](const std::string & content, bool special, bool normalized, int json_id) {
        return json{{"id", json_id}, {"special", special}, {"content", content}, {"single_word", false},
                    {"lstrip", false}, {"rstrip", false}, {"normalized", normalized}};
    };
    json & list = m.j["added_tokens"];
    list.push_back(added("<s>x", false, false, 500)); // not in the vocab: HF gives it the next id, 261, not 500
    list.push_back(added("ab", false, true, 7));      // in the vocab: keeps the vocab's id 260
    json mask = added("<mask>", true, false, 262);
    mask["lstrip"] = mask["rstrip"] = true;
    list.push_back(mask);                             // 262
    json cd = added("cd", false, false, 263);
    cd["single_word"] = true;
    list.push_back(cd);                               // 263
    list.push_back(added("xyyz", true, false, 264));  // 264
    list.push_back(added("yy", false, false, 265));   // 265
    list.push_back(added("zz", false, true, 266));    // 266: matched in the second (normalized) pass
    list.push_back(added("y", false, false, 42));     // in the vocab as a byte token: keeps its id, adds none
    list.push_back(added("éé", false, false, 267));   // 267: spelled with ByteLevel characters only
    list.push_back(added("hello world", false, false, 268)); // 268: a character outside the ByteLevel table
    std::string path;
    auto v = m.load(path);
    const int32_t a = m.id("a"), b = m.id("b"), sp = m.id(" "), x = m.id("x"), y = m.id("y"), z = m.id("z");

    CHECK_EQ(v->n_tokens(), 269);
    CHECK_EQ(v->token_to_string(261), std::string("<s>x"));
    CHECK_EQ(v->token_to_string(260), std::string("ab"));
    CHECK(v->is_special(262));
    CHECK(!v->is_special(261));
    CHECK(!v->is_special(260));

    // leftmost-longest: "<s>x" wins over "<s>" at the same position; without parse_special only special ones are off
    expect_tokens(*v, path, "added-longest", "a<s>xb", true, {a, 261, b});
    expect_tokens(*v, path, "added-special", "a<s>b", true, {a, 1, b});
    expect_tokens(*v, path, "added-special-off", "a<s>b", false, {a, m.id("<"), m.id("s"), m.id(">"), b});
    expect_tokens(*v, path, "added-nonspecial-still-on", "a<s>xb", false, {a, 261, b});
    // HF quirk: the discarded special match "xyyz" consumes its text, so the non-special "yy" inside is not found.
    // (The Node binding has no switch for parse_special = false, so the oracle cannot replay this one.)
    expect_tokens(*v, path, "discarded-match-consumes", "xyyz", false, {x, y, y, z}, false);
    expect_tokens(*v, path, "added-special-xyyz", "xyyz", true, {264});
    expect_tokens(*v, path, "added-yy", "xyyy", true, {x, 265, y});
    CHECK_EQ(v->token_to_string(y), std::string("y"));
    // normalized token: second pass, still matched without parse_special (not special)
    expect_tokens(*v, path, "added-normalized", "azzb", true, {a, 266, b});
    expect_tokens(*v, path, "added-normalized-off", "azzb", false, {a, 266, b});
    // lstrip/rstrip take the surrounding white space into the token
    expect_tokens(*v, path, "lstrip-rstrip", "a  <mask>  b", true, {a, 262, b});
    expect_tokens(*v, path, "lstrip-rstrip-twice", "a <mask><mask> b", true, {a, 262, 262, b});
    expect_tokens(*v, path, "lstrip-unicode-space", "a\u3000<mask>\tb", true, {a, 262, b});
    // single_word: "cd" inside "xcd" is not a word; the discarded match stays plain text
    expect_tokens(*v, path, "single-word", "cd xcd cd.", true,
                  {263, sp, x, m.id("c"), m.id("d"), sp, 263, m.id(".")});

    // decode: special tokens dropped with skip_special; ByteLevel decoding applies to added tokens too
    expect_decode(*v, path, "decode-mask", {a, 262, b}, false, "a<mask>b");
    expect_decode(*v, path, "decode-mask-skip", {a, 262, b}, true, "ab");
    expect_decode(*v, path, "decode-nonspecial-kept", {261, 266, 1}, true, "<s>xzz");
    // "é" is the ByteLevel character of byte 0xE9: HF turns "éé" into two lone E9 bytes, then two U+FFFD.
    expect_decode(*v, path, "decode-added-bytelevel", {a, 267, b}, false, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
    CHECK_EQ(v->token_to_piece(267), std::string("\xE9\xE9"));
    // " " is not a ByteLevel character: the content is taken as it is.
    expect_decode(*v, path, "decode-added-raw", {268, 1}, false, "hello world<s>");
    CHECK_EQ(v->token_to_piece(268), std::string("hello world"));
    expect_decode(*v, path, "decode-empty", {}, false, "");
}

// ------------------------------------------------------------------------------------------------------ errors

void test_errors() {
    expect_error("missing file", BLOOM_ERR_IO, "/nonexistent/dir/tokenizer.json",
                 [] { bloom::vocab::load_hf("/nonexistent/dir/tokenizer.json"); });
    const std::string bad_json = write_temp("bad.json", "{\"model\": {\"type\": \"BPE\", ");
    expect_error("invalid json", BLOOM_ERR_FORMAT, bad_json, [&] { bloom::vocab::load_hf(bad_json); });

    auto expect_load_error = [](const char * what, const json & j, bloom_status status, const std::string & needle) {
        const std::string path = write_temp("err-" + std::to_string(++g_file_counter) + ".json", j.dump());
        expect_error(what, status, needle, [&] { bloom::vocab::load_hf(path); });
        expect_error(what, status, path, [&] { bloom::vocab::load_hf(path); });
    };
    const mini base(merge_list{{"a", "b"}});
    json j = base.j;
    j["model"].erase("merges");
    expect_load_error("no merges", j, BLOOM_ERR_FORMAT, "model.merges is missing");
    j = base.j;
    j.erase("model");
    expect_load_error("no model", j, BLOOM_ERR_FORMAT, "model is missing");
    j = base.j;
    j["model"]["type"] = "WordPiece";
    expect_load_error("wordpiece", j, BLOOM_ERR_UNSUPPORTED, "model type WordPiece");
    j = base.j;
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    expect_load_error("whitespace pre-tokenizer", j, BLOOM_ERR_UNSUPPORTED, "pre_tokenizer Whitespace");
    j = base.j;
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
    expect_load_error("other split regex", j, BLOOM_ERR_UNSUPPORTED, "Split pattern");
    j = base.j;
    j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true;
    expect_load_error("gpt2 byte-level regex", j, BLOOM_ERR_UNSUPPORTED, "use_regex");
    j = base.j;
    j["normalizer"] = {{"type", "NFC"}};
    expect_load_error("normalizer", j, BLOOM_ERR_UNSUPPORTED, "normalizer NFC");
    j = base.j;
    j["model"]["merges"].push_back("a q\xC3\xA9");
    expect_load_error("merge outside vocab", j, BLOOM_ERR_FORMAT, "not in model.vocab");
    j = base.j;
    j["model"]["merges"].push_back("a b c");
    expect_load_error("three-part merge", j, BLOOM_ERR_FORMAT, "model.merges[1]");
    j = base.j;
    j["model"]["vocab"]["neg"] = -5;
    expect_load_error("negative id", j, BLOOM_ERR_FORMAT, "model.vocab[\"neg\"]");
    j = base.j;
    j["model"]["dropout"] = 0.1;
    expect_load_error("dropout", j, BLOOM_ERR_UNSUPPORTED, "dropout");
    j = base.j;
    j["post_processor"] = {{"type", "TemplateProcessing"}};
    expect_load_error("template post-processor", j, BLOOM_ERR_UNSUPPORTED, "TemplateProcessing");

    std::string path;
    auto v = base.load(path);
    expect_error("invalid utf-8", BLOOM_ERR_INVALID_ARGUMENT, "byte offset 3",
                 [&] { v->tokenize("abc\xFF" "def", true); });
    expect_error("truncated utf-8", BLOOM_ERR_INVALID_ARGUMENT, "byte offset 2",
                 [&] { v->tokenize("ab\xE4\xB8", true); });
    expect_error("surrogate", BLOOM_ERR_INVALID_ARGUMENT, "byte offset 1", [&] { v->tokenize("a\xED\xA0\x80", false); });
    expect_error("overlong", BLOOM_ERR_INVALID_ARGUMENT, "byte offset 0", [&] { v->tokenize("\xC0\xAF", false); });
    // NUL is valid UTF-8 and an ordinary byte
    CHECK_EQ(v->tokenize(std::string_view("a\0b", 3), true), (std::vector<int32_t>{base.id("a"), base.id(std::string(1, '\0')), base.id("b")}));
}

// ---------------------------------------------------------------------------------------------------- UTF-8

void test_utf8() {
    auto cp = [](const std::string & s) { return bloom::utf8_complete_prefix(s.data(), s.size()); };
    CHECK_EQ(cp(""), size_t(0));
    CHECK_EQ(cp("abc"), size_t(3));
    CHECK_EQ(cp("a\xE4"), size_t(1));
    CHECK_EQ(cp("a\xE4\xB8"), size_t(1));
    CHECK_EQ(cp("a\xE4\xB8\xAD"), size_t(4));
    CHECK_EQ(cp("a\xF0\x9F\x98"), size_t(1));
    CHECK_EQ(cp("a\xF0\x9F\x98\x80"), size_t(5));
    CHECK_EQ(cp("\xF0"), size_t(0));
    CHECK_EQ(cp("a\x80"), size_t(2));         // a stray continuation byte can never become valid: not held
    CHECK_EQ(cp("a\xC0"), size_t(2));         // C0 is never a lead
    CHECK_EQ(cp("a\xF5"), size_t(2));
    CHECK_EQ(cp("a\xE0\x80"), size_t(3));     // overlong start: already invalid
    CHECK_EQ(cp("a\xED\xA0"), size_t(3));     // surrogate start
    CHECK_EQ(cp("a\xF4\x90"), size_t(3));     // above U+10FFFF
    CHECK_EQ(cp("\xE4\xB8\xAD\xE4"), size_t(3));
    CHECK_EQ(cp("\xE4\xB8\xE4\xB8"), size_t(2)); // the first sequence is broken, the second may still complete

    const std::string R = "\xEF\xBF\xBD";
    auto lossy = [](const std::string & s) { return bloom::utf8_lossy(s); };
    CHECK_EQ(lossy("plain ascii"), std::string("plain ascii"));
    CHECK_EQ(lossy("中文 😀"), std::string("中文 😀"));
    CHECK_EQ(lossy("a\xE4\xB8" "b"), "a" + R + "b");       // one U+FFFD for the maximal subpart E4 B8
    CHECK_EQ(lossy("\x80\x80"), R + R);                     // each stray continuation byte
    CHECK_EQ(lossy("\xF0\x9F\x98"), R);
    CHECK_EQ(lossy("\xED\xA0\x80"), R + R + R);             // surrogate: ED alone, then A0, then 80
    CHECK_EQ(lossy("\xC0\xAF"), R + R);                     // overlong
    CHECK_EQ(lossy("\xE0\x80\xAF"), R + R + R);
    CHECK_EQ(lossy("\xF4\x90\x80\x80"), R + R + R + R);     // above U+10FFFF
    CHECK_EQ(lossy("\xF1\x80\x80" "a"), R + "a");
    CHECK_EQ(lossy("\xFF" "a\xFE"), R + "a" + R);
    CHECK_EQ(lossy(std::string("\0", 1)), std::string("\0", 1));

    // The same repairs through decode, which the Rust oracle replays: the fixture's byte tokens are 4 + byte.
    std::string path = std::string(BLOOM_TEST_DATA_DIR) + "/bloom-tiny-tokenizer.json";
    auto v = bloom::vocab::load_hf(path);
    auto bytes = [](std::initializer_list<int> bs) {
        std::vector<int32_t> out;
        for (int b : bs) out.push_back(4 + b);
        return out;
    };
    expect_decode(*v, path, "lossy-cut-3byte", bytes({'a', 0xE4, 0xB8, 'b'}), false, "a" + R + "b");
    expect_decode(*v, path, "lossy-surrogate", bytes({0xED, 0xA0, 0x80}), false, R + R + R);
    expect_decode(*v, path, "lossy-overlong", bytes({0xC0, 0xAF, 0xE0, 0x80, 0xAF}), false, R + R + R + R + R);
    expect_decode(*v, path, "lossy-too-big", bytes({0xF4, 0x90, 0x80, 0x80, 0xF1, 0x80, 0x80, 'a'}), false,
                  R + R + R + R + R + "a");
    expect_decode(*v, path, "lossy-stray", bytes({0x80, 'x', 0xFF, 0xF0, 0x9F, 0x98}), false, R + "x" + R + R);
}

// --------------------------------------------------------------------------------------------- a BLOOM-size vocab

// Textbook BPE on byte-level symbols: merge the lowest-ranked adjacent pair, leftmost among equals, until none is left.
std::vector<std::string> naive_bpe(const std::string & word, const std::map<std::pair<std::string, std::string>, int> & ranks) {
    std::vector<std::string> syms;
    for (size_t i = 0; i < word.size();) {
        const size_t n = (static_cast<unsigned char>(word[i]) < 0x80) ? 1 : 2; // ByteLevel characters are < U+0800
        syms.push_back(word.substr(i, n));
        i += n;
    }
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t k = 0; k + 1 < syms.size(); ++k) {
            auto it = ranks.find({syms[k], syms[k + 1]});
            if (it != ranks.end() && (best < 0 || it->second < best)) {
                best = it->second;
                at = k;
            }
        }
        if (best < 0) return syms;
        syms[at] += syms[at + 1];
        syms.erase(syms.begin() + std::ptrdiff_t(at) + 1);
    }
}

void test_large_vocab() {
    // 250000 tokens like BLOOM: the 4 specials, the 256 bytes, then words over a-z (with and without a leading
    // space) built letter by letter, merges in a shuffled rank order, a quarter of the 3-letter tokens reachable by a
    // second merge (x + yz).
    std::mt19937 rng(1234);
    const int32_t target = 250000;
    std::vector<std::string> tokens; // byte-level spellings, id = index
    std::map<std::string, int32_t> ids;
    for (const char * s : {"<unk>", "<s>", "</s>", "<pad>"}) {
        ids[s] = int32_t(tokens.size());
        tokens.push_back(s);
    }
    for (int b = 0; b < 256; ++b) {
        const std::string t = byte_level(std::string(1, char(b)));
        ids[t] = int32_t(tokens.size());
        tokens.push_back(t);
    }
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<std::string> frontier;
    for (char c = 'a'; c <= 'z'; ++c) frontier.push_back(std::string(1, c));
    for (char c = 'a'; c <= 'z'; ++c) frontier.push_back(byte_level(" ") + c);
    for (char c = 'a'; c <= 'z'; ++c) merges.push_back({byte_level(" "), std::string(1, c)});
    for (const auto & [l, r] : merges) {
        ids[l + r] = int32_t(tokens.size());
        tokens.push_back(l + r);
    }
    while (int32_t(tokens.size()) < target) {
        std::vector<std::string> next;
        for (const std::string & t : frontier) {
            for (char c = 'a'; c <= 'z' && int32_t(tokens.size()) < target; ++c) {
                const std::string n = t + c;
                merges.push_back({t, std::string(1, c)});
                ids[n] = int32_t(tokens.size());
                tokens.push_back(n);
                next.push_back(n);
                if (t.size() == 2 && t[0] != '\xC4' && rng() % 4 == 0 && ids.count(t.substr(1) + c)) {
                    merges.push_back({t.substr(0, 1), t.substr(1) + c});
                }
            }
        }
        frontier.swap(next);
    }
    std::shuffle(merges.begin(), merges.end(), rng);
    std::map<std::pair<std::string, std::string>, int> ranks;
    for (size_t i = 0; i < merges.size(); ++i) ranks[merges[i]] = int(i);

    std::string text_json = "{\"version\":\"1.0\",\"added_tokens\":[";
    for (int i = 0; i < 4; ++i) text_json += (i ? "," : "") + special_token(i, tokens[size_t(i)]).dump();
    text_json += "],\"normalizer\":null,\"pre_tokenizer\":" + mini(merge_list{}).j["pre_tokenizer"].dump() +
                 ",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{";
    for (size_t i = 0; i < tokens.size(); ++i) text_json += (i ? "," : "") + json(tokens[i]).dump() + ":" + std::to_string(i);
    text_json += "},\"merges\":[";
    for (size_t i = 0; i < merges.size(); ++i) text_json += (i ? "," : "") + json(merges[i].first + " " + merges[i].second).dump();
    text_json += "]}}";
    const std::string path = write_temp("large.json", text_json);
    if (!g_dump_dir.empty()) std::remove((g_dump_dir + "/large.json").c_str()); // too big to keep around

    const auto t0 = std::chrono::steady_clock::now();
    auto v = bloom::vocab::load_hf(path);
    const auto t1 = std::chrono::steady_clock::now();
    CHECK_EQ(v->n_tokens(), target);
    CHECK_EQ(v->token_to_string(target - 1), tokens.back());

    // random words, compared with the textbook BPE word by word
    std::string text;
    std::vector<int32_t> expected;
    for (int w = 0; w < 3000; ++w) {
        std::string word = w ? " " : "";
        const int len = 1 + int(rng() % 12);
        for (int k = 0; k < len; ++k) word += char('a' + rng() % 26);
        text += word;
        for (const std::string & s : naive_bpe(byte_level(word), ranks)) expected.push_back(ids.at(s));
    }
    const auto t2 = std::chrono::steady_clock::now();
    const auto got = v->tokenize(text, true);
    const auto t3 = std::chrono::steady_clock::now();
    if (got != expected) {
        ++g_failures;
        size_t k = 0;
        while (k < got.size() && k < expected.size() && got[k] == expected[k]) ++k;
        std::fprintf(stderr, "large vocab: tokens differ from the textbook BPE at index %zu of %zu\n", k, expected.size());
    }
    CHECK_EQ(v->decode(got.data(), got.size(), false), text);
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    std::printf("large vocab: %d tokens, %zu merges, %.1f MB JSON: load %.0f ms, %zu bytes -> %zu tokens in %.1f ms\n",
                target, merges.size(), double(text_json.size()) / 1e6, ms(t0, t1), text.size(), got.size(), ms(t2, t3));
}

} // namespace

int main() {
    char tmpl[] = "/tmp/test-vocab-XXXXXX";
    if (!mkdtemp(tmpl)) {
        std::perror("mkdtemp");
        return 1;
    }
    g_tmp_dir = tmpl;
    if (const char * d = std::getenv("BLOOM_VOCAB_TEST_DUMP")) g_dump_dir = d;

    test_golden();
    test_split_and_bpe_by_hand();
    test_added_tokens_by_hand();
    test_errors();
    test_utf8();
    test_large_vocab();

    if (!g_dump_dir.empty()) {
        std::ofstream(g_dump_dir + "/hand-cases.json") << g_dumped_cases.dump(1) << "\n";
        std::printf("wrote %zu hand cases to %s\n", g_dumped_cases.size(), g_dump_dir.c_str());
    }
    std::string cleanup = "rm -rf '" + g_tmp_dir + "'";
    if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_tmp_dir.c_str());
    return TEST_MAIN_RESULT();
}
