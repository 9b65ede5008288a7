package dev.bloom4j.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The hyper-parameters of a BLOOM model, and the {@code config.json} that Hugging Face {@code transformers} writes
 * for them.
 *
 * <p>Real BLOOM checkpoints spell the keys two ways, and a loader must accept both: the original BigScience
 * uploads ({@code bigscience/bloom-560m} and its siblings) use {@code n_embed} and {@code num_attention_heads},
 * while a config saved by a current {@code BloomConfig.save_pretrained} uses {@code hidden_size} and
 * {@code n_head}. {@link KeyStyle} picks one.
 *
 * <pre>{@code
 * var config = BloomConfig.of(1024, 64, 2, 4).withLayerNormEpsilon(1e-5);
 * config.write(dir, BloomConfig.KeyStyle.LEGACY, DataType.F32, Map.of());
 * }</pre>
 *
 * @param vocabSize                            rows of the embedding matrix ({@code vocab_size}); BLOOM pads it
 *                                             beyond the tokenizer's vocabulary
 * @param hiddenSize                           embedding width ({@code n_embed} / {@code hidden_size})
 * @param layerCount                           number of transformer blocks ({@code n_layer})
 * @param headCount                            attention heads ({@code num_attention_heads} / {@code n_head});
 *                                             must divide {@code hiddenSize}
 * @param layerNormEpsilon                     {@code layer_norm_epsilon}
 * @param applyResidualConnectionPostLayernorm {@code apply_residual_connection_post_layernorm}: take the residual
 *                                             from the layer-norm output instead of its input
 * @param sequenceLength                       {@code seq_length}, the training context (ALiBi does not bound it)
 * @param bosTokenId                           {@code bos_token_id}
 * @param eosTokenId                           {@code eos_token_id}
 * @param padTokenId                           {@code pad_token_id}
 * @param unkTokenId                           {@code unk_token_id}
 */
public record BloomConfig(int vocabSize, int hiddenSize, int layerCount, int headCount, double layerNormEpsilon,
                          boolean applyResidualConnectionPostLayernorm, int sequenceLength, int bosTokenId,
                          int eosTokenId, int padTokenId, int unkTokenId) {

    /** File name of the configuration inside a checkpoint directory. */
    public static final String FILE_NAME = "config.json";

    /** How {@link #toJson} spells the size keys. */
    public enum KeyStyle {
        /**
         * As in the original BigScience uploads such as {@code bigscience/bloom-560m}: {@code n_embed},
         * {@code n_layer}, {@code num_attention_heads}, plus the Megatron-era keys those files carry
         * ({@code offset_alibi}, {@code skip_bias_add}, {@code masked_softmax_fusion}, ...).
         */
        LEGACY,
        /** As {@code BloomConfig.save_pretrained} writes today: {@code hidden_size}, {@code n_layer}, {@code n_head}. */
        CURRENT
    }

    /** Validates sizes, the head split and the special token ids. */
    public BloomConfig {
        requirePositive("vocabSize", vocabSize);
        requirePositive("hiddenSize", hiddenSize);
        requirePositive("layerCount", layerCount);
        requirePositive("headCount", headCount);
        requirePositive("sequenceLength", sequenceLength);
        if (hiddenSize % headCount != 0) {
            throw new IllegalArgumentException(
                    "hiddenSize " + hiddenSize + " is not divisible by headCount " + headCount);
        }
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
            throw new IllegalArgumentException("layerNormEpsilon must be positive and finite, got " + layerNormEpsilon);
        }
        requireTokenId("bosTokenId", bosTokenId, vocabSize);
        requireTokenId("eosTokenId", eosTokenId, vocabSize);
        requireTokenId("padTokenId", padTokenId, vocabSize);
        requireTokenId("unkTokenId", unkTokenId, vocabSize);
    }

    /**
     * A configuration with BLOOM's defaults for everything but the sizes: epsilon 1e-5, residual taken before the
     * layer norm, sequence length 2048, and the BLOOM tokenizer's special ids (unk 0, bos 1, eos 2, pad 3).
     */
    public static BloomConfig of(int vocabSize, int hiddenSize, int layerCount, int headCount) {
        return new BloomConfig(vocabSize, hiddenSize, layerCount, headCount, 1e-5, false, 2048, 1, 2, 3, 0);
    }

    /**
     * The shapes of the released BigScience models by name ({@code bloom-560m}, {@code bloom-1b1},
     * {@code bloom-1b7}, {@code bloom-3b}, {@code bloom-7b1}, and {@code bloom}, the 176B model), with their real
     * hyper-parameters: vocabulary 250,880, BLOOM's defaults for the rest (see {@link #of}). Sizes only: no weights
     * come with them. {@link #released} also takes {@code bloom-176b} for {@code bloom}.
     */
    public static final Map<String, BloomConfig> RELEASED = releasedShapes();

    private static Map<String, BloomConfig> releasedShapes() {
        Map<String, BloomConfig> shapes = new LinkedHashMap<>();
        // name -> hidden size, layers, heads, as in each model's config.json on the Hugging Face hub
        shapes.put("bloom-560m", of(250880, 1024, 24, 16));
        shapes.put("bloom-1b1", of(250880, 1536, 24, 16));
        shapes.put("bloom-1b7", of(250880, 2048, 24, 16));
        shapes.put("bloom-3b", of(250880, 2560, 30, 32));
        shapes.put("bloom-7b1", of(250880, 4096, 30, 32));
        shapes.put("bloom", of(250880, 14336, 70, 112));  // bigscience/bloom, 176B
        return Collections.unmodifiableMap(shapes);
    }

    /**
     * The shape of a released BigScience model (see {@link #RELEASED}); a {@code bigscience/} prefix is ignored.
     *
     * @throws IllegalArgumentException the name is not one of them; the message lists the names
     */
    public static BloomConfig released(String name) {
        Objects.requireNonNull(name, "name");
        String key = name.startsWith("bigscience/") ? name.substring("bigscience/".length()) : name;
        BloomConfig config = RELEASED.get(key.equals("bloom-176b") ? "bloom" : key);
        if (config == null) {
            throw new IllegalArgumentException("unknown model name \"" + name + "\"; known: "
                    + String.join(", ", RELEASED.keySet()));
        }
        return config;
    }

    /** Number of parameters, counting a tied output projection once (as {@code model.num_parameters()}). */
    public long parameterCount() {
        long h = hiddenSize;
        long perLayer = 2 * (2 * h)                 // two layer norms
                + 3 * h * h + 3 * h                 // query_key_value
                + h * h + h                         // attention output
                + 4 * h * h + 4 * h                 // h -> 4h
                + 4 * h * h + h;                    // 4h -> h
        return (long) vocabSize * h + 2 * h + layerCount * perLayer + 2 * h;
    }

    /** Width of one attention head. */
    public int headDimension() {
        return hiddenSize / headCount;
    }

    /** Width of the MLP's inner layer; BLOOM fixes it at four times the hidden size. */
    public int feedForwardSize() {
        return 4 * hiddenSize;
    }

    /**
     * A copy with another number of transformer blocks: a model's layer shape at a size that fits, e.g. one block of
     * the 176B model for per-layer measurements.
     */
    public BloomConfig withLayerCount(int layers) {
        return new BloomConfig(vocabSize, hiddenSize, layers, headCount, layerNormEpsilon,
                applyResidualConnectionPostLayernorm, sequenceLength, bosTokenId, eosTokenId, padTokenId, unkTokenId);
    }

    /** A copy with another {@code layer_norm_epsilon}. */
    public BloomConfig withLayerNormEpsilon(double epsilon) {
        return new BloomConfig(vocabSize, hiddenSize, layerCount, headCount, epsilon,
                applyResidualConnectionPostLayernorm, sequenceLength, bosTokenId, eosTokenId, padTokenId, unkTokenId);
    }

    /** A copy with another {@code apply_residual_connection_post_layernorm}. */
    public BloomConfig withApplyResidualConnectionPostLayernorm(boolean apply) {
        return new BloomConfig(vocabSize, hiddenSize, layerCount, headCount, layerNormEpsilon, apply,
                sequenceLength, bosTokenId, eosTokenId, padTokenId, unkTokenId);
    }

    /** A copy with another {@code seq_length}. */
    public BloomConfig withSequenceLength(int length) {
        return new BloomConfig(vocabSize, hiddenSize, layerCount, headCount, layerNormEpsilon,
                applyResidualConnectionPostLayernorm, length, bosTokenId, eosTokenId, padTokenId, unkTokenId);
    }

    /** A copy with other special token ids. */
    public BloomConfig withSpecialTokens(int bos, int eos, int pad, int unk) {
        return new BloomConfig(vocabSize, hiddenSize, layerCount, headCount, layerNormEpsilon,
                applyResidualConnectionPostLayernorm, sequenceLength, bos, eos, pad, unk);
    }

    /**
     * The {@code config.json} text, formatted as {@code PretrainedConfig.to_json_string} formats it
     * ({@code json.dumps(..., indent=2, sort_keys=True)} plus a newline).
     *
     * @param style      key spelling, see {@link KeyStyle}
     * @param storedType written as {@code torch_dtype}, the type the weights are stored in
     * @param extra      further keys (e.g. a marker); values may be strings, numbers, booleans, null, lists or
     *                   maps. A key that the style already writes is rejected rather than silently overridden.
     */
    public String toJson(KeyStyle style, DataType storedType, Map<String, ?> extra) {
        Objects.requireNonNull(style, "style");
        Objects.requireNonNull(storedType, "storedType");
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("architectures", List.of("BloomForCausalLM"));
        json.put("model_type", "bloom");
        json.put("vocab_size", vocabSize);
        json.put("n_layer", layerCount);
        json.put("layer_norm_epsilon", layerNormEpsilon);
        json.put("apply_residual_connection_post_layernorm", applyResidualConnectionPostLayernorm);
        json.put("seq_length", sequenceLength);
        json.put("bos_token_id", bosTokenId);
        json.put("eos_token_id", eosTokenId);
        json.put("pad_token_id", padTokenId);
        json.put("unk_token_id", unkTokenId);
        json.put("attention_dropout", 0.0);
        json.put("hidden_dropout", 0.0);
        json.put("initializer_range", 0.02);
        json.put("pretraining_tp", 1);
        json.put("slow_but_exact", false);
        json.put("use_cache", true);
        json.put("torch_dtype", storedType.torchName());
        switch (style) {
            case LEGACY -> {
                json.put("n_embed", hiddenSize);
                json.put("num_attention_heads", headCount);
                // Megatron-DeepSpeed settings the BigScience uploads carry; transformers ignores them.
                json.put("attention_softmax_in_fp32", true);
                json.put("bias_dropout_fusion", true);
                json.put("masked_softmax_fusion", true);
                json.put("n_inner", null);
                json.put("offset_alibi", 100);
                json.put("skip_bias_add", true);
                json.put("skip_bias_add_qkv", false);
                json.put("transformers_version", "4.20.0");
            }
            case CURRENT -> {
                json.put("hidden_size", hiddenSize);
                json.put("n_head", headCount);
                json.put("transformers_version", "4.45.2");
            }
        }
        if (extra != null) {
            for (Map.Entry<String, ?> entry : extra.entrySet()) {
                if (json.containsKey(entry.getKey())) {
                    throw new IllegalArgumentException("extra config key \"" + entry.getKey()
                            + "\" collides with a key BloomConfig writes itself");
                }
                json.put(entry.getKey(), entry.getValue());
            }
        }
        return PythonJson.pythonIndented(json) + "\n";
    }

    /**
     * Writes {@link #toJson} to {@code directory/config.json}, creating the directory if needed.
     *
     * @return the written file
     */
    public Path write(Path directory, KeyStyle style, DataType storedType, Map<String, ?> extra) throws IOException {
        Files.createDirectories(directory);
        Path file = directory.resolve(FILE_NAME);
        Files.writeString(file, toJson(style, storedType, extra), StandardCharsets.UTF_8);
        return file;
    }

    private static void requirePositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }

    private static void requireTokenId(String name, int id, int vocabSize) {
        if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException(name + " " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }
}
