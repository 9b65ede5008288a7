#!/usr/bin/env python3
"""Writes a Hugging Face BLOOM checkpoint directory as GGUF with llama.cpp's own GGUF library (gguf-py).

An independent GGUF writer for bloom4j's tests: bloom4j loads the result and must match llama.cpp on it, so the
file format is checked against a writer bloom4j did not write. It produces what llama.cpp's convert_hf_to_gguf.py
produces for BLOOM (that script needs torch and transformers, which are not available here):

  - architecture "bloom"; bloom.context_length = config's seq_length (the converter falls back to the hidden size),
    embedding_length, feed_forward_length = 4 * hidden, block_count, head_count = head_count_kv,
    attention.layer_norm_epsilon; general.file_type.
  - tensors renamed to llama.cpp's names (token_embd, token_embd_norm, blk.N.attn_norm, blk.N.attn_qkv,
    blk.N.attn_output, blk.N.ffn_norm, blk.N.ffn_up, blk.N.ffn_down, output_norm, output when untied).
  - the fused query_key_value weight and bias reordered from Hugging Face's per-head interleaving
    [head0: q k v, head1: q k v, ...] to three blocks [all q; all k; all v], which is what llama.cpp's graph reads.
  - 1-D tensors (norms, biases) stay f32; 2-D weights take the requested type (f32, f16, bf16, q8_0, q4_0,
    quantized by gguf-py's numpy code, not by ggml).
  - tokenizer: model "gpt2", pre-tokenizer "bloom", one entry per embedding row (ids the tokenizer does not use
    become "[PAD<id>]" of type UNUSED), added special tokens CONTROL, merges and special ids through gguf-py's
    SpecialVocab, as the converter does.

  - --add-bos writes tokenizer.ggml.add_bos_token = true (BLOOM's converted files leave it out, which llama.cpp
    reads as false), for testing how BOS is handled where a file asks for it.

usage: hf-to-gguf.py HF_DIR OUT.gguf --type f32|f16|bf16|q8_0|q4_0 [--add-bos] [--gguf-py DIR]
"""

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of one safetensors file as float32, keyed by its stored name."""
    data = path.read_bytes()
    (header_len,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        shape = info["shape"]
        dtype = info["dtype"]
        if dtype == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {dtype}, expected F32, F16 or BF16")
        tensors[name] = values.reshape(shape).copy()
    return tensors


def read_checkpoint(directory: Path) -> dict[str, np.ndarray]:
    index = directory / "model.safetensors.index.json"
    if index.exists():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(directory / name))
    # BloomForCausalLM prefixes the base model's tensors with "transformer."; BloomModel does not.
    return {k.removeprefix("transformer."): v for k, v in tensors.items()}


LAYER_PARTS = {
    "input_layernorm": "attn_norm",
    "self_attention.query_key_value": "attn_qkv",
    "self_attention.dense": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.dense_h_to_4h": "ffn_up",
    "mlp.dense_4h_to_h": "ffn_down",
}
TOP_LEVEL = {
    "word_embeddings": "token_embd",
    "word_embeddings_layernorm": "token_embd_norm",
    "ln_f": "output_norm",
    "lm_head": "output",
}


def gguf_name(hf_name: str) -> str:
    stem, _, suffix = hf_name.rpartition(".")
    if stem in TOP_LEVEL:
        return f"{TOP_LEVEL[stem]}.{suffix}"
    parts = stem.split(".", 2)
    if len(parts) == 3 and parts[0] == "h" and parts[2] in LAYER_PARTS:
        return f"blk.{parts[1]}.{LAYER_PARTS[parts[2]]}.{suffix}"
    raise SystemExit(f"unexpected tensor name {hf_name!r}")


def qkv_blocks(tensor: np.ndarray, n_head: int) -> np.ndarray:
    """[n_head * 3 * head_dim, ...] interleaved per head -> [3 * n_head * head_dim, ...] as q, k, v blocks."""
    rest = tensor.shape[1:]
    per_head = tensor.reshape((n_head, 3, -1) + rest)
    return np.concatenate([per_head[:, i].reshape((-1,) + rest) for i in range(3)], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--type", default="f16", choices=["f32", "f16", "bf16", "q8_0", "q4_0"])
    parser.add_argument("--add-bos", action="store_true", help="write tokenizer.ggml.add_bos_token = true")
    parser.add_argument("--gguf-py", type=Path, help="llama.cpp's gguf-py directory (default: already importable)")
    args = parser.parse_args()
    if args.gguf_py:
        sys.path.insert(0, str(args.gguf_py))
    import gguf  # noqa: E402  (the path above decides which copy)
    from gguf import GGMLQuantizationType as Q, LlamaFileType as F

    config = json.loads((args.model / "config.json").read_text())
    n_embd = config.get("hidden_size", config.get("n_embed"))
    n_head = config.get("n_head", config.get("num_attention_heads"))
    n_layer = config.get("n_layer", config.get("num_hidden_layers"))
    if config.get("apply_residual_connection_post_layernorm"):
        raise SystemExit("apply_residual_connection_post_layernorm=true: llama.cpp's BLOOM graph has no such variant")

    tensors = read_checkpoint(args.model)
    n_vocab = tensors["word_embeddings.weight"].shape[0]

    weight_type, file_type = {
        "f32": (Q.F32, F.ALL_F32), "f16": (Q.F16, F.MOSTLY_F16), "bf16": (Q.BF16, F.MOSTLY_BF16),
        "q8_0": (Q.Q8_0, F.MOSTLY_Q8_0), "q4_0": (Q.Q4_0, F.MOSTLY_Q4_0),
    }[args.type]

    writer = gguf.GGUFWriter(args.out, "bloom")
    writer.add_name(args.model.name)
    writer.add_context_length(config.get("seq_length", n_embd))
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(4 * n_embd)
    writer.add_block_count(n_layer)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_eps(config["layer_norm_epsilon"])
    writer.add_file_type(file_type)

    tokenizer = json.loads((args.model / "tokenizer.json").read_text(encoding="utf-8"))
    pieces = {token_id: piece for piece, token_id in tokenizer["model"]["vocab"].items()}
    added = {entry["id"]: entry for entry in tokenizer.get("added_tokens", [])}
    tokens, types = [], []
    for token_id in range(n_vocab):
        if token_id in added:
            tokens.append(added[token_id]["content"])
            types.append(gguf.TokenType.CONTROL if added[token_id]["special"] else gguf.TokenType.USER_DEFINED)
        elif token_id in pieces:
            tokens.append(pieces[token_id])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{token_id}]")
            types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("bloom")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(args.model, load_merges=True, n_vocab=n_vocab).add_to_gguf(writer, quiet=True)
    if args.add_bos:
        writer.add_add_bos_token(True)

    for hf_name, values in tensors.items():
        if hf_name.startswith("h.") and ".self_attention.query_key_value." in hf_name:
            values = qkv_blocks(values, n_head)
        name = gguf_name(hf_name)
        if values.ndim == 1 or weight_type == Q.F32:
            writer.add_tensor(name, values.astype(np.float32))
        elif weight_type == Q.F16:
            writer.add_tensor(name, values.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(values, weight_type), raw_dtype=weight_type)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
