package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.SessionConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What every bloom4j benchmark shares: the {@code model} parameter, loading and closing the model once per trial,
 * sessions, random prompts, and the JMH defaults (one fork with native access, warmup and measurement lengths
 * suited to calls of milliseconds to seconds). Subclasses add {@code @Benchmark} methods; JMH's command line
 * overrides any default here, and {@code -rf json -rff out.json} writes the JSON result file.
 * {@snippet :
 * public class MyBenchmark extends BloomBenchmark {
 *     @Benchmark
 *     public int[] tokenize() {
 *         return model().tokenize("Hello");
 *     }
 * }
 * }
 * Run as {@code java -jar benchmarks/target/benchmarks.jar MyBenchmark -p model=/models/bloom-560m}; the model is a
 * Hugging Face checkpoint directory or a {@code .gguf} file, and the JVM property {@code bloom4j.model} is the
 * fallback when {@code -p model} is not given.
 *
 * <p>The state is per thread ({@link Scope#Thread}) because a {@link BloomSession} serves one thread at a time;
 * sessions are opened in iteration-level setups, by the thread that uses them.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public abstract class BloomBenchmark {

    /** A BLOOM checkpoint directory or {@code .gguf} file ({@code -p model=...}). */
    @Param("")
    public String model;

    /**
     * Transformer blocks on a GPU ({@code -p gpuLayers=N}): -1 = all and the output layer (the native default;
     * on a machine without a GPU the model runs on the CPU), 0 = CPU only.
     */
    @Param("-1")
    public int gpuLayers;

    private BloomModel bloom;

    /**
     * Loads the model, then calls {@link #modelLoaded()}; fails with a message saying what to pass when the path is
     * missing or wrong. (One setup method calling a hook, because JMH does not order several setups of one level.)
     */
    @Setup(Level.Trial)
    public void loadModel() {
        bloom = BloomModel.load(modelPath(model, getClass().getSimpleName()),
                LoadOptions.builder().gpuLayers(gpuLayers).build());
        modelLoaded();
    }

    /** Per-trial preparation that needs the model; runs once it is loaded. */
    protected void modelLoaded() {}

    /** Closes the model; the sessions, opened per iteration, are closed by then. */
    @TearDown(Level.Trial)
    public void closeModel() {
        if (bloom != null) {
            bloom.close();
            bloom = null;
        }
    }

    /** The model loaded for this trial. */
    protected BloomModel model() {
        return bloom;
    }

    /**
     * A session with the native defaults but for its KV cache size and thread count.
     *
     * @param contextSize tokens the KV cache must hold
     * @param threads     CPU threads; 0 = the native default (one per core)
     */
    protected BloomSession openSession(int contextSize, int threads) {
        return openSession(contextSize, threads, 0);
    }

    /**
     * The same with a batch size: the most tokens one graph evaluates.
     *
     * @param batch tokens per graph; 0 = the native default, capped at the context size
     */
    protected BloomSession openSession(int contextSize, int threads, int batch) {
        SessionConfig.Builder config = SessionConfig.builder().contextSize(contextSize).threads(threads);
        if (batch > 0) {
            config.batchSize(Math.min(batch, contextSize));
        }
        return bloom.newSession(config.build());
    }

    /**
     * {@code count} token ids drawn uniformly from the model's vocabulary, reproducibly: like llama-bench, the
     * benchmarks feed random ids, since the time per token does not depend on which ids they are (the embedding
     * lookup is a row copy) and random-weight models have no meaningful text anyway.
     */
    protected int[] randomTokens(int count, long seed) {
        return randomTokens(bloom.info().vocabularySize(), count, seed);
    }

    static int[] randomTokens(int vocabularySize, int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) {
            ids[i] = random.nextInt(vocabularySize);
        }
        return ids;
    }

    /**
     * Resolves the {@code model} parameter (or the {@code bloom4j.model} property) to an existing checkpoint
     * directory or file.
     *
     * @throws IllegalArgumentException naming the benchmark, the value, and what to pass instead
     */
    static Path modelPath(String parameter, String benchmark) {
        String value = parameter == null || parameter.isEmpty() ? System.getProperty("bloom4j.model", "") : parameter;
        if (value.isEmpty()) {
            throw new IllegalArgumentException(benchmark + " needs a model: pass -p model=/path/to/checkpoint-dir "
                    + "or -p model=/path/to/model.gguf (or -Dbloom4j.model=... in the forked JVM's arguments)");
        }
        Path path = Path.of(value);
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(benchmark + ": model not found: " + path.toAbsolutePath()
                    + " (a Hugging Face BLOOM checkpoint directory or a .gguf file)");
        }
        return path;
    }
}
