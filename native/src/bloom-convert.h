// Writing GGUF: bloom_convert. A Hugging Face checkpoint or a GGUF file in, a GGUF file out, laid out as llama.cpp's
// own tools would write it:
//  - from Hugging Face to f32, f16, bf16 or q8_0: as convert_hf_to_gguf.py --outtype does (its key order, its tensor
//    order, which is the checkpoint's names sorted per file, its qkv reordering from per-head interleaved rows to
//    [all q; all k; all v], 1-D tensors and norms in f32);
//  - to any other type, and from a GGUF file to any type: as llama-quantize does on the converter's f32 output (the
//    metadata copied, general.quantization_version and general.file_type re-set at the end, tensors sorted by layer,
//    its per-tensor type choice for the file type including the K-quant mixes and the fallbacks for rows that are
//    not a multiple of a type's block size). A quantized source is dequantized first; a tensor already in its target
//    type is copied unchanged.
#pragma once

#include "bloom.h"
#include "bloom-model.h"

#include <string>
#include <vector>

namespace bloom {

// One tensor of the file bloom_convert writes, in file order.
struct convert_entry {
    std::string           name;         // GGUF name
    const stored_tensor * src;          // the loaded weight it is made from
    std::vector<int64_t>  ne;           // ggml order
    ggml_type             type;         // written type
    bool                  qkv_reorder;  // Hugging Face per-head [q, k, v] rows to [all q; all k; all v]
};

// What bloom_convert would write for model m (loaded from a GGUF file when from_gguf) and file type ftype: the
// tensors in file order with their types. Throws BLOOM_ERR_INVALID_ARGUMENT for an unknown ftype.
std::vector<convert_entry> plan_conversion(const model & m, int32_t ftype);

// llama.cpp's LLAMA_FTYPE_* value (general.file_type) of a bloom_ftype.
int32_t llama_file_type(int32_t ftype);

// bloom_convert. Throws bloom::error.
void convert(const std::string & in_path, const std::string & out_path, const bloom_convert_params & params);

} // namespace bloom
