package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomModel;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Tokenizer speed through the Java API: {@link BloomModel#tokenize(String)} and {@link BloomModel#decode(int[])} of
 * a fixed ~4 KB multilingual text (BLOOM's training mix: English, French, Spanish, Chinese, Arabic, code).
 *
 * <pre>{@code
 * java -jar benchmarks/target/benchmarks.jar TokenizeBenchmark -p model=/models/bloom-560m -rf json
 * }</pre>
 * Only the model's tokenizer matters here, but the API loads the whole model (the weights are memory-mapped, not
 * read).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class TokenizeBenchmark extends BloomBenchmark {

    private static final String PARAGRAPH = """
            The BigScience Large Open-science Open-access Multilingual Language Model was trained on 46 natural \
            languages and 13 programming languages. Le modèle a été entraîné sur le supercalculateur Jean Zay, près \
            de Paris. El modelo tiene 176 mil millones de parámetros. 这个模型是开放的，任何人都可以使用。 \
            النموذج متاح للجميع. def greet(name):\n    return f"Hello, {name}!"\n""";

    private String text;
    private int[] tokens;

    @Override
    protected void modelLoaded() {
        text = PARAGRAPH.repeat(4096 / PARAGRAPH.length() + 1);
        tokens = model().tokenize(text);
    }

    @Benchmark
    public int[] tokenize() {
        return model().tokenize(text);
    }

    @Benchmark
    public String decode() {
        return model().decode(tokens);
    }
}
