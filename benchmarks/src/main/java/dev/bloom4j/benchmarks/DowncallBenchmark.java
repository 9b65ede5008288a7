package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomSession;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What one call through the Java API costs on top of the native work: {@code position()} is the shortest session
 * call (the owner-thread and closed checks, then one FFM downcall of {@code bloom_context_n_past}, which reads a
 * field), so its average time is the per-call overhead of the Java layer and the FFM downcall together. Set against
 * a decode step (tens of milliseconds on a CPU, about a millisecond on a GPU for bloom-560m), it bounds the Java
 * overhead of the decode loop; {@code compare-llama-bench.sh} measures the same loop through Java and through C.
 * {@snippet :
 * java -jar benchmarks/target/benchmarks.jar DowncallBenchmark -p model=/models/bloom-560m-q8_0.gguf
 * }
 * The bindings use plain downcalls, not {@code Linker.Option.critical}: the figure here says whether that would be
 * worth it for the short calls.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class DowncallBenchmark extends BloomBenchmark {

    private BloomSession session;

    @Setup(Level.Iteration)
    public void open() {
        session = openSession(16, 1);
        session.evaluate(randomTokens(3, 7));
    }

    @TearDown(Level.Iteration)
    public void close() {
        session.close();
    }

    @Benchmark
    public int position() {
        return session.position();
    }
}
