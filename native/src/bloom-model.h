// The model: hyper-parameters, tokenizer, and a table of ggml tensors bound to the weights. Loaders fill
// the table; the graph reads it and never learns which file format it came from.
#pragma once

#include "bloom.h"
#include "bloom-gguf.h"
#include "bloom-hparams.h"
#include "bloom-rpc.h"
#include "bloom-safetensors.h"
#include "bloom-vocab.h"

#include "ggml.h"
#include "ggml-backend.h"

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace bloom {

// One stored tensor as a loader found it, whatever the file format: its ggml type and shape and its bytes inside a
// file mapping. Both loaders describe every weight this way and hand it to the same binder.
struct tensor_source {
    std::string         name;     // as the file names it, for messages
    ggml_type           type;
    int64_t             ne0, ne1; // ggml order: ne0 is the row length; ne1 = 1 for a vector
    const uint8_t *     data;
    size_t              n_bytes;
    const mapped_file * file;
    int                 file_index; // which of the checkpoint's files (shards in name order); 0 for one file
};

// A bound weight in file-independent terms, for tools that walk all of them (the GGUF writer).
struct stored_tensor {
    std::string   name;         // llama.cpp's GGUF name, e.g. "blk.0.attn_qkv.weight"
    std::string   source_name;  // the name in the file it was loaded from
    int           file_index;   // see tensor_source
    ggml_tensor * tensor;       // matrices: in place in the mapping, stored type; vectors: an f32 copy
};

// Whether dev would run op with the tensors `placed` in a buffer of type buft, asked through the backend itself:
// they are placed, for the question only, in an empty buffer of that type (their buffer must be unset).
bool supports_op_in(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, ggml_tensor * op,
                    std::initializer_list<ggml_tensor *> placed);

// The weight types the graph runs (those llama-quantize produces for BLOOM, and f32/f16/bf16), both ways.
bool        is_supported_type(ggml_type t);
bloom_dtype dtype_of(ggml_type t);        // BLOOM_DTYPE_F32 for a type that is not supported
ggml_type   ggml_type_of(int32_t dtype);  // GGML_TYPE_COUNT for a value that is not a bloom_dtype

// Converts n elements of a ggml type (float or quantized, n a multiple of its block size) to f32.
void tensor_to_f32(ggml_type type, const void * src, float * dst, int64_t n);

struct layer {
    ggml_tensor * attn_norm   = nullptr;  // input_layernorm          [n_embd]
    ggml_tensor * attn_norm_b = nullptr;
    ggml_tensor * wqkv        = nullptr;  // query_key_value          [n_embd, 3*n_embd] (ggml order: in, out)
    ggml_tensor * bqkv        = nullptr;  //                          [3*n_embd]
    ggml_tensor * wo          = nullptr;  // dense                    [n_embd, n_embd]
    ggml_tensor * bo          = nullptr;
    ggml_tensor * ffn_norm    = nullptr;  // post_attention_layernorm [n_embd]
    ggml_tensor * ffn_norm_b  = nullptr;
    ggml_tensor * ffn_up      = nullptr;  // dense_h_to_4h            [n_embd, 4*n_embd]
    ggml_tensor * ffn_up_b    = nullptr;
    ggml_tensor * ffn_down    = nullptr;  // dense_4h_to_h            [4*n_embd, n_embd]
    ggml_tensor * ffn_down_b  = nullptr;
};

struct model {
    hparams                hp;
    std::unique_ptr<vocab> tokenizer;
    bloom_dtype            weight_dtype = BLOOM_DTYPE_F32;
    int64_t                n_params     = 0;
    int32_t                n_repacked   = 0;  // matrices copied into the CPU backend's repack buffer
    // Offloading: the main GPU (nullptr: CPU only), the device of each block's weights (nullptr: the CPU; its KV
    // cache goes there too), and every GPU that holds weights, in device order.
    ggml_backend_dev_t              gpu          = nullptr;
    std::vector<ggml_backend_dev_t> layer_dev;
    std::vector<ggml_backend_dev_t> gpus;
    int32_t                         n_gpu_layers = 0;
    int64_t                n_weight_bytes = 0;  // matrices as stored (a GPU copy of a tied output not counted), f32 vectors
    // true: query_key_value rows are per head [q, k, v] (Hugging Face); false: [all q; all k; all v].
    bool                   qkv_interleaved = true;

    ggml_tensor *      tok_embd     = nullptr;  // word_embeddings           [n_embd, n_vocab]
    ggml_tensor *      tok_norm     = nullptr;  // word_embeddings_layernorm [n_embd]
    ggml_tensor *      tok_norm_b   = nullptr;
    std::vector<layer> layers;
    ggml_tensor *      output_norm   = nullptr; // ln_f
    ggml_tensor *      output_norm_b = nullptr;
    ggml_tensor *      output        = nullptr; // lm_head, or tok_embd when tied

    // Every weight, in load order: the tensor table above, by GGUF name, with where each came from.
    std::vector<stored_tensor> stored;

    // Storage. The mapped buffers alias the checkpoint's files, which must outlive them.
    std::unique_ptr<st_checkpoint>     checkpoint;   // a Hugging Face directory, or
    std::unique_ptr<gguf_file>         gguf;         // a GGUF file
    ggml_context *                     ctx_mapped = nullptr;  // metadata of tensors used in place
    ggml_context *                     ctx_owned  = nullptr;  // metadata of tensors converted on load
    std::vector<ggml_backend_buffer_t> buffers;
    // RPC servers whose devices hold layers (null: none), and the executor every ggml call that may reach them runs
    // on (direct without servers). Set first in a load.
    std::shared_ptr<rpc::link>         remote;
    std::unique_ptr<rpc::executor>     remote_calls;

    model() = default;
    model(const model &) = delete;
    model & operator=(const model &) = delete;
    ~model();

    // Loads a Hugging Face checkpoint directory or, when path is a regular file, a GGUF file. Throws bloom::error.
    static std::unique_ptr<model> load(const std::string & path, const bloom_model_params & params);
    // Loads a Hugging Face checkpoint directory. Throws bloom::error.
    static std::unique_ptr<model> load_hf(const std::string & dir, const bloom_model_params & params);
    // Loads a GGUF file as llama.cpp's converter and quantizer write it (qkv rows [all q; all k; all v]). Throws
    // bloom::error: BLOOM_ERR_UNSUPPORTED for another architecture, tokenizer or tensor type, BLOOM_ERR_FORMAT for a
    // missing key or tensor, a wrong shape, a tensor BLOOM does not have, or a corrupt file.
    static std::unique_ptr<model> load_gguf(const std::string & path, const bloom_model_params & params);
};

} // namespace bloom
