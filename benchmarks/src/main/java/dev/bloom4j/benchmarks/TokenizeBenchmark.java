package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomModel;
import org.openjdk.jmh.annotations.Benchmark;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Tokenizer speed through the Java API: {@link BloomModel#tokenize(String)} and {@link BloomModel#decode(int[])} of
 * a fixed ~4 KB multilingual text (BLOOM's training mix: English, French, Spanish, Chinese, Arabic, code).
 *
 * <pre>{@code
 * java -jar benchmarks/target/benchmarks.jar TokenizeBenchmark -p model=/models/bloom-560m -rf json
 * }</pre>
 * The model directory is a Hugging Face BLOOM checkpoint; only its tokenizer matters here, but the API loads the
 * whole model (the weights are memory-mapped, not read).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class TokenizeBenchmark {

    private static final String PARAGRAPH = """
            The BigScience Large Open-science Open-access Multilingual Language Model was trained on 46 natural \
            languages and 13 programming languages. Le modèle a été entraîné sur le supercalculateur Jean Zay, près \
            de Paris. El modelo tiene 176 mil millones de parámetros. 这个模型是开放的，任何人都可以使用。 \
            النموذج متاح للجميع. def greet(name):\n    return f"Hello, {name}!"\n""";

    /** A BLOOM checkpoint directory (-p model=...); the JVM property bloom4j.model is the fallback. */
    @Param("")
    public String model;

    private BloomModel bloom;
    private String text;
    private int[] tokens;

    @Setup(Level.Trial)
    public void load() {
        String dir = model.isEmpty() ? System.getProperty("bloom4j.model", "") : model;
        if (dir.isEmpty() || !Files.isDirectory(Path.of(dir))) {
            throw new IllegalArgumentException("TokenizeBenchmark needs a BLOOM checkpoint directory: pass "
                    + "-p model=/path/to/checkpoint (got '" + dir + "')");
        }
        bloom = BloomModel.load(Path.of(dir));
        text = PARAGRAPH.repeat(4096 / PARAGRAPH.length() + 1);
        tokens = bloom.tokenize(text);
    }

    @TearDown(Level.Trial)
    public void close() {
        if (bloom != null) {
            bloom.close();
        }
    }

    @Benchmark
    public int[] tokenize() {
        return bloom.tokenize(text);
    }

    @Benchmark
    public String decode() {
        return bloom.decode(tokens);
    }
}
