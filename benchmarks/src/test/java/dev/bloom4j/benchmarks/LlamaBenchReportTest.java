package dev.bloom4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pairing and arithmetic of the llama-bench comparison, on hand-made outputs of both tools. */
class LlamaBenchReportTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    // Two llama-bench tests as its -o json writes them (fields trimmed to those the report reads).
    private static final String LLAMA = """
            [ {"n_prompt": 512, "n_gen": 0, "n_depth": 0, "n_threads": 2, "model_size": 1117782016,
               "avg_ts": 100.0, "stddev_ts": 2.0, "samples_ns": [ 5000000000, 5240000000 ]},
              {"n_prompt": 0, "n_gen": 128, "n_depth": 0, "n_threads": 2, "model_size": 1117782016,
               "avg_ts": 20.0, "stddev_ts": 0.5, "samples_ns": [ 6400000000 ]} ]""";

    private static final String BLOOM = """
            {"n_threads": 2, "tests": [
              {"name": "pp512", "n_prompt": 512, "n_gen": 0, "avg_ts": 125.0, "stddev_ts": 1.0,
               "flop_per_run": 1.0e12, "avg_gflops": 250.0},
              {"name": "tg128", "n_prompt": 0, "n_gen": 128, "avg_ts": 18.0, "stddev_ts": 0.1,
               "flop_per_run": 6.4e11, "avg_gflops": 90.0} ]}""";

    private static final String HARNESS = """
            {"n_threads": 2, "tests": [
              {"name": "pp512", "n_prompt": 512, "n_gen": 0, "avg_ts": 125.0, "stddev_ts": 1.5},
              {"name": "tg128", "n_prompt": 0, "n_gen": 128, "avg_ts": 20.0, "stddev_ts": 0.2} ]}""";

    private static final LlamaBenchReport.Run RUN = new LlamaBenchReport.Run("bloom-560m", "f16", 2, "0.10", "1.90",
            "0.02", "0.05", "0.01", Path.of("llama.json"), Path.of("bloom.json"), Path.of("c.json"));

    @Test
    void pairsTestsAndComputesRatiosAndGflops() throws Exception {
        List<LlamaBenchReport.Row> rows = LlamaBenchReport.rows(RUN, MAPPER.readTree(LLAMA), MAPPER.readTree(BLOOM),
                MAPPER.readTree(HARNESS));
        assertEquals(2, rows.size());
        LlamaBenchReport.Row pp = rows.get(0);
        assertEquals("pp512", pp.test());
        assertEquals(1.25, pp.ratio(), 1e-12);
        // 1e12 FLOP in 5.00 s and 5.24 s: (200 + 190.839...) / 2 GFLOP/s
        assertEquals((200.0 + 1e3 / 5.24) / 2, pp.llamaGflops(), 1e-9);
        LlamaBenchReport.Row tg = rows.get(1);
        assertEquals("tg128", tg.test());
        assertEquals(0.9, tg.ratio(), 1e-12);
        assertEquals(100.0, tg.llamaGflops(), 1e-9); // 6.4e11 FLOP in 6.4 s
        assertEquals(1.0, pp.javaOverNative(), 1e-12);
        assertEquals(0.9, tg.javaOverNative(), 1e-12);

        String md = LlamaBenchReport.markdown(Map.of("cpu", "test cpu"), rows);
        assertTrue(md.contains("| bloom-560m | f16 | 1.04 GiB | 2 | pp512 | 100.00 ± 2.00 | 125.00 ± 1.00 | **1.25** "
                + "| 125.00 ± 1.50 | 1.000 |") && md.contains("| 0.10 → 1.90 | 0.02 / 0.05 / 0.01 |"), md);
        assertTrue(md.contains("- cpu: test cpu"), md);
    }

    @Test
    void withoutTheHarnessItsColumnsAreEmpty() throws Exception {
        List<LlamaBenchReport.Row> rows = LlamaBenchReport.rows(RUN, MAPPER.readTree(LLAMA), MAPPER.readTree(BLOOM),
                null);
        assertTrue(Double.isNaN(rows.get(0).nativeTs()));
        String md = LlamaBenchReport.markdown(Map.of(), rows);
        assertTrue(md.contains("| **1.25** | – | – |"), md);
    }

    @Test
    void aMissingCounterpartIsAnError() throws Exception {
        JsonNode llamaPpOnly = MAPPER.readTree("[" + MAPPER.readTree(LLAMA).get(0) + "]");
        var e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchReport.rows(RUN, llamaPpOnly, MAPPER.readTree(BLOOM), null));
        assertTrue(e.getMessage().contains("llama.json has no test with n_prompt 0 and n_gen 128"), e.getMessage());
    }

    @Test
    void differentThreadCountsAreAnError() throws Exception {
        JsonNode bloom = MAPPER.readTree(BLOOM.replace("\"n_threads\": 2", "\"n_threads\": 1"));
        var e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchReport.rows(RUN, MAPPER.readTree(LLAMA), bloom, null));
        assertTrue(e.getMessage().contains("thread counts differ"), e.getMessage());
    }

    @Test
    void runsLinesAreChecked() {
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaBenchReport.Run.parse("a\tb\tc", 3));
        assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("11 tab-separated"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchReport.Run.parse("m\tf16\ttwo\t0\t0\t0\t0\t0\ta\tb\t", 1));
        assertTrue(e.getMessage().contains("threads 'two'"), e.getMessage());
    }

    /** llama-bench's stdev: sqrt((Σx² − n·mean²)/(n−1)), the sample standard deviation. */
    @Test
    void statisticsAreLlamaBenchs() {
        double[] ts = {10, 12, 14};
        assertEquals(12.0, LlamaBenchCompatible.mean(ts), 1e-12);
        assertEquals(2.0, LlamaBenchCompatible.stdev(ts), 1e-12);
        assertEquals(0.0, LlamaBenchCompatible.stdev(new double[] {5}), 0);
        var r = new LlamaBenchCompatible.TestResult("pp512", 512, 0, new long[] {1_000_000_000L, 2_000_000_000L}, 1e9);
        assertEquals((512 + 256) / 2.0, r.averageTokensPerSecond(), 1e-9);
        assertEquals((1.0 + 0.5) / 2, r.averageGflops(), 1e-12);
    }

    @Test
    void badOptionsAreNamed() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchCompatible.Options.parse(new String[] {"-t", "2"}));
        assertTrue(e.getMessage().contains("--model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchCompatible.Options.parse(new String[] {"-m", "x.gguf", "-r", "0"}));
        assertTrue(e.getMessage().contains("-r"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchCompatible.Options.parse(new String[] {"-m", "x.gguf", "-p", "many"}));
        assertTrue(e.getMessage().contains("-p needs an integer"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaBenchCompatible.Options.parse(new String[] {"-m", "x.gguf", "--frobnicate"}));
        assertTrue(e.getMessage().contains("--frobnicate"), e.getMessage());
    }
}
