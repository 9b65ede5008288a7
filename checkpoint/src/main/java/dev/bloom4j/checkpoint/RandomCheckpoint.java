package dev.bloom4j.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.DoubleConsumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A BLOOM model with seeded random weights, written as a Hugging Face checkpoint directory ({@code config.json},
 * {@code model.safetensors} or shards with an index, {@code tokenizer.json}) in any of the layouts real checkpoints
 * use: F32/F16/BF16, tensor names with or without the {@code transformer.} prefix, tied or explicit
 * {@code lm_head.weight}, one file or several.
 *
 * <p>The weights are generated from the seed alone, in model order, so every layout option except the storage type
 * gives bit-identical values, and an untied head only appends {@code lm_head.weight} after the others. The values
 * this object hands back are those <em>after</em> rounding to the storage type: what a reader of the files gets.
 *
 * <p>Scales are chosen so a forward pass neither vanishes nor explodes and every parameter matters: a linear layer
 * with {@code in} inputs draws weights from N(0, (g/sqrt(in))²) with gain g = 1 for the query/key/value and
 * h→4h projections (attention scores of order one, GELU inputs spread over its curved part) and g = 0.5 for the two
 * output projections (the residual stream grows slowly); every bias is N(0, 0.05²), nonzero so a dropped bias
 * shows; layer-norm weights are 1 + N(0, 0.1²) and their biases N(0, 0.05²); embeddings (and an untied head) are
 * N(0, (2/sqrt(hidden))²) so logits have a spread of about 2.
 *
 * <pre>{@code
 * var checkpoint = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4))
 *         .seed(7).dataType(DataType.BF16).transformerPrefix(true).shards(3)
 *         .build();
 * Path dir = checkpoint.writeTo(tempDir.resolve("model"));
 * float[] qkv = checkpoint.weight("h.0.self_attention.query_key_value.weight");   // [3*64, 64], as stored
 * }</pre>
 *
 * <p>An instance holds every weight in memory (4 bytes per parameter); meant for small test and demo models.
 * {@link Builder#streamTo} writes the same files for a model of any size without holding its weights. Immutable and
 * thread-safe.
 */
public final class RandomCheckpoint {

    /** Prefix {@code BloomForCausalLM.state_dict()} puts before every tensor of the base model. */
    public static final String TRANSFORMER_PREFIX = "transformer.";

    /** Name of the explicit output projection; it never carries {@link #TRANSFORMER_PREFIX}. */
    public static final String LM_HEAD_WEIGHT = "lm_head.weight";

    /** File name of the tokenizer inside a checkpoint directory. */
    public static final String TOKENIZER_FILE_NAME = "tokenizer.json";

    /**
     * Class-path location of the bundled 1000-token BLOOM-format tokenizer used when the builder is given no other
     * ({@code native/tests/data/bloom-tiny-tokenizer.json} in the source tree).
     */
    public static final String BUNDLED_TOKENIZER_RESOURCE = "/dev/bloom4j/checkpoint/bloom-tiny-tokenizer.json";

    /**
     * {@code config.json} key whose value {@code true} marks a checkpoint with random weights that is not the demo
     * (for example one {@code bloom init-random} wrote), so tools can say its output is gibberish.
     */
    public static final String RANDOM_WEIGHTS_KEY = "bloom4j_random_weights";

    private static final Pattern RANDOM_WEIGHTS_MARKER = Pattern.compile("\"" + RANDOM_WEIGHTS_KEY + "\"\\s*:\\s*true");

    private static final double LINEAR_GAIN = 1.0;
    private static final double OUTPUT_PROJECTION_GAIN = 0.5;
    private static final double BIAS_STDDEV = 0.05;
    private static final double NORM_WEIGHT_STDDEV = 0.1;
    private static final double EMBEDDING_GAIN = 2.0;

    /** Values drawn per piece when streaming: large enough for efficient writes, small enough to never matter. */
    private static final int STREAM_BLOCK = 1 << 16;

    private final BloomConfig config;
    private final long seed;
    private final DataType dataType;
    private final boolean transformerPrefix;
    private final boolean tiedLmHead;
    private final int shardCount;
    private final BloomConfig.KeyStyle keyStyle;
    private final Map<String, Object> extraConfig;
    private final TokenizerSource tokenizer;
    /** Canonical (unprefixed) name to tensor, in model order; values already rounded to {@link #dataType}. */
    private final Map<String, TensorData> tensors;

    private RandomCheckpoint(Builder builder) {
        this.config = builder.config;
        this.seed = builder.seed;
        this.dataType = builder.dataType;
        this.transformerPrefix = builder.transformerPrefix;
        this.tiedLmHead = builder.tiedLmHead;
        this.shardCount = builder.shardCount;
        this.keyStyle = builder.keyStyle;
        this.extraConfig = Collections.unmodifiableMap(new LinkedHashMap<>(builder.extraConfig));
        this.tokenizer = builder.tokenizer;
        int tensorCount = canonicalTensorNames(config.layerCount(), tiedLmHead).size();
        if (shardCount > tensorCount) {
            // Checked before drawing the weights, which can take a while for a large shape.
            throw new IllegalArgumentException(
                    "shards " + shardCount + " exceeds the model's " + tensorCount + " tensors");
        }
        this.tensors = generate(config, seed, !tiedLmHead, dataType);
    }

    /** Starts a builder for a random model of shape {@code config}. */
    public static Builder builder(BloomConfig config) {
        return new Builder(config);
    }

    /**
     * The canonical tensor names of a BLOOM model in {@code state_dict} order, without prefix, with
     * {@link #LM_HEAD_WEIGHT} last when the head is untied.
     */
    public static List<String> canonicalTensorNames(int layerCount, boolean tiedLmHead) {
        List<String> names = new ArrayList<>();
        names.add("word_embeddings.weight");
        names.add("word_embeddings_layernorm.weight");
        names.add("word_embeddings_layernorm.bias");
        for (int layer = 0; layer < layerCount; layer++) {
            String block = "h." + layer + ".";
            for (String part : List.of("input_layernorm", "self_attention.query_key_value", "self_attention.dense",
                    "post_attention_layernorm", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")) {
                names.add(block + part + ".weight");
                names.add(block + part + ".bias");
            }
        }
        names.add("ln_f.weight");
        names.add("ln_f.bias");
        if (!tiedLmHead) {
            names.add(LM_HEAD_WEIGHT);
        }
        return names;
    }

    /**
     * Whether the checkpoint directory {@code modelDirectory} carries {@value #RANDOM_WEIGHTS_KEY}{@code : true} in
     * its {@code config.json}. A path without a readable {@code config.json} (a GGUF file, say) is not marked.
     */
    public static boolean isMarkedRandom(Path modelDirectory) {
        try {
            return RANDOM_WEIGHTS_MARKER.matcher(Files.readString(modelDirectory.resolve(BloomConfig.FILE_NAME),
                    StandardCharsets.UTF_8)).find();
        } catch (IOException e) {
            return false;
        }
    }

    /** The model's hyper-parameters. */
    public BloomConfig config() {
        return config;
    }

    /** The seed the weights were drawn from. */
    public long seed() {
        return seed;
    }

    /** The type the weights are stored in (and were rounded to). */
    public DataType dataType() {
        return dataType;
    }

    /** Whether base-model tensor names carry {@link #TRANSFORMER_PREFIX} in the files. */
    public boolean transformerPrefix() {
        return transformerPrefix;
    }

    /** Whether the output projection reuses the embeddings (no {@code lm_head.weight} in the files). */
    public boolean tiedLmHead() {
        return tiedLmHead;
    }

    /** Number of safetensors files; 1 writes {@code model.safetensors} without an index. */
    public int shardCount() {
        return shardCount;
    }

    /** Key spelling of the written {@code config.json}. */
    public BloomConfig.KeyStyle keyStyle() {
        return keyStyle;
    }

    /** Canonical names of every tensor in the checkpoint, in model order. */
    public List<String> tensorNames() {
        return List.copyOf(tensors.keySet());
    }

    /** The name a canonical tensor name has in the files ({@code lm_head.weight} is never prefixed). */
    public String storedName(String canonicalName) {
        requireTensor(canonicalName);
        return stored(transformerPrefix, canonicalName);
    }

    /**
     * A copy of the values of {@code canonicalName} (row-major, e.g. {@code [out, in]} for a linear weight) exactly
     * as a reader of the files will decode them. With a tied head, {@code "lm_head.weight"} is not a tensor; use
     * {@code "word_embeddings.weight"}.
     *
     * @throws IllegalArgumentException naming the tensor if the model has none by that name
     */
    public float[] weight(String canonicalName) {
        return requireTensor(canonicalName).values().clone();
    }

    /** A copy of the shape of {@code canonicalName}. */
    public int[] shape(String canonicalName) {
        return requireTensor(canonicalName).shape().clone();
    }

    /**
     * Writes the checkpoint into {@code directory}, which must be absent or empty (left-over files of another
     * layout would make the result ambiguous to a loader).
     *
     * @return {@code directory}
     * @throws IllegalArgumentException if {@code directory} is a non-empty directory or a file
     * @throws IllegalStateException    if the bundled tokenizer was requested but is not on the class path
     */
    public Path writeTo(Path directory) throws IOException {
        Objects.requireNonNull(directory, "directory");
        requireEmptyTarget(directory);
        byte[] tokenizerBytes = tokenizer.read();
        Files.createDirectories(directory);
        config.write(directory, keyStyle, dataType, extraConfig);

        List<TensorData> stored = new ArrayList<>(tensors.size());
        for (TensorData tensor : tensors.values()) {
            stored.add(new TensorData(storedName(tensor.name()), tensor.shape(), tensor.values()));
        }
        if (shardCount == 1) {
            SafetensorsWriter.write(directory.resolve(SafetensorsWriter.SINGLE_FILE_NAME), stored, dataType);
        } else {
            SafetensorsWriter.writeSharded(directory, stored, dataType, shardCount);
        }
        if (tokenizerBytes != null) {
            Files.write(directory.resolve(TOKENIZER_FILE_NAME), tokenizerBytes);
        }
        return directory;
    }

    private TensorData requireTensor(String canonicalName) {
        TensorData tensor = tensors.get(canonicalName);
        if (tensor == null) {
            String hint = canonicalName.startsWith(TRANSFORMER_PREFIX) ? " (pass names without the \""
                    + TRANSFORMER_PREFIX + "\" prefix)" : "";
            throw new IllegalArgumentException("the model has no tensor named " + canonicalName + hint);
        }
        return tensor;
    }

    /** Receives the tensors of a random BLOOM model in model order, each with the distribution it is drawn from. */
    @FunctionalInterface
    private interface TensorPlan {
        void tensor(String name, long[] shape, double mean, double stddev) throws IOException;
    }

    /**
     * Walks the tensors in model order with their distributions. Both the in-memory and the streaming writer draw
     * from one {@link SplittableRandom} in this order, which is what makes their files identical.
     */
    private static void plan(BloomConfig config, boolean untiedHead, TensorPlan plan) throws IOException {
        int hidden = config.hiddenSize();
        int inner = config.feedForwardSize();
        int vocab = config.vocabSize();
        double embeddingStddev = EMBEDDING_GAIN / Math.sqrt(hidden);

        plan.tensor("word_embeddings.weight", new long[] {vocab, hidden}, 0, embeddingStddev);
        layerNorm(plan, "word_embeddings_layernorm", hidden);
        for (int layer = 0; layer < config.layerCount(); layer++) {
            String block = "h." + layer + ".";
            layerNorm(plan, block + "input_layernorm", hidden);
            linear(plan, block + "self_attention.query_key_value", 3 * hidden, hidden, LINEAR_GAIN);
            linear(plan, block + "self_attention.dense", hidden, hidden, OUTPUT_PROJECTION_GAIN);
            layerNorm(plan, block + "post_attention_layernorm", hidden);
            linear(plan, block + "mlp.dense_h_to_4h", inner, hidden, LINEAR_GAIN);
            linear(plan, block + "mlp.dense_4h_to_h", hidden, inner, OUTPUT_PROJECTION_GAIN);
        }
        layerNorm(plan, "ln_f", hidden);
        if (untiedHead) {
            plan.tensor(LM_HEAD_WEIGHT, new long[] {vocab, hidden}, 0, embeddingStddev);
        }
    }

    private static void layerNorm(TensorPlan plan, String name, int size) throws IOException {
        plan.tensor(name + ".weight", new long[] {size}, 1.0, NORM_WEIGHT_STDDEV);
        plan.tensor(name + ".bias", new long[] {size}, 0, BIAS_STDDEV);
    }

    private static void linear(TensorPlan plan, String name, int outputs, int inputs, double gain) throws IOException {
        plan.tensor(name + ".weight", new long[] {outputs, inputs}, 0, gain / Math.sqrt(inputs));
        plan.tensor(name + ".bias", new long[] {outputs}, 0, BIAS_STDDEV);
    }

    private static Map<String, TensorData> generate(BloomConfig config, long seed, boolean untiedHead,
                                                    DataType type) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, TensorData> out = new LinkedHashMap<>();
        try {
            plan(config, untiedHead, (name, shape, mean, stddev) -> {
                int[] intShape = new int[shape.length];
                long count = 1;
                for (int i = 0; i < shape.length; i++) {
                    intShape[i] = (int) shape[i];
                    count *= shape[i];
                }
                if (count > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException(name + " would have " + count + " elements, too many for an"
                            + " in-memory random checkpoint (Builder.streamTo writes any size)");
                }
                out.put(name, new TensorData(name, intShape, gaussian(random, (int) count, mean, stddev, type)));
            });
        } catch (IOException e) {
            throw new AssertionError("the in-memory plan does no I/O", e);
        }
        return Collections.unmodifiableMap(out);
    }

    private static float[] gaussian(SplittableRandom random, int count, double mean, double stddev, DataType type) {
        float[] values = new float[count];
        fillGaussian(random, values, count, mean, stddev, type);
        return values;
    }

    /** The one place values are drawn: {@code values[0..count)} from N(mean, stddev²), rounded to {@code type}. */
    private static void fillGaussian(SplittableRandom random, float[] values, int count, double mean, double stddev,
                                     DataType type) {
        for (int i = 0; i < count; i++) {
            values[i] = type.round((float) (mean + stddev * random.nextGaussian()));
        }
    }

    /** Checks that a checkpoint may be written into {@code directory}: absent or an empty directory. */
    private static void requireEmptyTarget(Path directory) throws IOException {
        if (Files.exists(directory)) {
            if (!Files.isDirectory(directory)) {
                throw new IllegalArgumentException("checkpoint target " + directory + " is not a directory");
            }
            try (Stream<Path> entries = Files.list(directory)) {
                if (entries.findAny().isPresent()) {
                    throw new IllegalArgumentException("checkpoint target directory " + directory + " is not empty");
                }
            }
        }
    }

    /** See {@link Builder#streamTo(Path, DoubleConsumer)}. */
    private static Path stream(Builder b, Path directory, DoubleConsumer progress) throws IOException {
        Objects.requireNonNull(directory, "directory");
        int tensorCount = canonicalTensorNames(b.config.layerCount(), b.tiedLmHead).size();
        if (b.shardCount > tensorCount) {
            throw new IllegalArgumentException(
                    "shards " + b.shardCount + " exceeds the model's " + tensorCount + " tensors");
        }
        requireEmptyTarget(directory);
        byte[] tokenizerBytes = b.tokenizer.read();
        Files.createDirectories(directory);
        b.config.write(directory, b.keyStyle, b.dataType, b.extraConfig);

        List<TensorSpec> specs = new ArrayList<>();
        plan(b.config, !b.tiedLmHead,
                (name, shape, mean, stddev) -> specs.add(new TensorSpec(stored(b.transformerPrefix, name), shape)));
        SplittableRandom random = new SplittableRandom(b.seed);
        float[] block = new float[STREAM_BLOCK];
        try (SafetensorsWriter.StreamingWriter writer = b.shardCount == 1
                ? SafetensorsWriter.open(directory.resolve(SafetensorsWriter.SINGLE_FILE_NAME), specs, b.dataType,
                        SafetensorsWriter.PYTORCH_METADATA)
                : SafetensorsWriter.openSharded(directory, specs, b.dataType, b.shardCount)) {
            double total = writer.totalBytes();
            plan(b.config, !b.tiedLmHead, (name, shape, mean, stddev) -> {
                String storedName = stored(b.transformerPrefix, name);
                long remaining = new TensorSpec(storedName, shape).elementCount();
                while (remaining > 0) {
                    int count = (int) Math.min(remaining, block.length);
                    fillGaussian(random, block, count, mean, stddev, b.dataType);
                    writer.write(storedName, block, 0, count);
                    remaining -= count;
                    if (progress != null) {
                        progress.accept(total == 0 ? 1 : writer.bytesWritten() / total);
                    }
                }
            });
        }
        if (tokenizerBytes != null) {
            Files.write(directory.resolve(TOKENIZER_FILE_NAME), tokenizerBytes);
        }
        return directory;
    }

    private static String stored(boolean transformerPrefix, String canonicalName) {
        return transformerPrefix && !canonicalName.equals(LM_HEAD_WEIGHT)
                ? TRANSFORMER_PREFIX + canonicalName : canonicalName;
    }

    /** Where {@code tokenizer.json} comes from. */
    private record TokenizerSource(Path file, byte[] text, boolean bundled) {
        static final TokenizerSource NONE = new TokenizerSource(null, null, false);
        static final TokenizerSource BUNDLED = new TokenizerSource(null, null, true);

        /** The bytes to write, or {@code null} for no tokenizer. */
        byte[] read() throws IOException {
            if (file != null) {
                return Files.readAllBytes(file);
            }
            if (text != null) {
                return text;
            }
            if (bundled) {
                return readBundledTokenizer();
            }
            return null;
        }
    }

    /**
     * The bytes of the bundled tokenizer resource {@link #BUNDLED_TOKENIZER_RESOURCE}.
     *
     * @throws IllegalStateException if it is not on the class path
     */
    public static byte[] readBundledTokenizer() throws IOException {
        try (InputStream in = RandomCheckpoint.class.getResourceAsStream(BUNDLED_TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("bundled tokenizer resource " + BUNDLED_TOKENIZER_RESOURCE
                        + " is not on the class path (it is packaged from native/tests/data/bloom-tiny-tokenizer.json)");
            }
            return in.readAllBytes();
        }
    }

    /**
     * Options of a {@link RandomCheckpoint}. Defaults: seed 42, {@link DataType#F32}, no prefix, tied head, one
     * file, {@link BloomConfig.KeyStyle#LEGACY} keys, the bundled tokenizer.
     */
    public static final class Builder {
        private final BloomConfig config;
        private long seed = 42;
        private DataType dataType = DataType.F32;
        private boolean transformerPrefix;
        private boolean tiedLmHead = true;
        private int shardCount = 1;
        private BloomConfig.KeyStyle keyStyle = BloomConfig.KeyStyle.LEGACY;
        private final Map<String, Object> extraConfig = new LinkedHashMap<>();
        private TokenizerSource tokenizer = TokenizerSource.BUNDLED;

        private Builder(BloomConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /** Seed of the {@link SplittableRandom} the weights are drawn from. */
        public Builder seed(long value) {
            this.seed = value;
            return this;
        }

        /** Storage type of every tensor. */
        public Builder dataType(DataType value) {
            this.dataType = Objects.requireNonNull(value, "dataType");
            return this;
        }

        /** Whether to name base-model tensors {@code transformer.<name>}, as a saved {@code BloomForCausalLM} does. */
        public Builder transformerPrefix(boolean value) {
            this.transformerPrefix = value;
            return this;
        }

        /** {@code true}: no {@code lm_head.weight} (BLOOM's usual tied head); {@code false}: write a separate one. */
        public Builder tiedLmHead(boolean value) {
            this.tiedLmHead = value;
            return this;
        }

        /** Number of safetensors files; more than one writes {@code model-0000i-of-0000N} files and an index. */
        public Builder shards(int count) {
            if (count < 1) {
                throw new IllegalArgumentException("shards must be at least 1, got " + count);
            }
            this.shardCount = count;
            return this;
        }

        /** Key spelling of {@code config.json}. */
        public Builder keyStyle(BloomConfig.KeyStyle value) {
            this.keyStyle = Objects.requireNonNull(value, "keyStyle");
            return this;
        }

        /** Adds a key to {@code config.json} (see {@link BloomConfig#toJson}). */
        public Builder extraConfig(String key, Object value) {
            this.extraConfig.put(Objects.requireNonNull(key, "key"), value);
            return this;
        }

        /** Copies {@code file} as {@code tokenizer.json}. */
        public Builder tokenizer(Path file) {
            Objects.requireNonNull(file, "file");
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("tokenizer file " + file + " does not exist or is not a file");
            }
            this.tokenizer = new TokenizerSource(file, null, false);
            return this;
        }

        /** Writes {@code json} as {@code tokenizer.json}. */
        public Builder tokenizerJson(String json) {
            this.tokenizer = new TokenizerSource(null, json.getBytes(StandardCharsets.UTF_8), false);
            return this;
        }

        /** Copies the bundled tokenizer resource (the default). */
        public Builder bundledTokenizer() {
            this.tokenizer = TokenizerSource.BUNDLED;
            return this;
        }

        /** Writes no {@code tokenizer.json}. */
        public Builder noTokenizer() {
            this.tokenizer = TokenizerSource.NONE;
            return this;
        }

        /** Draws the weights. */
        public RandomCheckpoint build() {
            return new RandomCheckpoint(this);
        }

        /**
         * Writes the checkpoint into {@code directory} (absent or empty) while drawing the weights, without ever
         * holding a tensor in memory: any size can be written, e.g. the real {@code bigscience/bloom-7b1} shape. The
         * files are byte-for-byte those {@code build().writeTo(directory)} writes.
         * <pre>{@code
         * RandomCheckpoint.builder(BloomConfig.of(250880, 2048, 24, 16)).dataType(DataType.F16)
         *         .streamTo(Path.of("/models/random-bloom-1b7"), p -> System.err.printf("\r%3.0f%%", p * 100));
         * }</pre>
         *
         * @param progress receives the fraction of the weight bytes written, in [0, 1]; may be {@code null}
         * @return {@code directory}
         * @throws IllegalArgumentException if {@code directory} is a non-empty directory or a file, or there are
         *                                  more shards than tensors
         */
        public Path streamTo(Path directory, DoubleConsumer progress) throws IOException {
            return stream(this, directory, progress);
        }
    }
}
