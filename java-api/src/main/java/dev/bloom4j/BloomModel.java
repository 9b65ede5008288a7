package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_POINTER;

import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_model_info;
import dev.bloom4j.bindings.internal.bloom_model_params;
import dev.bloom4j.bindings.internal.bloom_progress_callback;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A loaded BLOOM checkpoint: weights, hyper-parameters and tokenizer. Immutable and thread-safe: share one model
 * between threads and give each thread its own {@link BloomSession}, or let many threads submit to one
 * {@link BatchSession}.
 * {@snippet :
 * try (var model = BloomModel.load(Path.of("/models/bloom-560m"));
 *      var session = model.newSession()) {
 *     session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(20), System.out::print);
 * }
 * }
 *
 * <p>A model is either a Hugging Face BLOOM directory ({@code config.json}, {@code tokenizer.json} and
 * {@code model.safetensors} or a sharded {@code model.safetensors.index.json}) or a GGUF file as llama.cpp's
 * {@code convert_hf_to_gguf.py} and {@code llama-quantize} write it, or as {@link BloomConverter} writes it
 * (architecture {@code bloom}, the tokenizer in its metadata). Weights stay in their stored type (f32, f16, bf16
 * or one of ggml's quantized types, see {@link WeightType}) and are, by default, used in place from memory-mapped
 * files.
 * {@snippet :
 * try (var model = BloomModel.load(Path.of("/models/bloom-560m-q8_0.gguf"))) {
 *     System.out.println(model.info().weightType());   // Q8_0
 * }
 * }
 *
 * <p><b>Lifecycle.</b> {@link #close()} frees the native model. It refuses, with an
 * {@link IllegalStateException} saying how many are open, while sessions made from this model (batch sessions
 * included) are still open: a session may be in use on another thread, so the model cannot close it on its behalf,
 * and a session keeps its model alive. Closing twice is harmless; any other call after close throws
 * {@code IllegalStateException("BloomModel is closed")}.
 */
public final class BloomModel implements AutoCloseable {

    private final Path path;
    private final Arena arena; // shared: the model is used from any thread; closing it frees the native model
    private final MemorySegment handle;
    private final ModelInfo info;

    private final Object lock = new Object();
    private int openSessions; // guarded by lock
    private volatile boolean closed;

    private BloomModel(Path path, Arena arena, MemorySegment handle, ModelInfo info) {
        this.path = path;
        this.arena = arena;
        this.handle = handle;
        this.info = info;
    }

    /**
     * Loads a model by path or by Hugging Face hub name with the default {@link LoadOptions}: see
     * {@link #load(String, LoadOptions)}.
     * {@snippet :
     * try (var model = BloomModel.load("bigscience/bloom-560m")) {          // from the hub cache, fetched if missing
     *     // ...
     * }
     * }
     */
    public static BloomModel load(String model) {
        return load(model, LoadOptions.defaults());
    }

    /**
     * Loads a model by path or by Hugging Face hub name. A string naming an existing file or directory is that path;
     * otherwise {@code org/name[@revision][:quantization]} is resolved in the hub cache, and what the cache lacks is
     * downloaded, as {@link HubModels#resolve(String)} with {@link HubConfig#fromEnvironment()} does
     * ({@code HF_HUB_CACHE}, {@code HF_HOME}, {@code HF_ENDPOINT}, {@code HF_TOKEN}, {@code HF_HUB_OFFLINE}).
     * {@link #path()} is then the snapshot directory or GGUF file in the cache.
     *
     * @throws IllegalArgumentException  {@code model} is neither an existing path nor a valid hub name
     * @throws ModelNotFoundException    no such path, repository, revision or file; offline and not cached
     * @throws ModelDownloadException    access refused (set HF_TOKEN), network failure, a bad checksum
     * @throws ModelFormatException      a file is corrupt, or valid but unsupported by this build
     */
    public static BloomModel load(String model, LoadOptions options) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(options, "options");
        return load(HubModels.fromEnvironment().resolve(model), options);
    }

    /**
     * Loads a Hugging Face checkpoint directory or a GGUF file with the default {@link LoadOptions}.
     *
     * @throws ModelNotFoundException a file is missing or unreadable
     * @throws ModelFormatException   a file is corrupt, or valid but unsupported by this build
     */
    public static BloomModel load(Path path) {
        return load(path, LoadOptions.defaults());
    }

    /**
     * Loads a Hugging Face checkpoint directory or a GGUF file. A directory is read as a Hugging Face checkpoint;
     * a file must be GGUF (the native library checks its magic and says so otherwise).
     *
     * @throws ModelNotFoundException     a file is missing or unreadable
     * @throws ModelFormatException       a file is corrupt, or valid but unsupported by this build
     * @throws BloomOutOfMemoryException  the weights do not fit
     * @throws CancelledException         the progress listener threw (its exception is the cause)
     * @throws RemoteDeviceException      an RPC server of {@link LoadOptions#rpcServers()} cannot be reached, speaks
     *                                    another protocol version, or did not answer in time
     */
    public static BloomModel load(Path path, LoadOptions options) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        Native.init();
        if (!Files.isDirectory(path) && !Files.isRegularFile(path)) {
            throw Native.javaSide(BloomStatus.IO, Files.exists(path)
                    ? "not a checkpoint directory or GGUF file: " + path
                    : "model not found: " + path + " (expected a checkpoint directory or a .gguf file)");
        }
        Arena arena = Arena.ofShared();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = bloom_h.bloom_model_default_params(tmp);
            bloom_model_params.use_mmap(params, options.memoryMap());
            bloom_model_params.repack(params, options.repack());
            bloom_model_params.n_gpu_layers(params, options.gpuLayers());
            bloom_model_params.main_gpu(params, options.mainGpu());
            bloom_model_params.split_mode(params, options.splitMode().code());
            if (!options.rpcServers().isEmpty()) {
                MemorySegment servers = Native.utf8(tmp, String.join(",", options.rpcServers()));
                bloom_model_params.rpc_servers(params, servers);
                bloom_model_params.rpc_servers_len(params, servers.byteSize());
            }
            if (!options.tensorSplit().isEmpty()) {
                float[] shares = new float[options.tensorSplit().size()];
                for (int i = 0; i < shares.length; i++) {
                    shares[i] = options.tensorSplit().get(i).floatValue();
                }
                bloom_model_params.tensor_split(params, tmp.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT,
                        shares));
                bloom_model_params.n_tensor_split(params, shares.length);
            }
            bloom_model_params.rpc_timeout_ms(params, Math.toIntExact(options.rpcTimeout().toMillis()));
            ProgressRelay relay = null;
            if (options.progress() != null) {
                relay = new ProgressRelay(options.progress());
                bloom_model_params.progress_callback(params, bloom_progress_callback.allocate(relay::apply, tmp));
            }
            MemorySegment pathText = Native.utf8(tmp, path.toString());
            MemorySegment out = tmp.allocate(C_POINTER);
            int status = bloom_h.bloom_model_load(out, pathText, pathText.byteSize(), params);
            if (status != bloom_h.BLOOM_OK()) {
                BloomException failure = Native.exception(status);
                if (relay != null && relay.failure != null) {
                    failure = Native.exception(BloomStatus.CANCELLED,
                            "cancelled: loading " + path + " stopped because the progress listener threw "
                                    + relay.failure,
                            failure.nativeMessage(), relay.failure);
                }
                throw failure;
            }
            MemorySegment handle = out.get(C_POINTER, 0).reinterpret(arena, bloom_h::bloom_model_free);
            ModelInfo info = readInfo(tmp, handle);
            BloomModel model = new BloomModel(path, arena, handle, info);
            arena = null; // owned by the model from here on
            return model;
        } finally {
            if (arena != null) {
                arena.close(); // frees a model that loaded but whose info could not be read
            }
        }
    }

    private static ModelInfo readInfo(Arena tmp, MemorySegment handle) {
        MemorySegment s = bloom_model_info.allocate(tmp);
        Native.check(bloom_h.bloom_model_get_info(s, handle));
        return new ModelInfo(
                bloom_model_info.n_vocab(s),
                bloom_model_info.n_vocab_tokens(s),
                bloom_model_info.n_ctx_train(s),
                bloom_model_info.n_layer(s),
                bloom_model_info.n_embd(s),
                bloom_model_info.n_head(s),
                bloom_model_info.n_params(s),
                WeightType.of(bloom_model_info.weight_dtype(s)),
                bloom_model_info.layer_norm_eps(s),
                optionalIndex(bloom_model_info.bos_token(s)),
                optionalIndex(bloom_model_info.eos_token(s)),
                optionalIndex(bloom_model_info.pad_token(s)),
                optionalIndex(bloom_model_info.unk_token(s)),
                bloom_model_info.n_repacked(s),
                bloom_model_info.n_gpu_layers(s),
                optionalIndex(bloom_model_info.gpu_device(s)),
                bloom_model_info.n_weight_bytes(s));
    }

    /** A token id or device index the C side reports as -1 when there is none. */
    private static OptionalInt optionalIndex(int id) {
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The checkpoint directory or GGUF file this model was loaded from. */
    public Path path() {
        return path;
    }

    /** The model's hyper-parameters. */
    public ModelInfo info() {
        checkOpen();
        return info;
    }

    /**
     * Tokenizes text as Hugging Face's tokenizer for BLOOM does by default: special tokens written in the text
     * ({@code <s>}, {@code </s>}, ...) are recognised, and no BOS/EOS is added.
     * {@snippet :
     * int[] ids = model.tokenize("Hello world");
     * String again = model.decode(ids);          // "Hello world"
     * }
     *
     * @throws IllegalArgumentException the text contains an unpaired surrogate, so it has no UTF-8 form
     */
    public int[] tokenize(String text) {
        return tokenize(text, true);
    }

    /**
     * Tokenizes text.
     *
     * @param parseSpecial whether special tokens spelled out in the text become their ids ({@code true}, as
     *                     Hugging Face does) or are tokenized as ordinary text
     */
    public int[] tokenize(String text, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        checkOpen();
        if (text.isEmpty()) {
            return new int[0];
        }
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment utf8 = Native.utf8(tmp, text);
            // BPE never yields more tokens than bytes, so this guess is nearly always the only call.
            return Native.sized(tmp, ValueLayout.JAVA_INT, utf8.byteSize(),
                    (buf, cap, len) -> bloom_h.bloom_tokenize(buf, cap, len, handle, utf8, utf8.byteSize(),
                            parseSpecial)).toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * The vocabulary spelling of each token, as Hugging Face's {@code convert_ids_to_tokens} gives it (ByteLevel
     * alphabet: a leading space shows as {@code "Ġ"}). Padding ids beyond the tokenizer's vocabulary give "".
     * {@snippet :
     * model.tokenStrings(model.tokenize("Hello world")); // ["Hello", "Ġworld"]
     * }
     *
     * @throws IllegalArgumentException an id is outside [0, vocabularySize)
     */
    public List<String> tokenStrings(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        checkOpen();
        checkTokenIds(ids, "ids");
        List<String> out = new ArrayList<>(ids.length);
        try (Arena tmp = Arena.ofConfined()) {
            for (int id : ids) {
                out.add(Native.sizedString(tmp, 32,
                        (buf, cap, len) -> bloom_h.bloom_token_to_string(buf, cap, len, handle, id)));
            }
        }
        return List.copyOf(out);
    }

    /**
     * The bytes one token stands for (its ByteLevel spelling decoded; an added token's content); possibly part of a
     * UTF-8 sequence, as OpenAI's logprobs {@code bytes} report. Padding ids beyond the tokenizer's vocabulary give
     * none.
     * {@snippet :
     * model.tokenBytes(model.tokenize(" world")[0]);   // the bytes of " world": 32, 119, 111, 114, 108, 100
     * }
     *
     * @throws IllegalArgumentException the id is outside [0, vocabularySize)
     */
    public byte[] tokenBytes(int id) {
        checkOpen();
        checkTokenIds(new int[] {id}, "id");
        try (Arena tmp = Arena.ofConfined()) {
            return Native.sized(tmp, ValueLayout.JAVA_BYTE, 32,
                    (buf, cap, len) -> bloom_h.bloom_token_to_piece(buf, cap, len, handle, id))
                    .toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /**
     * Decodes tokens to text as Hugging Face's {@code decode()} does, special tokens included.
     *
     * @throws IllegalArgumentException an id is outside [0, vocabularySize)
     */
    public String decode(int[] ids) {
        return decode(ids, false);
    }

    /**
     * Decodes tokens to text as Hugging Face's {@code decode()} does: the tokens' bytes joined, invalid UTF-8
     * replaced by U+FFFD.
     * {@snippet :
     * int[] ids = model.tokenize("Hello world</s>");  // </s> becomes the end-of-sequence id
     * model.decode(ids, true);                        // "Hello world"
     * }
     *
     * @param skipSpecial drop special tokens such as {@code </s>} ({@code skip_special_tokens=True})
     * @throws IllegalArgumentException an id is outside [0, vocabularySize)
     */
    public String decode(int[] ids, boolean skipSpecial) {
        Objects.requireNonNull(ids, "ids");
        checkOpen();
        checkTokenIds(ids, "ids");
        if (ids.length == 0) {
            return "";
        }
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment tokens = tmp.allocateFrom(ValueLayout.JAVA_INT, ids);
            return Native.sizedString(tmp, ids.length * 8L + 16,
                    (buf, cap, len) -> bloom_h.bloom_detokenize(buf, cap, len, handle, tokens, ids.length,
                            skipSpecial));
        }
    }

    /** Opens a session with the default {@link SessionConfig}. */
    public BloomSession newSession() {
        return newSession(SessionConfig.defaults());
    }

    /**
     * Opens a session: a KV cache and compute buffers, usable by the calling thread only.
     *
     * @throws BloomOutOfMemoryException the KV cache does not fit
     */
    public BloomSession newSession(SessionConfig config) {
        Objects.requireNonNull(config, "config");
        return open(() -> new BloomSession(this, config));
    }

    /**
     * Opens a {@link BatchSession}: one KV cache of {@link SessionConfig#contextSize()} cells shared by up to
     * {@link SessionConfig#maxSequences()} requests decoded together (set it above 1; the native default is 1), run
     * by a scheduler thread of its own; any thread may submit to it.
     * {@snippet :
     * try (var batch = model.newBatchSession(SessionConfig.builder().contextSize(4096).maxSequences(16).build())) {
     *     List<CompletableFuture<Completion>> futures = prompts.stream()
     *             .map(p -> batch.submit(p, GenerationConfig.greedy().maxTokens(64))).toList();
     *     futures.forEach(f -> System.out.println(f.join().text()));
     * }
     * }
     *
     * @throws BloomOutOfMemoryException the KV cache does not fit
     */
    public BatchSession newBatchSession(SessionConfig config) {
        Objects.requireNonNull(config, "config");
        return open(() -> new BatchSession(this, config));
    }

    /** Counts a session as open while it is made, so the model cannot be closed under it; uncounts a failed one. */
    private <T> T open(java.util.function.Supplier<T> make) {
        synchronized (lock) {
            checkOpen();
            openSessions++;
        }
        boolean opened = false;
        try {
            T session = make.get();
            opened = true;
            return session;
        } finally {
            if (!opened) {
                sessionClosed();
            }
        }
    }

    /**
     * Frees the native model. Idempotent.
     *
     * @throws IllegalStateException sessions made from this model are still open (the message says how many), or
     *                               another thread is inside a call on this model right now
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            if (openSessions > 0) {
                throw new IllegalStateException("cannot close BloomModel: " + openSessions
                        + (openSessions == 1 ? " session is" : " sessions are") + " still open; close them first");
            }
            try {
                arena.close();
            } catch (IllegalStateException e) {
                // The FFM runtime keeps a shared arena alive while a downcall uses one of its segments.
                throw new IllegalStateException("cannot close BloomModel while another thread is calling it", e);
            }
            closed = true;
        }
    }

    @Override
    public String toString() {
        return "BloomModel[" + path + (closed ? ", closed]" : "]");
    }

    // ------------------------------------------------------------------------------------------ for sessions

    MemorySegment handle() {
        return handle;
    }

    ModelInfo infoUnchecked() {
        return info;
    }

    void sessionClosed() {
        synchronized (lock) {
            openSessions--;
        }
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("BloomModel is closed");
        }
    }

    /**
     * A generation prompt for a context of {@code contextSize} cells: not empty, every id in the vocabulary, not
     * longer than the context. Shared by {@link BloomSession} and {@link BatchSession}.
     */
    void checkPrompt(int[] promptIds, int contextSize) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("prompt must not be empty: generation needs at least one token");
        }
        checkTokenIds(promptIds, "prompt");
        if (promptIds.length > contextSize) {
            throw Native.javaSide(BloomStatus.CONTEXT_FULL, "the prompt has " + promptIds.length
                    + " tokens but the context holds " + contextSize);
        }
    }

    /** Token ids must index the embedding matrix; checked here so the message can name the culprit. */
    void checkTokenIds(int[] ids, String what) {
        int vocabulary = info.vocabularySize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabulary) {
                throw new IllegalArgumentException(what + "[" + i + "] = " + ids[i]
                        + " is not a token id: the vocabulary has ids 0.." + (vocabulary - 1));
            }
        }
    }
}
