#include "bloom-hparams.h"

#include "bloom-error.h"
#include "bloom-json.h"

#include <initializer_list>

namespace bloom {

namespace {

const json * find_key(const json & cfg, std::initializer_list<const char *> keys) {
    for (const char * k : keys) {
        auto it = cfg.find(k);
        if (it != cfg.end() && !it->is_null()) {
            return &*it;
        }
    }
    return nullptr;
}

int32_t get_int(const std::string & path, const json & cfg, std::initializer_list<const char *> keys,
                bool required, int32_t fallback) {
    const json * v = find_key(cfg, keys);
    if (!v) {
        if (required) {
            fail(BLOOM_ERR_FORMAT, "%s lacks \"%s\"", path.c_str(), *keys.begin());
        }
        return fallback;
    }
    if (!v->is_number_integer() || v->get<int64_t>() <= 0 || v->get<int64_t>() > INT32_MAX) {
        fail(BLOOM_ERR_FORMAT, "%s: \"%s\" must be a positive integer, not %s", path.c_str(), *keys.begin(),
             v->dump().c_str());
    }
    return int32_t(v->get<int64_t>());
}

} // namespace

hparams hparams::load_hf(const std::string & path) {
    const json cfg = read_json_file(path);
    if (!cfg.is_object()) {
        fail(BLOOM_ERR_FORMAT, "%s is not a JSON object", path.c_str());
    }
    if (auto it = cfg.find("model_type"); it != cfg.end() && it->is_string() && *it != "bloom") {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: model_type is \"%s\"; bloom4j runs \"bloom\" models only", path.c_str(),
             it->get<std::string>().c_str());
    }
    hparams hp;
    hp.n_vocab     = get_int(path, cfg, {"vocab_size"}, true, 0);
    hp.n_embd      = get_int(path, cfg, {"hidden_size", "n_embed"}, true, 0);
    hp.n_layer     = get_int(path, cfg, {"n_layer", "num_hidden_layers"}, true, 0);
    hp.n_head      = get_int(path, cfg, {"n_head", "num_attention_heads"}, true, 0);
    hp.n_ctx_train = get_int(path, cfg, {"seq_length", "n_positions", "max_position_embeddings"}, false, 2048);
    if (const json * v = find_key(cfg, {"layer_norm_epsilon"})) {
        // Checked as the float32 the model uses: 1e-50 underflows to 0 and 0.999999999 rounds to 1.
        const float eps = v->is_number() ? float(v->get<double>()) : 0.0f;
        if (!(eps > 0.0f && eps < 1.0f)) {
            fail(BLOOM_ERR_FORMAT, "%s: \"layer_norm_epsilon\" must be a number in (0, 1) as a float32, not %s",
                 path.c_str(), v->dump().c_str());
        }
        hp.norm_eps = eps;
    }
    if (const json * v = find_key(cfg, {"apply_residual_connection_post_layernorm"})) {
        if (!v->is_boolean()) {
            fail(BLOOM_ERR_FORMAT, "%s: \"apply_residual_connection_post_layernorm\" must be true or false",
                 path.c_str());
        }
        hp.residual_post_ln = v->get<bool>();
    }
    if (hp.n_embd % hp.n_head != 0) {
        fail(BLOOM_ERR_FORMAT, "%s: hidden size %d is not a multiple of the head count %d", path.c_str(), hp.n_embd,
             hp.n_head);
    }
    return hp;
}

} // namespace bloom
