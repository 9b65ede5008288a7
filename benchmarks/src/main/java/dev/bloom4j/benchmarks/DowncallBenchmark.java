package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomRuntime;
import dev.bloom4j.BloomSession;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
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
 * a decode step (tens of milliseconds on a CPU; for bloom-560m on a GPU, estimated at about a millisecond), it
 * bounds the Java overhead of the decode loop; {@code compare-llama-bench.sh} measures the same loop through Java and through C.
 * {@snippet :
 * java -jar benchmarks/target/benchmarks.jar DowncallBenchmark -p model=/models/bloom-560m-q8_0.gguf
 * }
 * The bindings use plain downcalls, not {@code Linker.Option.critical}. {@code abiVersionPlain} and
 * {@code abiVersionCritical} measure what that choice costs: the same no-argument function ({@code bloom_abi_version},
 * which returns a constant) through a plain downcall handle and through a critical one (no thread-state transition;
 * allowed only for short calls that never call back into Java, as this one). The difference, a few nanoseconds per
 * call, is what critical handles could save on the short session calls; against a decode step of a millisecond or
 * more it is below measurement noise, so the bindings stay as jextract generates them.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class DowncallBenchmark extends BloomBenchmark {

    private static final MethodHandle ABI_PLAIN;
    private static final MethodHandle ABI_CRITICAL;

    static {
        // The library the bindings loaded (dlopen hands back the same one).
        MemorySegment abiVersion = SymbolLookup.libraryLookup(BloomRuntime.libraryPath(), Arena.global())
                .find("bloom_abi_version").orElseThrow();
        FunctionDescriptor returnsInt = FunctionDescriptor.of(ValueLayout.JAVA_INT);
        ABI_PLAIN = Linker.nativeLinker().downcallHandle(abiVersion, returnsInt);
        ABI_CRITICAL = Linker.nativeLinker().downcallHandle(abiVersion, returnsInt, Linker.Option.critical(false));
    }

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

    @Benchmark
    public int abiVersionPlain() throws Throwable {
        return (int) ABI_PLAIN.invokeExact();
    }

    @Benchmark
    public int abiVersionCritical() throws Throwable {
        return (int) ABI_CRITICAL.invokeExact();
    }
}
