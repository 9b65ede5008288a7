package dev.bloom4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** {@code bloom init-random}: a random-weight checkpoint in a real BLOOM shape, for benchmarks and tests. */
@Command(
        name = "init-random",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Write a Hugging Face BLOOM checkpoint directory with seeded RANDOM weights (config.json, "
                    + "model.safetensors, tokenizer.json) in the shape of a real model: for speed measurements "
                    + "and tests where real weights cannot be downloaded. Its output is gibberish.",
            "The weights are streamed to disk as they are drawn, so any size fits in a small heap (bloom-7b1 in "
                    + "f16 is about 14 GiB on disk). Each linear weight is drawn from N(0, (g/sqrt(fan_in))^2), "
                    + "biases and layer norms near their usual values; config.json is marked with "
                    + "\"" + RandomCheckpoint.RANDOM_WEIGHTS_KEY + "\": true, which the other commands report.",
            "The tokenizer is a toy: bloom4j's bundled 1000-token BLOOM-format tokenizer, padded into the model's "
                    + "vocabulary (ids past it have no text). Text round-trips, but tokenizes into far more "
                    + "tokens than with BLOOM's real 250,680-token vocabulary.",
            ""},
        footer = {"", "Examples:",
            "  bloom init-random --config bloom-560m --out /tmp/random-bloom-560m",
            "  bloom init-random --config ~/models/bloom-1b7/config.json --out /tmp/rb --dtype bf16 --seed 7",
            "  bloom init-random --config bloom --layers 1 --out /tmp/bloom-176b-layer --dtype bf16"})
final class InitRandomCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Option(names = {"-c", "--config"}, paramLabel = "CONFIG", required = true,
            description = "The model shape: a BLOOM config.json file, or the name of a released model: "
                    + "bloom-560m (hidden 1024, 24 layers, 16 heads), bloom-1b1 (1536/24/16), bloom-1b7 "
                    + "(2048/24/16), bloom-3b (2560/30/32), bloom-7b1 (4096/30/32), bloom or bloom-176b "
                    + "(14336/70/112); vocabulary 250880. A model name is never read as a path (give ./name for a file "
                    + "called so).")
    String config;

    @Option(names = "--layers", paramLabel = "N",
            description = "Keep only the first N transformer blocks of the shape, all other sizes as they are: "
                    + "a large model's layer shape at a size that fits, e.g. --config bloom --layers 1 (one "
                    + "bloom-176B block plus its embeddings, 6.1 billion parameters, ~12 GB in bf16). "
                    + "Default: all of them.")
    Integer layers;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", required = true,
            description = "The checkpoint directory to write; it must not exist or be empty.")
    Path out;

    @Option(names = "--dtype", paramLabel = "TYPE", converter = DataTypeConverter.class,
            completionCandidates = DataTypeNames.class,
            description = "Storage type of the weights: ${COMPLETION-CANDIDATES}. Default: f16.")
    DataType dtype = DataType.F16;

    @Option(names = {"-s", "--seed"}, paramLabel = "SEED",
            description = "Seed of the random weights; the same seed, shape and type give the same files. "
                    + "Default: ${DEFAULT-VALUE}.")
    long seed = 42;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws IOException {
        ShapedConfig shape = layeredShape();
        int tokenizerSize = bundledTokenizerSize();
        if (shape.config().vocabSize() < tokenizerSize) {
            throw new ParameterException(spec.commandLine(), "vocab_size " + shape.config().vocabSize()
                    + " is smaller than the bundled tokenizer's " + tokenizerSize + " tokens");
        }
        RandomCheckpoint.Builder builder = RandomCheckpoint.builder(shape.config())
                .seed(seed)
                .dataType(dtype)
                .bundledTokenizer()
                .extraConfig(RandomCheckpoint.RANDOM_WEIGHTS_KEY, true)
                .extraConfig("bloom4j_note", "random weights (seed " + seed + ") in the shape of " + shape.name()
                        + ", toy 1000-token tokenizer; written by bloom init-random, not a trained model");
        Console console = System.console();
        ProgressBar bar = null;
        if (console != null && console.isTerminal()) {
            bar = new ProgressBar(main.err, "writing random weights");
        }
        long started = System.nanoTime();
        try {
            builder.streamTo(out, bar == null ? null : bar::update);
        } catch (IllegalArgumentException e) {
            // a non-empty target directory: the user's to fix
            throw new ParameterException(spec.commandLine(), e.getMessage());
        } finally {
            if (bar != null) {
                bar.clear();
            }
        }
        Files.writeString(out.resolve("README.md"), readme(shape), StandardCharsets.UTF_8);
        BloomConfig c = shape.config();
        long bytes = 0;
        try (var files = Files.list(out)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (p.getFileName().toString().endsWith(".safetensors")) {
                    bytes += Files.size(p);
                }
            }
        }
        main.out.println(String.format(Locale.ROOT,
                "wrote %s: RANDOM weights (seed %d, %s) in the shape of %s: %d layers, hidden %d, %d heads, "
                        + "vocabulary %d, %,d parameters, %s of weights, in %.1f s",
                out, seed, dtype.name().toLowerCase(Locale.ROOT), shape.name(), c.layerCount(), c.hiddenSize(),
                c.headCount(), c.vocabSize(), c.parameterCount(), ConvertCommand.humanBytes(bytes),
                (System.nanoTime() - started) / 1e9));
        main.out.println("tokenizer: a toy (the bundled " + tokenizerSize + "-token tokenizer padded into the "
                + c.vocabSize() + "-entry vocabulary); the model's output is gibberish");
        return 0;
    }

    /** A configuration and what to call it in messages. */
    private record ShapedConfig(String name, BloomConfig config) {}

    private ShapedConfig shape() throws IOException {
        // A released model's name is never read as a path (this repository's launcher script is called "bloom"):
        // a file with such a name is still reachable as ./name.
        try {
            return new ShapedConfig(config, BloomConfig.released(config));
        } catch (IllegalArgumentException notAName) {
            // a path, or nothing known
        }
        Path file = Path.of(config);
        if (Files.isRegularFile(file)) {
            try {
                return new ShapedConfig(file.toString(), parseConfig(Files.readString(file, StandardCharsets.UTF_8)));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), file + ": " + e.getMessage());
            }
        }
        if (Files.isDirectory(file) && Files.isRegularFile(file.resolve(BloomConfig.FILE_NAME))) {
            Path json = file.resolve(BloomConfig.FILE_NAME);
            try {
                return new ShapedConfig(json.toString(), parseConfig(Files.readString(json, StandardCharsets.UTF_8)));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), json + ": " + e.getMessage());
            }
        }
        throw new ParameterException(spec.commandLine(), "--config " + config + " is neither a config.json "
                + "file nor a known model name (" + String.join(", ", BloomConfig.RELEASED.keySet()) + ")");
    }

    /** The shape, cut to --layers blocks when given. */
    private ShapedConfig layeredShape() throws IOException {
        ShapedConfig full = shape();
        if (layers == null) {
            return full;
        }
        int all = full.config().layerCount();
        if (layers < 1 || layers > all) {
            throw new ParameterException(spec.commandLine(), "--layers " + layers + ": " + full.name() + " has "
                    + all + " layers; give 1 to " + all);
        }
        return new ShapedConfig(full.name() + " (" + layers + " of its " + all + " layers)",
                full.config().withLayerCount(layers));
    }

    /**
     * The shape from a BLOOM {@code config.json}, in either key spelling real checkpoints use; a missing size key
     * is an error rather than a guess, other keys default to BLOOM's values.
     */
    static BloomConfig parseConfig(String text) throws IOException {
        JsonNode json = JSON.readTree(text);
        if (json == null || !json.isObject()) {
            throw new IllegalArgumentException("not a JSON object");
        }
        int vocab = intKey(json, "vocab_size");
        int hidden = intKey(json, "hidden_size", "n_embed");
        int layers = intKey(json, "n_layer", "num_hidden_layers");
        int heads = intKey(json, "n_head", "num_attention_heads");
        BloomConfig defaults = BloomConfig.of(vocab, hidden, layers, heads);
        return new BloomConfig(vocab, hidden, layers, heads,
                json.path("layer_norm_epsilon").asDouble(defaults.layerNormEpsilon()),
                json.path("apply_residual_connection_post_layernorm").asBoolean(false),
                json.path("seq_length").asInt(defaults.sequenceLength()),
                json.path("bos_token_id").asInt(defaults.bosTokenId()),
                json.path("eos_token_id").asInt(defaults.eosTokenId()),
                json.path("pad_token_id").asInt(defaults.padTokenId()),
                json.path("unk_token_id").asInt(defaults.unkTokenId()));
    }

    private static int intKey(JsonNode json, String... names) {
        for (String name : names) {
            JsonNode value = json.get(name);
            if (value != null && !value.isNull()) {
                if (!value.canConvertToInt() || !value.isIntegralNumber()) {
                    throw new IllegalArgumentException("\"" + name + "\" must be an integer, got " + value);
                }
                return value.intValue();
            }
        }
        throw new IllegalArgumentException("missing \"" + String.join("\" or \"", names) + "\"");
    }

    /** Entries of the bundled tokenizer's vocabulary: one more than the largest id it assigns. */
    private static int bundledTokenizerSize() throws IOException {
        JsonNode tokenizer = JSON.readTree(RandomCheckpoint.readBundledTokenizer());
        int size = 0;
        for (Iterator<JsonNode> ids = tokenizer.path("model").path("vocab").elements(); ids.hasNext(); ) {
            size = Math.max(size, ids.next().asInt() + 1);
        }
        for (JsonNode added : tokenizer.path("added_tokens")) {
            size = Math.max(size, added.path("id").asInt() + 1);
        }
        return size;
    }

    private String readme(ShapedConfig shape) {
        BloomConfig c = shape.config();
        return String.join("\n", List.of(
                "# Random weights: not a trained model",
                "",
                "Written by `bloom init-random --config " + config + (layers == null ? "" : " --layers " + layers)
                        + " --dtype "
                        + dtype.name().toLowerCase(Locale.ROOT) + " --seed " + seed + "`.",
                "",
                "- Shape of " + shape.name() + ": " + c.layerCount() + " layers, hidden size " + c.hiddenSize() + ", "
                        + c.headCount() + " heads, vocabulary " + c.vocabSize() + ", "
                        + String.format(Locale.ROOT, "%,d", c.parameterCount()) + " parameters.",
                "- Weights: seeded random values (bloom4j's RandomCheckpoint), for speed measurements and tests.",
                "- Tokenizer: a toy, bloom4j's bundled 1000-token BLOOM-format tokenizer; ids past it have no text.",
                "- Everything this model generates is gibberish.",
                ""));
    }

    /** f32, f16, bf16 in any case. */
    static final class DataTypeConverter implements ITypeConverter<DataType> {
        @Override
        public DataType convert(String value) {
            for (DataType t : DataType.values()) {
                if (t.name().equalsIgnoreCase(value)) {
                    return t;
                }
            }
            throw new TypeConversionException("unknown dtype \"" + value + "\"; use f32, f16 or bf16");
        }
    }

    /** The --dtype names for --help. */
    static final class DataTypeNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return List.of("f32", "f16", "bf16").iterator();
        }
    }
}
