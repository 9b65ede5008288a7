package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sessions opened, used and closed many times on one model leave no memory behind: the resident set size
 * ({@code VmRSS} of {@code /proc/self/status}) stays flat, once the Java heap's own growth is taken out (the heap
 * may commit more memory while the loop runs, which says nothing about native leaks). It prints what it measured.
 */
class SessionCyclesTest {

    @TempDir
    static Path temp;

    static long residentKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void tenThousandSessionCyclesKeepTheResidentSetFlat() throws Exception {
        try (BloomModel model = BloomModel.load(TinyModels.random(temp.resolve("tiny"), 3, DataType.F32))) {
            SessionConfig config = TinyModels.session(32);
            GenerationConfig two = GenerationConfig.greedy().maxTokens(2).ignoreEos(true);
            int[] prompt = {7, 8, 9};
            SessionConfig batchConfig = config.toBuilder().maxSequences(4).build();
            // Warm-up: the JIT, FFM stubs and the C library's per-thread malloc arenas (each batch session has a
            // thread of its own) settle before the first measurement.
            for (int i = 0; i < 1000; i++) {
                cycle(model, config, two, prompt);
            }
            for (int i = 0; i < 50; i++) {
                batchCycle(model, batchConfig, two, prompt);
            }
            System.gc();
            long before = residentKiB();
            long heapBefore = Runtime.getRuntime().totalMemory() / 1024;
            long start = System.nanoTime();
            int cycles = 10_000;
            for (int i = 0; i < cycles; i++) {
                cycle(model, config, two, prompt);
            }
            long sessionNanos = System.nanoTime() - start;
            int batchCycles = 300;
            start = System.nanoTime();
            for (int i = 0; i < batchCycles; i++) {
                batchCycle(model, batchConfig, two, prompt);
            }
            long batchNanos = System.nanoTime() - start;
            System.gc();
            long after = residentKiB();
            long heapAfter = Runtime.getRuntime().totalMemory() / 1024;
            long growth = (after - before) - Math.max(0, heapAfter - heapBefore);
            System.out.printf("SessionCyclesTest: %d BloomSession cycles (%.0f us each) and %d BatchSession cycles "
                            + "(%.0f us each): VmRSS %d KiB before, %d KiB after (%+d KiB); committed Java heap %d "
                            + "KiB before, %d KiB after; growth outside the heap %+d KiB%n", cycles,
                    sessionNanos / 1e3 / cycles, batchCycles, batchNanos / 1e3 / batchCycles, before, after,
                    after - before, heapBefore, heapAfter, growth);
            // Generous: a native leak of one context per cycle (0.1 MiB of KV cache plus compute buffers) would add
            // about a gigabyte.
            assertTrue(growth < 64 * 1024, "VmRSS grew by " + growth + " KiB outside the Java heap");
        }
    }

    private static void batchCycle(BloomModel model, SessionConfig config, GenerationConfig two, int[] prompt)
            throws Exception {
        try (BatchSession batch = model.newBatchSession(config)) {
            assertEquals(2, batch.submit(prompt, two).get(10, TimeUnit.SECONDS).generatedTokens());
        }
    }

    private static void cycle(BloomModel model, SessionConfig config, GenerationConfig two, int[] prompt) {
        try (BloomSession session = model.newSession(config)) {
            assertEquals(2, session.generate(prompt, two, null).generatedTokens());
        }
    }
}
