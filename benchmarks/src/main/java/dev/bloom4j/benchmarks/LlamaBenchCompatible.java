package dev.bloom4j.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomRuntime;
import dev.bloom4j.BloomSession;
import dev.bloom4j.ModelInfo;
import dev.bloom4j.SessionConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * llama.cpp's {@code llama-bench} pp and tg tests, done through the bloom4j Java API, printing JSON in llama-bench's
 * field names so that the two tools' outputs line up (benchmarks/scripts/compare-llama-bench.sh runs both).
 * {@snippet :
 * java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar \
 *      dev.bloom4j.benchmarks.LlamaBenchCompatible --model bloom-560m-f16.gguf --threads 2 -p 512 -n 128 -r 5
 * }
 *
 * <h2>What matches llama-bench (tools/llama-bench/llama-bench.cpp at the pinned llama.cpp commit)</h2>
 * <ul>
 *   <li>pp{@code P} and tg{@code N} are separate tests, each with its own context of {@code n_ctx = P} or {@code N}
 *       tokens ({@code n_prompt + n_gen + n_depth}, depth 0).</li>
 *   <li>Warmup, untimed: pp runs one whole prompt; tg decodes one token.</li>
 *   <li>Then {@code r} repetitions (default 5). Each empties the KV cache ({@code llama_memory_clear}, here
 *       {@link BloomSession#clear()}) before the timer starts. pp times the evaluation of {@code P} random token ids
 *       (llama-bench: one {@code llama_decode} of the whole prompt, {@code n_batch} 2048, split by the context into
 *       micro-batches of {@code n_ubatch} 512; here one {@link BloomSession#evaluate(int[])}, split into batches of
 *       the session's batch size, set to 512). Logits are computed for the last prompt token only, as
 *       {@code llama_batch_get_one} asks. tg times {@code N} single-token evaluations, starting from the empty cache
 *       (so at contexts 0 to N-1), each a random id, not a sampled one.</li>
 *   <li>The figure: the mean over repetitions of {@code tokens·10⁹/ns}, and the sample standard deviation
 *       ({@code avg_ts}, {@code stddev_ts}).</li>
 * </ul>
 * Differences left: llama-bench's thread pool spins ({@code --poll 50}) while bloom4j's is its own; llama.cpp's
 * default KV cache is f16 and it may use flash attention ({@code -fa auto}), while bloom4j uses its own graph. These
 * are what the comparison is meant to expose, not to hide.
 */
public final class LlamaBenchCompatible {

    private LlamaBenchCompatible() {}

    /** Parsed command line. */
    record Options(Path model, int threads, int promptTokens, int generatedTokens, int repetitions,
                   boolean warmup, int batchSize, long seed, Path output) {
        Options {
            if (model == null) {
                throw new IllegalArgumentException("--model is required (a .gguf file or a BLOOM checkpoint directory)");
            }
            if (threads < 0) {
                throw new IllegalArgumentException("--threads must be >= 0 (0 = one per core), got " + threads);
            }
            if (promptTokens < 0 || generatedTokens < 0 || promptTokens + generatedTokens == 0) {
                throw new IllegalArgumentException("-p and -n must be >= 0 and not both 0, got -p " + promptTokens
                        + " -n " + generatedTokens);
            }
            if (repetitions < 1) {
                throw new IllegalArgumentException("-r must be >= 1, got " + repetitions);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException("--batch must be >= 1, got " + batchSize);
            }
        }

        static Options parse(String[] args) {
            Path model = null;
            Path output = null;
            int threads = 0;
            int prompt = 512;
            int gen = 128;
            int reps = 5;
            int batch = 512;
            long seed = 1;
            boolean warmup = true;
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                switch (arg) {
                    case "-m", "--model" -> model = Path.of(value(args, ++i, arg));
                    case "-t", "--threads" -> threads = intValue(args, ++i, arg);
                    case "-p", "--n-prompt" -> prompt = intValue(args, ++i, arg);
                    case "-n", "--n-gen" -> gen = intValue(args, ++i, arg);
                    case "-r", "--repetitions" -> reps = intValue(args, ++i, arg);
                    case "-b", "--batch" -> batch = intValue(args, ++i, arg);
                    case "--seed" -> seed = Long.parseLong(value(args, ++i, arg));
                    case "--no-warmup" -> warmup = false;
                    case "-o", "--output" -> output = Path.of(value(args, ++i, arg));
                    case "-h", "--help" -> {
                        System.out.println(USAGE);
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + arg + "'\n" + USAGE);
                }
            }
            return new Options(model, threads, prompt, gen, reps, warmup, batch, seed, output);
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            return args[i];
        }

        private static int intValue(String[] args, int i, String option) {
            String v = value(args, i, option);
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + " needs an integer, got '" + v + "'");
            }
        }
    }

    static final String USAGE = """
            usage: LlamaBenchCompatible --model PATH [options]
              -m, --model PATH        .gguf file or BLOOM checkpoint directory (required)
              -t, --threads N         CPU threads (default 0 = one per core)
              -p, --n-prompt N        prompt tokens of the pp test, 0 = no pp test (default 512)
              -n, --n-gen N           generated tokens of the tg test, 0 = no tg test (default 128)
              -r, --repetitions N     timed repetitions per test (default 5)
              -b, --batch N           session batch size: tokens per graph (default 512, llama-bench's n_ubatch)
                  --seed N            seed of the random token ids (default 1)
                  --no-warmup         skip the untimed warmup run
              -o, --output FILE       write the JSON there instead of stdout""";

    /** One test's timings, the way llama-bench reports them. */
    record TestResult(String name, int promptTokens, int generatedTokens, long[] samplesNs, double flopPerRun) {

        double[] tokensPerSecond() {
            double[] ts = new double[samplesNs.length];
            for (int i = 0; i < ts.length; i++) {
                ts[i] = 1e9 * (promptTokens + generatedTokens) / samplesNs[i];
            }
            return ts;
        }

        double averageTokensPerSecond() {
            return mean(tokensPerSecond());
        }

        /** llama-bench's stdev: the sample standard deviation (n - 1), 0 for one sample. */
        double stdevTokensPerSecond() {
            return stdev(tokensPerSecond());
        }

        double averageGflops() {
            double[] g = new double[samplesNs.length];
            for (int i = 0; i < g.length; i++) {
                g[i] = flopPerRun / samplesNs[i];
            }
            return mean(g);
        }
    }

    static double mean(double[] v) {
        double sum = 0;
        for (double x : v) {
            sum += x;
        }
        return v.length == 0 ? 0 : sum / v.length;
    }

    static double stdev(double[] v) {
        if (v.length <= 1) {
            return 0;
        }
        double m = mean(v);
        double sq = 0;
        for (double x : v) {
            sq += (x - m) * (x - m);
        }
        return Math.sqrt(sq / (v.length - 1));
    }

    public static void main(String[] args) throws IOException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (!Files.exists(options.model())) {
            System.err.println("error: model not found: " + options.model().toAbsolutePath());
            System.exit(1);
        }
        String json = run(options);
        if (options.output() != null) {
            Files.writeString(options.output(), json);
        } else {
            System.out.println(json);
        }
    }

    static String run(Options options) throws IOException {
        List<TestResult> results = new ArrayList<>();
        ModelInfo info;
        long loadStart = System.nanoTime();
        try (BloomModel model = BloomModel.load(options.model())) {
            double loadMs = (System.nanoTime() - loadStart) / 1e6;
            info = model.info();
            Flops.Shape shape = Flops.Shape.of(info);
            SplittableRandom random = new SplittableRandom(options.seed());
            if (options.promptTokens() > 0) {
                results.add(promptTest(model, shape, options, random));
            }
            if (options.generatedTokens() > 0) {
                results.add(generationTest(model, shape, options, random));
            }
            return toJson(options, info, loadMs, results);
        }
    }

    private static SessionConfig sessionConfig(Options options, int contextSize) {
        return SessionConfig.builder().contextSize(contextSize).batchSize(options.batchSize())
                .threads(options.threads()).build();
    }

    /** llama-bench's test_prompt, timed as its main loop does. */
    static TestResult promptTest(BloomModel model, Flops.Shape shape, Options options, SplittableRandom random) {
        int p = options.promptTokens();
        int vocabulary = model.info().tokenizerVocabularySize();
        long[] samples = new long[options.repetitions()];
        try (BloomSession session = model.newSession(sessionConfig(options, p))) {
            if (options.warmup()) {
                session.evaluate(randomIds(random, vocabulary, p));
            }
            for (int r = 0; r < samples.length; r++) {
                session.clear();
                int[] prompt = randomIds(random, vocabulary, p);
                long start = System.nanoTime();
                session.evaluate(prompt);
                samples[r] = System.nanoTime() - start;
            }
        }
        return new TestResult("pp" + p, p, 0, samples, Flops.prefill(shape, p));
    }

    /** llama-bench's test_gen: single-token evaluations from an empty cache, random ids. */
    static TestResult generationTest(BloomModel model, Flops.Shape shape, Options options, SplittableRandom random) {
        int n = options.generatedTokens();
        int vocabulary = model.info().tokenizerVocabularySize();
        long[] samples = new long[options.repetitions()];
        int[] token = new int[1];
        try (BloomSession session = model.newSession(sessionConfig(options, n))) {
            if (options.warmup()) {
                token[0] = random.nextInt(vocabulary);
                session.evaluate(token);
            }
            for (int r = 0; r < samples.length; r++) {
                session.clear();
                token[0] = random.nextInt(vocabulary);
                long start = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    session.evaluate(token);
                    token[0] = random.nextInt(vocabulary);
                }
                samples[r] = System.nanoTime() - start;
            }
        }
        double flop = 0;
        for (int c = 0; c < n; c++) {
            flop += Flops.decode(shape, c);
        }
        return new TestResult("tg" + n, 0, n, samples, flop);
    }

    private static int[] randomIds(SplittableRandom random, int vocabulary, int count) {
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) {
            ids[i] = random.nextInt(vocabulary);
        }
        return ids;
    }

    private static String toJson(Options options, ModelInfo info, double loadMs, List<TestResult> results)
            throws IOException {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        root.put("tool", "bloom4j");
        root.put("bloom4j_version", BloomRuntime.version());
        root.put("library", BloomRuntime.libraryPath().toString());
        root.put("library_variant", BloomRuntime.libraryVariant().orElse(""));
        root.put("model_filename", options.model().toString());
        root.put("model_type", info.weightType().nativeName());
        root.put("model_n_params", info.parameterCount());
        if (Files.isRegularFile(options.model())) {
            root.put("model_size", Files.size(options.model()));
        }
        root.put("load_ms", loadMs);
        root.put("n_threads", options.threads());
        root.put("n_batch", options.batchSize());
        root.put("repetitions", options.repetitions());
        root.put("warmup", options.warmup());
        root.put("test_time", Instant.now().toString());
        ArrayNode tests = root.putArray("tests");
        for (TestResult r : results) {
            ObjectNode t = tests.addObject();
            t.put("name", r.name());
            t.put("n_prompt", r.promptTokens());
            t.put("n_gen", r.generatedTokens());
            t.put("n_depth", 0);
            ArrayNode ns = t.putArray("samples_ns");
            for (long s : r.samplesNs()) {
                ns.add(s);
            }
            ArrayNode ts = t.putArray("samples_ts");
            for (double s : r.tokensPerSecond()) {
                ts.add(s);
            }
            t.put("avg_ts", r.averageTokensPerSecond());
            t.put("stddev_ts", r.stdevTokensPerSecond());
            t.put("flop_per_run", r.flopPerRun());
            t.put("avg_gflops", r.averageGflops());
        }
        return mapper.writeValueAsString(root);
    }
}
