/*
 * bloom.h - the C ABI of bloom4j, a BLOOM language-model runtime on ggml.
 *
 * Conventions (they hold for every function below):
 *  - Calls that can fail return an int32_t status: BLOOM_OK (0) or a negative BLOOM_ERR_* code.
 *    bloom_status_string() names the code; bloom_last_error() holds the detail of the last failure
 *    on the calling thread.
 *  - Out-parameters come first. On failure they are left untouched unless the function says otherwise.
 *  - Strings passed in are UTF-8 pointer + byte length and need not be NUL-terminated.
 *  - A caller buffer that is too small yields BLOOM_ERR_BUFFER_TOO_SMALL and the size it needed in the
 *    length out-parameter.
 *  - Ownership is stated per function as "caller owns; free with ...", "borrowed until ..." or "copied".
 *  - Every *_free(NULL) is a no-op.
 *  - Parameter structs (bloom_*_params) start with their own size: fill them with bloom_*_default_params(), which
 *    sets it, and pass them by pointer. A struct grows only at its end, so a caller built against an older
 *    bloom.h of ABI 7 or later (a smaller size) keeps working: the fields it does not know take their defaults.
 *    A size of 0, one smaller than ABI 7's, or one larger than this library knows, is BLOOM_ERR_INVALID_ARGUMENT.
 *
 * Threading:
 *  - A bloom_model is immutable after bloom_model_load() and may be shared by any number of threads.
 *  - A bloom_context, bloom_sampler, bloom_detokenizer and bloom_generator are used by one thread at a time (any
 *    thread, one after another). A context detects concurrent use and fails with BLOOM_ERR_BUSY rather than
 *    corrupting its state; a generator is used under its context's guard.
 *  - The log callback is process-wide and may be invoked from any thread, including ggml's workers.
 *
 * No C++ exception ever crosses this boundary.
 */
#ifndef BLOOM_H
#define BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(BLOOM_BUILD)
#    define BLOOM_API __declspec(dllexport)
#  else
#    define BLOOM_API __declspec(dllimport)
#  endif
#else
#  define BLOOM_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define BLOOM_VERSION_MAJOR 0
#define BLOOM_VERSION_MINOR 1
#define BLOOM_VERSION_PATCH 0
/* Bumped on any incompatible change of a declaration in this file. */
#define BLOOM_ABI_VERSION 7

/* The BLOOM_ABI_VERSION the library was built with. Callers check it before any other call. */
BLOOM_API uint32_t bloom_abi_version(void);

/* "MAJOR.MINOR.PATCH (ggml X.Y.Z, <cpu features>)": static text, never NULL. */
BLOOM_API const char * bloom_version_string(void);

/* ---------------------------------------------------------------- statuses */

typedef enum bloom_status {
    BLOOM_OK                   =  0,
    BLOOM_ERR_INVALID_ARGUMENT = -1,  /* a NULL handle, an out-of-range value, a bad token id */
    BLOOM_ERR_IO               = -2,  /* a file or directory is missing or unreadable */
    BLOOM_ERR_FORMAT           = -3,  /* a file is truncated, corrupt or inconsistent */
    BLOOM_ERR_UNSUPPORTED      = -4,  /* a valid file this build cannot run (dtype, architecture) */
    BLOOM_ERR_OUT_OF_MEMORY    = -5,
    BLOOM_ERR_CONTEXT_FULL     = -6,  /* more tokens than the context holds */
    BLOOM_ERR_BUFFER_TOO_SMALL = -7,  /* the needed size is in the length out-parameter */
    BLOOM_ERR_CANCELLED        = -8,  /* a callback asked to stop */
    BLOOM_ERR_BUSY             = -9,  /* a context was entered by two threads at once */
    BLOOM_ERR_INTERNAL         = -10, /* a bug: please report bloom_last_error() */
    BLOOM_ERR_REMOTE           = -11, /* an RPC server is unreachable, speaks another ggml RPC protocol version,
                                         did not answer in time, or was lost while the model used it */
} bloom_status;

/* Static text naming a status, e.g. "invalid argument". Never NULL. */
BLOOM_API const char * bloom_status_string(int32_t status);

/* Detail of the last failed call on this thread, e.g. "model.safetensors: tensor 'h.0.mlp.dense_4h_to_h.weight'
 * has shape [8, 32], expected [32, 8]". Borrowed until the next bloom_* call on this thread; never NULL
 * (empty when nothing failed). */
BLOOM_API const char * bloom_last_error(void);

/* ---------------------------------------------------------------- logging */

typedef enum bloom_log_level {
    BLOOM_LOG_LEVEL_DEBUG = 0,
    BLOOM_LOG_LEVEL_INFO  = 1,
    BLOOM_LOG_LEVEL_WARN  = 2,
    BLOOM_LOG_LEVEL_ERROR = 3,
} bloom_log_level;

/* text is NUL-terminated, borrowed for the duration of the call, and carries no trailing newline. */
typedef void (*bloom_log_callback)(int32_t level, const char * text, void * user_data);

/* Routes bloom's and ggml's log lines at or above min_level to callback (NULL: back to stderr).
 * Process-wide; not synchronised with calls in flight, so set it before loading models. */
BLOOM_API void bloom_log_set(bloom_log_callback callback, int32_t min_level, void * user_data);

/* ---------------------------------------------------------------- handles and types */

typedef struct bloom_model       bloom_model;
typedef struct bloom_context     bloom_context;
typedef struct bloom_sampler     bloom_sampler;
typedef struct bloom_detokenizer bloom_detokenizer;

typedef int32_t bloom_token;

/* Storage type of the model's weight matrices (ggml's block formats for the quantized ones). */
typedef enum bloom_dtype {
    BLOOM_DTYPE_F32  = 0,
    BLOOM_DTYPE_F16  = 1,
    BLOOM_DTYPE_BF16 = 2,
    BLOOM_DTYPE_Q8_0 = 3,
    BLOOM_DTYPE_Q4_0 = 4,
    BLOOM_DTYPE_Q4_1 = 5,
    BLOOM_DTYPE_Q5_0 = 6,
    BLOOM_DTYPE_Q5_1 = 7,
    BLOOM_DTYPE_Q2_K = 8,
    BLOOM_DTYPE_Q3_K = 9,
    BLOOM_DTYPE_Q4_K = 10,
    BLOOM_DTYPE_Q5_K = 11,
    BLOOM_DTYPE_Q6_K = 12,
} bloom_dtype;

/* Static text naming a dtype ("f32", "f16", "bf16", "q8_0", "q4_k", ...); "unknown" for other values. */
BLOOM_API const char * bloom_dtype_name(int32_t dtype);

/* ---------------------------------------------------------------- model */

/* Called during loading with progress in [0, 1]; return false to cancel (the load fails with
 * BLOOM_ERR_CANCELLED). Runs on the loading thread. */
typedef bool (*bloom_progress_callback)(float progress, void * user_data);

/* How the weights of offloaded layers are spread over GPUs. */
typedef enum bloom_split_mode {
    BLOOM_SPLIT_NONE  = 0,  /* all on one GPU, main_gpu */
    BLOOM_SPLIT_ROW   = 1,  /* every weight matrix split by rows across all GPUs of the host, through ggml's own split
                               buffer type (CUDA), in proportion to their memory; the rest on main_gpu */
    BLOOM_SPLIT_LAYER = 2,  /* whole blocks, with their KV cache, spread over the GPUs the load uses (those of the
                               host, then the devices of the RPC servers it names) in order, in proportion to
                               tensor_split or else to their free memory, the output layer counted as one more unit
                               after the last block (as llama.cpp counts it); ggml's scheduler copies the activations
                               between them. bloom_model_info's gpu_device is main_gpu if it holds layers, else
                               the first GPU that does */
} bloom_split_mode;

typedef struct bloom_model_params {
    uint32_t                size;                  /* sizeof(bloom_model_params), set by the default */
    int32_t                 n_gpu_layers;          /* transformer blocks to run on a GPU, the last ones first; -1 = all
                                                      of them and the output layer (default); 0 = CPU only. Ignored,
                                                      with a log line, when the library has no GPU backend or finds
                                                      no GPU */
    int32_t                 main_gpu;              /* which GPU, counting from 0 the GPUs the load uses: the host's,
                                                      then those of rpc_servers (default 0) */
    int32_t                 split_mode;            /* a bloom_split_mode (default BLOOM_SPLIT_NONE) */
    bool                    use_mmap;              /* map weight files instead of reading them (default true) */
    bool                    repack;                /* copy the matrices ggml's CPU backend has interleaved kernels
                                                      for (Q4_0, Q4_K, IQ4_NL, as the CPU allows) into that layout
                                                      at load time, as llama.cpp does; their file pages are then
                                                      released (default true) */
    bloom_progress_callback progress_callback;     /* may be NULL */
    void *                  progress_user_data;
    /* Fields added within ABI 7: a caller's smaller struct leaves them at their defaults. */
    const char *            rpc_servers;           /* ggml RPC servers whose devices join this model's GPUs, after the
                                                      local ones: "host:port[,host:port...]", UTF-8, not necessarily
                                                      NUL-terminated (NULL or length 0: none; default none). See
                                                      bloom_rpc_add_server */
    size_t                  rpc_servers_len;
    const float *           tensor_split;          /* split_mode layer: the share of the offloaded layers each GPU
                                                      takes, one non-negative proportion per GPU the load uses (the
                                                      local GPUs in bloom_device order, then each server's devices
                                                      in rpc_servers order), as llama.cpp's --tensor-split; borrowed
                                                      for the call. NULL (default): in proportion to free memory */
    int32_t                 n_tensor_split;        /* entries in tensor_split: at most the number of those GPUs (the
                                                      missing ones take 0) */
    int32_t                 rpc_timeout_ms;        /* bound on reaching each server and on its handshake (default
                                                      5000) */
} bloom_model_params;

BLOOM_API bloom_model_params bloom_model_default_params(void);

/* Loads a BLOOM model: a Hugging Face checkpoint directory (config.json, tokenizer.json, and model.safetensors or
 * a sharded model.safetensors.index.json), or a GGUF file as llama.cpp's convert_hf_to_gguf.py and llama-quantize
 * write it (architecture "bloom", any weight type in bloom_dtype, the tokenizer in its metadata). Weight matrices
 * stay in their stored dtype and, with use_mmap, are used in place from the mapped files (repacked ones excepted).
 * out_model: caller owns; free with bloom_model_free.
 * params: NULL = the defaults.
 * Statuses: BLOOM_ERR_IO, BLOOM_ERR_FORMAT, BLOOM_ERR_UNSUPPORTED, BLOOM_ERR_OUT_OF_MEMORY,
 * BLOOM_ERR_CANCELLED, BLOOM_ERR_INVALID_ARGUMENT. */
BLOOM_API int32_t bloom_model_load(bloom_model ** out_model, const char * path, size_t path_len,
                                   const bloom_model_params * params);

/* ---------------------------------------------------------------- devices */

typedef enum bloom_device_type {
    BLOOM_DEVICE_CPU   = 0,
    BLOOM_DEVICE_GPU   = 1,
    BLOOM_DEVICE_IGPU  = 2,  /* integrated GPU, sharing host memory */
    BLOOM_DEVICE_ACCEL = 3,  /* an accelerator that works alongside the CPU (e.g. a BLAS library) */
} bloom_device_type;

typedef struct bloom_device_info {
    char     name[64];          /* ggml's device name, e.g. "CPU", "CUDA0" */
    char     description[256];  /* e.g. the CPU model, "NVIDIA H100 80GB HBM3" */
    int32_t  type;              /* a bloom_device_type */
    uint64_t memory_free;       /* bytes, as the device reports them */
    uint64_t memory_total;
} bloom_device_info;

/* Compute devices this library can use, in ggml's order: GPUs of each compiled-in backend (none in a CPU-only
 * build, or with no driver), then the CPU, then the devices of RPC servers added so far (bloom_rpc_add_server,
 * or a model load that named them). */
BLOOM_API int32_t bloom_device_count(void);
/* Describes device index (0 <= index < bloom_device_count()). BLOOM_ERR_INVALID_ARGUMENT for another index. */
BLOOM_API int32_t bloom_device_get_info(bloom_device_info * out_info, int32_t index);

/* ---------------------------------------------------------------- RPC: devices of other hosts */

/* ggml's RPC backend, as llama.cpp's rpc-server and --rpc use it: a server exposes a host's CPU or GPUs over TCP, and
 * a client adds them to its own devices; a model spreads its layers over local and remote devices (split_mode
 * layer). The protocol has neither authentication nor encryption: trusted networks only. A server serves one client
 * at a time.
 *
 * Connects to the server at endpoint ("host:port", UTF-8) and adds its devices to this process's device list
 * (bloom_device_count and bloom_device_get_info; named "RPC<n>", described by the endpoint, typed GPU). Adding a
 * server twice is a no-op. Models use a server's devices only when bloom_model_params.rpc_servers names it.
 * The connection is refused within timeout_ms (0 = 5000) when nothing answers, and a server of another ggml RPC
 * protocol version is refused naming both versions. A server lost while a model uses it fails the call that used it
 * with BLOOM_ERR_REMOTE and leaves the process running; the model (and its contexts) then fail every call and their
 * memory is not returned, and the endpoint cannot be used again in this process (ggml's client keeps its broken
 * connection). Writing to a lost connection raises SIGPIPE: a C program must ignore it (the JVM does).
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (not host:port), BLOOM_ERR_REMOTE, BLOOM_ERR_UNSUPPORTED (a library built
 * without ggml's RPC backend). */
BLOOM_API int32_t bloom_rpc_add_server(const char * endpoint, size_t endpoint_len, int32_t timeout_ms);

/* Serves devices of this host to RPC clients on endpoint ("host:port"; "127.0.0.1:50052" serves this host only,
 * "0.0.0.0:50052" every interface) and does not return while it serves. devices: comma-separated device names as
 * bloom_device_get_info gives them ("CPU", "CUDA0,CUDA1"); NULL or length 0 = every local GPU, else the CPU.
 * n_threads: CPU threads (0 = number of cores). cache_dir: a directory where the server keeps the large tensors it
 * received, so that a client loading the same weights again sends only their hashes (NULL or length 0: none).
 * Prints ggml's server banner on stdout.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (endpoint, an unknown device name, a remote device), BLOOM_ERR_IO (the
 * endpoint cannot be bound), BLOOM_ERR_UNSUPPORTED (no RPC backend). */
BLOOM_API int32_t bloom_rpc_serve(const char * endpoint, size_t endpoint_len, const char * devices,
                                  size_t devices_len, int32_t n_threads, const char * cache_dir, size_t cache_dir_len);

/* The ggml RPC protocol version this library speaks, as major * 10000 + minor * 100 + patch; -1 without RPC. */
BLOOM_API int32_t bloom_rpc_protocol_version(void);

/* Reference measurements for benchmarks, through the same ggml backends that run models: the mean seconds of one
 * product [m x k] x [k x n] (weights in dtype, a bloom_dtype; f32 activations; 2mnk floating-point operations), and
 * of one copy of n_bytes between two buffers (n_bytes read and n_bytes written), each over reps timed runs after
 * one warm-up, on device (a bloom_device_get_info index). n_threads: CPU threads, 0 = all cores; ignored by GPUs.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (a bad device, shape, dtype or reps; k must be a multiple of the dtype's
 * block size), BLOOM_ERR_OUT_OF_MEMORY. */
BLOOM_API int32_t bloom_bench_matmul(double * out_seconds, int32_t device, int64_t m, int64_t n, int64_t k,
                                     int32_t dtype, int32_t n_threads, int32_t reps);
BLOOM_API int32_t bloom_bench_copy(double * out_seconds, int32_t device, int64_t n_bytes, int32_t n_threads,
                                   int32_t reps);

/* Frees the model. Every context, sampler and detokenizer made from it must be freed first. */
BLOOM_API void bloom_model_free(bloom_model * model);

typedef struct bloom_model_info {
    int32_t n_vocab;         /* rows of the embedding matrix = width of a logits row */
    int32_t n_vocab_tokens;  /* entries in the tokenizer's vocabulary (<= n_vocab on BLOOM) */
    int32_t n_ctx_train;     /* training sequence length from config.json (ALiBi can run past it) */
    int32_t n_layer;
    int32_t n_embd;
    int32_t n_head;
    int64_t n_params;        /* parameters, counting a tied lm_head once */
    int32_t weight_dtype;    /* a bloom_dtype */
    float   layer_norm_eps;
    bloom_token bos_token;   /* -1 when the tokenizer has none */
    bloom_token eos_token;
    bloom_token pad_token;
    bloom_token unk_token;
    int32_t n_repacked;      /* weight matrices repacked at load for the CPU's interleaved kernels (0 without repack) */
    int32_t n_gpu_layers;    /* transformer blocks whose weights are on a GPU (0: CPU only) */
    int32_t gpu_device;      /* the bloom_device index of the (main) GPU, -1 when none */
    int64_t n_weight_bytes;  /* bytes of all weights as they are held (matrices in their stored type, a tied output
                                projection once, vectors in f32): what one decoded token reads, near enough */
} bloom_model_info;

/* Copies the model's hyper-parameters into *out_info. */
BLOOM_API int32_t bloom_model_get_info(bloom_model_info * out_info, const bloom_model * model);

/* ---------------------------------------------------------------- tokenizer */

/* Tokenizes UTF-8 text with the semantics of Hugging Face tokenizers for BLOOM: added tokens
 * (<unk> <s> </s> <pad>, ...) are matched first when parse_special is true, then the rest goes through
 * BLOOM's Split pre-tokenizer, ByteLevel mapping and BPE. No BOS/EOS is added.
 * tokens: caller's buffer of capacity entries; *out_n_tokens: tokens written, or needed when
 * BLOOM_ERR_BUFFER_TOO_SMALL. Invalid UTF-8 in text is BLOOM_ERR_INVALID_ARGUMENT. */
BLOOM_API int32_t bloom_tokenize(bloom_token * tokens, size_t capacity, size_t * out_n_tokens,
                                 const bloom_model * model, const char * text, size_t text_len,
                                 bool parse_special);

/* The bytes a token stands for after ByteLevel decoding (may be part of a UTF-8 sequence); for an added
 * token, its content. Copied into buf; *out_len: bytes written, or needed when BLOOM_ERR_BUFFER_TOO_SMALL.
 * A token in [n_vocab_tokens, n_vocab) has no text (length 0). Out of [0, n_vocab):
 * BLOOM_ERR_INVALID_ARGUMENT. */
BLOOM_API int32_t bloom_token_to_piece(char * buf, size_t capacity, size_t * out_len,
                                       const bloom_model * model, bloom_token token);

/* The surface string of a token as the vocabulary spells it (ByteLevel alphabet, e.g. "Ġworld"), as
 * Hugging Face's convert_ids_to_tokens gives it. Copied, as bloom_token_to_piece. */
BLOOM_API int32_t bloom_token_to_string(char * buf, size_t capacity, size_t * out_len,
                                        const bloom_model * model, bloom_token token);

/* Decodes tokens to UTF-8 as Hugging Face's decode(): bytes joined, then invalid sequences replaced by
 * U+FFFD. skip_special drops the special added tokens. Copied into buf as bloom_token_to_piece. */
BLOOM_API int32_t bloom_detokenize(char * buf, size_t capacity, size_t * out_len,
                                   const bloom_model * model, const bloom_token * tokens, size_t n_tokens,
                                   bool skip_special);

/* An incremental decoder for streaming: it holds back an incomplete UTF-8 sequence until the token that
 * completes it arrives, so its output never splits a character.
 * out: caller owns; free with bloom_detokenizer_free. The model must outlive it. */
BLOOM_API int32_t bloom_detokenizer_init(bloom_detokenizer ** out, const bloom_model * model, bool skip_special);
BLOOM_API void    bloom_detokenizer_free(bloom_detokenizer * detokenizer);

/* Feeds one token and copies the text it completes into buf (*out_len bytes, possibly 0). On
 * BLOOM_ERR_BUFFER_TOO_SMALL nothing is consumed: call again with a buffer of *out_len bytes. */
BLOOM_API int32_t bloom_detokenizer_push(char * buf, size_t capacity, size_t * out_len,
                                         bloom_detokenizer * detokenizer, bloom_token token);

/* Ends the stream: copies what is held back (an unfinished sequence becomes U+FFFD) and resets. */
BLOOM_API int32_t bloom_detokenizer_flush(char * buf, size_t capacity, size_t * out_len,
                                          bloom_detokenizer * detokenizer);

/* ---------------------------------------------------------------- context (KV cache + compute) */

/* Element type of the KV cache. */
typedef enum bloom_kv_type {
    BLOOM_KV_AUTO = 0,  /* f32 for a model with f32 weights (exact), f16 otherwise (half the memory, faster) */
    BLOOM_KV_F32  = 1,
    BLOOM_KV_F16  = 2,
} bloom_kv_type;

/* Whether attention runs as one fused ggml flash-attention op (online softmax, no n_kv x n_tokens score matrix)
 * or as two matrix products around a softmax. Both apply ALiBi. The fused op takes the ALiBi distances as f16,
 * exact up to 2048 positions apart; beyond that they round (to even numbers up to 4096, ...), as in llama.cpp. */
typedef enum bloom_flash_attn {
    BLOOM_FLASH_ATTN_AUTO = 0,  /* on when n_ctx <= 2049 (every distance exact), off above, and off where a GPU
                                   that holds layers has no kernel for this head size and cache type */
    BLOOM_FLASH_ATTN_OFF  = 1,
    BLOOM_FLASH_ATTN_ON   = 2,
} bloom_flash_attn;

typedef struct bloom_context_params {
    uint32_t size;        /* sizeof(bloom_context_params), set by the default */
    uint32_t n_ctx;       /* cells of the KV cache, shared by all sequences: tokens it holds in all (default 2048;
                             0 = the model's n_ctx_train). Where layers run on a GPU the cache's memory is rounded
                             up to whole 256-position tiles; the capacity stays n_ctx */
    uint32_t n_batch;     /* most tokens evaluated in one graph (default 512) */
    int32_t  n_threads;   /* CPU threads (default 0 = number of cores) */
    int32_t  type_kv;     /* a bloom_kv_type (default BLOOM_KV_AUTO) */
    int32_t  flash_attn;  /* a bloom_flash_attn (default BLOOM_FLASH_ATTN_AUTO) */
    uint32_t n_seq_max;   /* sequences the context holds at once, ids 0 .. n_seq_max-1, at most BLOOM_MAX_SEQ
                             (default 1) */
} bloom_context_params;

/* The most sequences one context can hold. */
#define BLOOM_MAX_SEQ 256

BLOOM_API bloom_context_params bloom_context_default_params(void);

/* Creates an inference context: a KV cache and compute buffers for the model.
 * The KV cache is a pool of n_ctx cells. Each cell holds one token's keys and values at one position and belongs
 * to one or more sequences (bloom_context_seq_cp shares cells without copying them). A query token attends to the
 * cells of its own sequence at positions not after its own, and ALiBi's distances are positions within that
 * sequence, so every sequence computes exactly what it would alone.
 * params: NULL = the defaults. out: caller owns; free with bloom_context_free. The model must outlive it.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT, BLOOM_ERR_OUT_OF_MEMORY. */
BLOOM_API int32_t bloom_context_init(bloom_context ** out, bloom_model * model, const bloom_context_params * params);
BLOOM_API void    bloom_context_free(bloom_context * ctx);

/* The single-sequence calls below work on sequence 0: bloom_context_decode, _get_tokens, _n_past and _truncate
 * are bloom_context_decode_batch, _seq_tokens, _seq_n_past and _seq_rm for sequence 0.
 *
 * Evaluates tokens of sequence 0 after those already in the KV cache (positions n_past ...), appending them to
 * the cache, in chunks of n_batch. Afterwards the logits of the last token (all_logits false) or of every token of this
 * call (all_logits true) can be read with bloom_context_get_logits.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (a token outside [0, n_vocab), n_tokens 0),
 * BLOOM_ERR_CONTEXT_FULL (fewer free cells than n_tokens; nothing is evaluated), BLOOM_ERR_BUSY. */
BLOOM_API int32_t bloom_context_decode(bloom_context * ctx, const bloom_token * tokens, size_t n_tokens,
                                       bool all_logits);

/* The logits of the last decode: *out_n_rows rows of n_vocab floats, row-major, oldest token first (for
 * bloom_context_decode_batch: one row per token that asked for logits, in batch order).
 * Borrowed until the next decode, truncate, sequence operation, step or free of ctx. BLOOM_ERR_INVALID_ARGUMENT
 * when nothing was decoded since the last truncate. */
BLOOM_API int32_t bloom_context_get_logits(const float ** out_logits, size_t * out_n_rows, const bloom_context * ctx);

/* Tokens of sequence 0 in the KV cache (its next position). */
BLOOM_API uint32_t bloom_context_n_past(const bloom_context * ctx);
/* Capacity of the KV cache in tokens (cells, for all sequences together). */
BLOOM_API uint32_t bloom_context_n_ctx(const bloom_context * ctx);
/* Copies the parameters the context runs with, every default resolved (n_ctx, n_threads, type_kv and flash_attn
 * are never 0 / AUTO here), into *out_params, whose size field the caller sets (bloom_context_default_params does):
 * that many bytes are written. */
BLOOM_API int32_t bloom_context_get_params(bloom_context_params * out_params, const bloom_context * ctx);

/* Copies the token ids of sequence 0 held in the KV cache (n_past of them) into tokens; *out_n: written or
 * needed. */
BLOOM_API int32_t bloom_context_get_tokens(bloom_token * tokens, size_t capacity, size_t * out_n,
                                           const bloom_context * ctx);

/* Log-probabilities from the logits of the last decode: out_logprobs[i] = log softmax(row i)[targets[i]], computed in
 * double precision, for i < n (n <= the number of logits rows). Copied. The usual use: decode tokens t_0..t_n with
 * all_logits, then targets t_1..t_n give each token's log-probability given those before it.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (no logits, n larger than the rows, a target outside [0, n_vocab)). */
BLOOM_API int32_t bloom_context_token_logprobs(float * out_logprobs, const bloom_context * ctx,
                                               const bloom_token * targets, size_t n);

/* Drops every cached token of sequence 0 at position >= n_keep, so a prompt sharing the first n_keep tokens
 * continues from there. n_keep > n_past is BLOOM_ERR_INVALID_ARGUMENT. Clears the stored logits. */
BLOOM_API int32_t bloom_context_truncate(bloom_context * ctx, uint32_t n_keep);

/* ---------------------------------------------------------------- many sequences in one context */

/* Tokens to evaluate together, from any sequences of one context: token i of sequence seq_id[i] at position pos[i]
 * (0-based within its sequence). The arrays have n_tokens entries and are borrowed for the call. For each sequence
 * its tokens in the batch must continue it: the first at the sequence's bloom_context_seq_n_past, the next ones
 * at consecutive positions. logits[i] asks for token i's logits row; logits NULL asks for the last token's only. */
typedef struct bloom_batch {
    size_t              n_tokens;
    const bloom_token * tokens;
    const int32_t *     pos;
    const int32_t *     seq_id;
    const bool *        logits;   /* may be NULL */
} bloom_batch;

/* Evaluates a batch in one graph, storing each token's keys and values in a free cell of the KV cache. Each
 * token sees only cells of its own sequence at positions not after its own. Afterwards the logits of the tokens
 * that asked for them are bloom_context_get_logits's rows, in batch order, and bloom_context_get_logits_ith's.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (no tokens, more than n_batch, a token id outside [0, n_vocab), a seq_id
 * outside [0, n_seq_max), a position that does not continue its sequence; the message names the index),
 * BLOOM_ERR_CONTEXT_FULL (fewer free cells than tokens), BLOOM_ERR_BUSY. On an error nothing is evaluated and no
 * cell changes. */
BLOOM_API int32_t bloom_context_decode_batch(bloom_context * ctx, const bloom_batch * batch);

/* The logits row of token i of the last bloom_context_decode_batch (n_vocab floats), borrowed as
 * bloom_context_get_logits's. BLOOM_ERR_INVALID_ARGUMENT when i is outside the batch or did not ask for logits. */
BLOOM_API int32_t bloom_context_get_logits_ith(const float ** out_logits, const bloom_context * ctx, int32_t i);

/* Removes the cells of sequence seq_id (-1: of every sequence) at positions in [p0, p1) (p1 < 0: to the end).
 * A cell shared with another sequence stays for that one. Clears the stored logits.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (seq_id outside [-1, n_seq_max), p0 < 0), BLOOM_ERR_BUSY. */
BLOOM_API int32_t bloom_context_seq_rm(bloom_context * ctx, int32_t seq_id, int32_t p0, int32_t p1);

/* Makes the cells of sequence src at positions in [p0, p1) (p1 < 0: to the end) belong to dst as well, without
 * copying them: a prompt evaluated once serves several sequences. dst's own cells are removed first, so dst
 * becomes a copy of that part of src. Statuses: BLOOM_ERR_INVALID_ARGUMENT (an id outside [0, n_seq_max), src ==
 * dst, p0 < 0), BLOOM_ERR_BUSY. */
BLOOM_API int32_t bloom_context_seq_cp(bloom_context * ctx, int32_t src, int32_t dst, int32_t p0, int32_t p1);

/* Removes every cell that does not belong to seq_id. Statuses as bloom_context_seq_rm's (-1 is not allowed). */
BLOOM_API int32_t bloom_context_seq_keep(bloom_context * ctx, int32_t seq_id);

/* The next position of sequence seq_id: one past its highest cached position, 0 when it holds no cell; -1 for an
 * id outside [0, n_seq_max). */
BLOOM_API int32_t bloom_context_seq_n_past(const bloom_context * ctx, int32_t seq_id);

/* Copies the token ids of sequence seq_id's cells, in position order, into tokens; *out_n: written or needed. */
BLOOM_API int32_t bloom_context_seq_tokens(bloom_token * tokens, size_t capacity, size_t * out_n,
                                           const bloom_context * ctx, int32_t seq_id);

/* Cells of the KV cache in use (by any sequence), and free; used + free = n_ctx. Free cells that live
 * generators have reserved for the rest of their prompts are counted as used. */
BLOOM_API uint32_t bloom_context_cells_used(const bloom_context * ctx);

/* ---------------------------------------------------------------- sampler */

/* Applied in Hugging Face's order: repetition penalty, presence/frequency penalties, temperature,
 * top-k, top-p, min-p, then a draw (or argmax when temperature is 0). */
typedef struct bloom_sampler_params {
    uint32_t size;               /* sizeof(bloom_sampler_params), set by the default */
    uint64_t seed;               /* RNG seed (default 0x5EED) */
    float    temperature;        /* 0 = greedy (default 0) */
    int32_t  top_k;              /* keep the k most likely; 0 = off (default 0) */
    float    top_p;              /* nucleus mass in (0, 1]; 1 = off (default 1) */
    float    min_p;              /* drop tokens below min_p * max probability, [0, 1]; 0 = off (default 0) */
    float    repetition_penalty; /* HF's: logit<0 ? logit*p : logit/p for seen tokens; 1 = off (default 1) */
    float    presence_penalty;   /* subtract once per seen token; 0 = off (default 0) */
    float    frequency_penalty;  /* subtract times the count of a seen token; 0 = off (default 0) */
    int32_t  penalty_last_n;     /* how many recent tokens count as seen; -1 = all (default -1) */
} bloom_sampler_params;

BLOOM_API bloom_sampler_params bloom_sampler_default_params(void);

/* params: NULL = the defaults (greedy). out: caller owns; free with bloom_sampler_free. The model must outlive it.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT naming the field (negative temperature, top_p outside (0,1], ...). */
BLOOM_API int32_t bloom_sampler_init(bloom_sampler ** out, const bloom_model * model,
                                     const bloom_sampler_params * params);
BLOOM_API void    bloom_sampler_free(bloom_sampler * sampler);

/* Records a token as seen (prompt or generated) for the penalties. */
BLOOM_API int32_t bloom_sampler_accept(bloom_sampler * sampler, bloom_token token);

/* Forgets the seen tokens and reseeds the RNG with the seed it was made with. */
BLOOM_API void bloom_sampler_reset(bloom_sampler * sampler);

/* Picks the next token from the last logits row of ctx (it does not accept it).
 * BLOOM_ERR_INVALID_ARGUMENT when ctx has no logits. */
BLOOM_API int32_t bloom_sampler_sample(bloom_token * out_token, bloom_sampler * sampler, const bloom_context * ctx);

/* Picks the next token from the logits row of token i of the last bloom_context_decode_batch.
 * BLOOM_ERR_INVALID_ARGUMENT when that token has no logits row. */
BLOOM_API int32_t bloom_sampler_sample_ith(bloom_token * out_token, bloom_sampler * sampler, const bloom_context * ctx,
                                           int32_t i);

/* ---------------------------------------------------------------- generation */

typedef enum bloom_finish_reason {
    BLOOM_FINISH_LENGTH       = 0,  /* max_tokens generated */
    BLOOM_FINISH_EOS          = 1,  /* the model produced its end-of-sequence token */
    BLOOM_FINISH_STOP         = 2,  /* a stop string appeared */
    BLOOM_FINISH_CANCELLED    = 3,  /* the token callback returned false */
    BLOOM_FINISH_CONTEXT_FULL = 4,  /* the KV cache filled up */
} bloom_finish_reason;

/* Receives each generated token with the text it completes (UTF-8, never a split character; may be empty,
 * and text held back while it might start a stop string comes later). The end-of-sequence token arrives too,
 * with no text. When generation ends with text still held back, one last call delivers it with token -1.
 * text is borrowed for the call. Return false to stop generating. */
typedef bool (*bloom_token_callback)(bloom_token token, const char * text, size_t text_len, void * user_data);

typedef struct bloom_generate_params {
    uint32_t             size;          /* sizeof(bloom_generate_params), set by the default */
    int32_t              max_tokens;    /* most tokens to generate (default 128) */
    bool                 ignore_eos;    /* keep going past the end-of-sequence token (default false) */
    const char * const * stop;          /* stop strings (UTF-8, lengths in stop_lens); may be NULL */
    const size_t *       stop_lens;
    size_t               n_stop;
    bloom_token_callback callback;      /* may be NULL; bloom_generate only (a generator streams through steps) */
    void *               user_data;
    int32_t              seq_id;        /* the sequence to generate in (default 0) */
    int32_t              n_logprobs;    /* 0..BLOOM_MAX_LOGPROBS: a generator records the log-probability of each
                                           token it samples and of this many most likely tokens, for
                                           bloom_generator_get_logprobs (default 0: none; bloom_generate ignores it).
                                           It took what was tail padding after seq_id, so the struct's size did not
                                           change: a caller that fills the struct from
                                           bloom_generate_default_params(), as the conventions above ask, has 0
                                           here; one that builds it by hand must zero it */
} bloom_generate_params;

/* The most alternatives bloom_generate_params.n_logprobs may ask for. */
#define BLOOM_MAX_LOGPROBS 100

BLOOM_API bloom_generate_params bloom_generate_default_params(void);

typedef struct bloom_generate_result {
    int32_t n_prompt;        /* prompt tokens */
    int32_t n_reused;        /* prompt tokens whose KV entries were already cached and reused */
    int32_t n_generated;     /* tokens generated (a token that completed a stop string counts) */
    int32_t finish_reason;   /* a bloom_finish_reason */
    double  prefill_ms;      /* wall time evaluating the prompt */
    double  decode_ms;       /* wall time generating, sampling included */
} bloom_generate_result;

/* Generates a continuation of prompt in sequence params->seq_id: reuses the longest cached prefix of prompt in that
 * sequence (removing the rest of its cells), evaluates the remaining prompt tokens, feeds the whole prompt to the sampler's penalties, then samples
 * and evaluates token by token, streaming through params.callback, until a finish reason applies. Like Hugging
 * Face's generate(), the end-of-sequence token counts as generated (and reaches the callback, with no text).
 * Stop strings are matched on the decoded text; the text before the stop string is delivered, the rest dropped.
 * The sampler is not reset. It is a loop over a bloom_generator: the two give the same tokens and text.
 * params: NULL = the defaults.
 * Statuses: BLOOM_ERR_CONTEXT_FULL when the prompt alone does not fit, BLOOM_ERR_INVALID_ARGUMENT (empty prompt,
 * bad token id, negative max_tokens), BLOOM_ERR_BUSY. A cancelled run is BLOOM_OK with finish reason CANCELLED. */
BLOOM_API int32_t bloom_generate(bloom_generate_result * out_result, bloom_context * ctx, bloom_sampler * sampler,
                                 const bloom_token * prompt, size_t n_prompt, const bloom_generate_params * params);

/* A generator: bloom_generate's loop one step at a time, for one sequence of a context. Each step evaluates what
 * the sequence still needs (a piece of its prompt, or its last token), samples, and reports one event: the
 * token, the text it completes after incremental UTF-8 decoding and stop-string holdback, and, on the step that
 * ends the generation, the finish reason and whatever text was still held back. bloom_context_step advances many
 * generators of one context in one decode.
 * An event's text and tail are borrowed until the generator's next step or free. */
typedef struct bloom_generator bloom_generator;

typedef struct bloom_generator_event {
    bloom_token  token;          /* the sampled token; -1 when this step sampled none (the prompt is still being
                                    evaluated, or the generation ended without a token: context full) */
    const char * text;           /* what token completes (never a split character; may be empty; the
                                    end-of-sequence token has none) */
    size_t       text_len;
    const char * tail;           /* on the last event: text held back until the end (the start of a stop string that
                                    never completed, an unfinished UTF-8 sequence as U+FFFD); else empty */
    size_t       tail_len;
    int32_t      finish_reason;  /* a bloom_finish_reason on the event that ends the generation, -1 before */
} bloom_generator_event;

/* Starts a generation of prompt in sequence params->seq_id of ctx, with sampler (borrowed: it must outlive the
 * generator; it is not reset, and the prompt is fed to its penalties here). The longest prefix of the prompt
 * already cached in that sequence is reused (its other cells are removed), always leaving the last prompt token to
 * evaluate; the free cells for the rest of the prompt are reserved now, so a started generation never waits for
 * cells for its prompt. Nothing is evaluated yet: the steps do that.
 * params: NULL = the defaults; its callback is not used. out: caller owns; free with bloom_generator_free before
 * ctx. Statuses: BLOOM_ERR_INVALID_ARGUMENT (empty prompt, bad token id, negative max_tokens, seq_id outside
 * [0, n_seq_max) or already used by a live generator), BLOOM_ERR_CONTEXT_FULL (the prompt does not fit in the
 * context, or not in its free cells now: retry when other sequences have finished), BLOOM_ERR_BUSY. */
BLOOM_API int32_t bloom_generator_init(bloom_generator ** out, bloom_context * ctx, bloom_sampler * sampler,
                                       const bloom_token * prompt, size_t n_prompt,
                                       const bloom_generate_params * params);

/* Frees a generator (cancelling it, if it has not finished) and its reservation. Its sequence's cells stay in the
 * cache (bloom_context_seq_rm frees them). */
BLOOM_API void bloom_generator_free(bloom_generator * generator);

/* One step of one generator: evaluates its whole remaining prompt (in chunks of n_batch) on its first step, or its
 * last token, then samples. A finished generator reports its finish reason again with no token.
 * Statuses: BLOOM_ERR_BUSY, BLOOM_ERR_INTERNAL; errors of the decode. */
BLOOM_API int32_t bloom_generator_step(bloom_generator_event * out_event, bloom_generator * generator);

/* One step of n generators of ctx in one decode: every running one contributes its last token, then pieces of
 * unevaluated prompts fill the batch up to n_batch tokens (so a long prompt is evaluated over several steps,
 * between the others' tokens). out_events[i] is generator i's event: a generator whose prompt is not finished
 * yet reports token -1 and finish reason -1; a finished one its finish reason again.
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (a NULL generator, one of another context, the same one twice),
 * BLOOM_ERR_BUSY; errors of the decode, after which the generators are unchanged. */
BLOOM_API int32_t bloom_context_step(bloom_generator_event * out_events, bloom_context * ctx,
                                     bloom_generator * const * generators, size_t n);

/* The generator's figures so far (final once it has finished): prompt and reused tokens, tokens generated, finish
 * reason (-1 while running), and the wall time of the steps it took part in, while evaluating its prompt
 * (prefill_ms) and after (decode_ms). */
BLOOM_API int32_t bloom_generator_get_result(bloom_generate_result * out_result, const bloom_generator * generator);

/* For a generator started with n_logprobs > 0: the log-probability of the token its last event carries, and the
 * n_logprobs most likely tokens with theirs (most likely first; equal ones by lower id), under the model's own
 * distribution at that step: the log-softmax of the raw logits, before penalties, temperature and truncation (as
 * OpenAI's and llama-server's logprobs). Writes min(capacity, n_logprobs) entries to out_top_ids and
 * out_top_logprobs and that count to *out_n (capacity 0 and NULL arrays: the token's own only).
 * Statuses: BLOOM_ERR_INVALID_ARGUMENT (started with n_logprobs 0, or the last event carries no token). */
BLOOM_API int32_t bloom_generator_get_logprobs(float * out_logprob, bloom_token * out_top_ids,
                                               float * out_top_logprobs, size_t capacity, size_t * out_n,
                                               const bloom_generator * generator);

/* ---------------------------------------------------------------- conversion */

/* What bloom_convert writes: llama.cpp's file types (LLAMA_FTYPE_MOSTLY_*). The K-quant mixes (_S, _M, _L) keep
 * some tensors at a higher precision, as llama-quantize does. */
typedef enum bloom_ftype {
    BLOOM_FTYPE_F32    = 0,
    BLOOM_FTYPE_F16    = 1,
    BLOOM_FTYPE_BF16   = 2,
    BLOOM_FTYPE_Q8_0   = 3,
    BLOOM_FTYPE_Q4_0   = 4,
    BLOOM_FTYPE_Q4_1   = 5,
    BLOOM_FTYPE_Q5_0   = 6,
    BLOOM_FTYPE_Q5_1   = 7,
    BLOOM_FTYPE_Q2_K   = 8,
    BLOOM_FTYPE_Q3_K_S = 9,
    BLOOM_FTYPE_Q3_K_M = 10,
    BLOOM_FTYPE_Q3_K_L = 11,
    BLOOM_FTYPE_Q4_K_S = 12,
    BLOOM_FTYPE_Q4_K_M = 13,
    BLOOM_FTYPE_Q5_K_S = 14,
    BLOOM_FTYPE_Q5_K_M = 15,
    BLOOM_FTYPE_Q6_K   = 16,
} bloom_ftype;

/* Static text naming a file type as llama-quantize spells it ("f16", "q4_k_m", ...); "unknown" for other values. */
BLOOM_API const char * bloom_ftype_name(int32_t ftype);

/* Parses a file type name (case-insensitive, as bloom_ftype_name spells it). BLOOM_ERR_INVALID_ARGUMENT lists the
 * valid names. */
BLOOM_API int32_t bloom_ftype_from_name(int32_t * out_ftype, const char * name, size_t name_len);

typedef struct bloom_convert_params {
    uint32_t                size;                /* sizeof(bloom_convert_params), set by the default */
    int32_t                 ftype;               /* a bloom_ftype (default BLOOM_FTYPE_F16) */
    int32_t                 n_threads;           /* threads for quantizing (default 0 = number of cores) */
    bloom_progress_callback progress_callback;   /* may be NULL; return false to cancel */
    void *                  progress_user_data;
} bloom_convert_params;

BLOOM_API bloom_convert_params bloom_convert_default_params(void);

/* Writes the model at in_path (a Hugging Face directory or a GGUF file, as bloom_model_load reads them) to out_path
 * as a GGUF file the way llama.cpp's converter and quantizer lay it out, tokenizer included, so that llama.cpp loads
 * it. Re-quantizing a GGUF dequantizes from its stored type first. The file is written to a temporary name and
 * renamed at the end, so a failure or cancellation leaves no partial file.
 * Statuses: BLOOM_ERR_IO, BLOOM_ERR_FORMAT, BLOOM_ERR_UNSUPPORTED, BLOOM_ERR_INVALID_ARGUMENT (ftype),
 * BLOOM_ERR_CANCELLED, BLOOM_ERR_OUT_OF_MEMORY. */
BLOOM_API int32_t bloom_convert(const char * in_path, size_t in_path_len, const char * out_path, size_t out_path_len,
                                const bloom_convert_params * params);

#ifdef __cplusplus
}
#endif

#endif /* BLOOM_H */
