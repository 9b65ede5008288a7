package dev.bloom4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pairing and arithmetic of the llama-batched-bench comparison, on hand-made outputs of both tools. */
class BatchedBenchReportTest {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    // Two rows as llama-batched-bench --output-format jsonl prints them (its LOG format), log lines around them.
    private static final String LLAMA = """
            main: n_kv_max = 4096, n_batch = 2048
            {"n_kv_max": 4096, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, \
            "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 128, "tg": 64, "pl": 1, "n_kv": 192, \
            "t_pp": 0.640000, "speed_pp": 200.000000, "t_tg": 1.280000, "speed_tg": 50.000000, "t": 1.920000, \
            "speed": 100.000000}
            {"n_kv_max": 4096, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, \
            "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 128, "tg": 64, "pl": 16, "n_kv": 3072, \
            "t_pp": 10.240000, "speed_pp": 200.000000, "t_tg": 8.533333, "speed_tg": 120.000000, "t": 18.773333, \
            "speed": 163.636364}

            llama_perf_context_print: load time = 1.0 ms
            """;

    private static final String BLOOM = """
            {"model": "m.gguf", "n_kv_max": 3072, "n_batch": 2048, "flash_attn": "auto", "is_pp_shared": 0,
             "n_seq_max": 16, "n_gpu_layers": -1, "n_threads": 2, "rows": [
              {"pp": 128, "tg": 64, "pl": 1, "n_kv": 192, "t_pp": 0.64, "speed_pp": 200.0, "t_tg": 1.6,
               "speed_tg": 40.0, "t": 2.24, "speed": 85.7, "steps": 65},
              {"pp": 128, "tg": 64, "pl": 16, "n_kv": 3072, "t_pp": 10.24, "speed_pp": 200.0, "t_tg": 6.4,
               "speed_tg": 160.0, "t": 16.64, "speed": 184.6, "steps": 65}]}
            """;

    private static final BatchedBenchReport.Run RUN = new BatchedBenchReport.Run("bloom-560m", "q8_0", 2, "0.1",
            "1.9", "0.00", "0.01", Path.of("llama.jsonl"), Path.of("bloom.json"));

    @TempDir
    Path temp;

    private List<JsonNode> llama() throws Exception {
        Path file = Files.writeString(temp.resolve("llama.jsonl"), LLAMA);
        return BatchedBenchReport.jsonLines(MAPPER, file);
    }

    @Test
    void rowsPairTheSameTestAndComputeRatiosAndScaling() throws Exception {
        List<JsonNode> llama = llama();
        assertEquals(2, llama.size(), "the log lines are skipped");
        List<BatchedBenchReport.Row> rows = BatchedBenchReport.rows(RUN, llama, MAPPER.readTree(BLOOM));
        assertEquals(2, rows.size());
        BatchedBenchReport.Row one = rows.get(0);
        BatchedBenchReport.Row sixteen = rows.get(1);
        assertEquals(1, one.bloom().pl());
        assertEquals(40.0 / 50.0, one.ratio(), 1e-12);
        assertEquals(1.0, one.bloomVsOne(), 1e-12);
        assertEquals(160.0 / 120.0, sixteen.ratio(), 1e-12);
        assertEquals(160.0 / 40.0, sixteen.bloomVsOne(), 1e-12);
        assertEquals(120.0 / 50.0, sixteen.llamaVsOne(), 1e-12);
        assertEquals(1.0, sixteen.prefillRatio(), 1e-12);

        String md = BatchedBenchReport.markdown(Map.of("command", "x.sh --types q8_0"), rows);
        assertTrue(md.contains("- command: `x.sh --types q8_0`"), md);
        assertTrue(md.contains("| bloom-560m | q8_0 | 2 | 128 | 64 | 16 | 120.00 | 160.00 | **1.33** | 2.40× | 4.00× "
                + "| 200.00 | 200.00 | 1.00 | 0.1 → 1.9 | 0.00 / 0.01 |"), md);
    }

    @Test
    void aRowMissingOnLlamasSideIsNamed() throws Exception {
        JsonNode bloom = MAPPER.readTree(BLOOM.replace("\"pl\": 16", "\"pl\": 8"));
        var e = assertThrows(IllegalArgumentException.class, () -> BatchedBenchReport.rows(RUN, llama(), bloom));
        assertTrue(e.getMessage().contains("no row with PP 128, TG 64, B 8"), e.getMessage());
    }

    @Test
    void differentThreadsOrPromptSharingAreErrors() throws Exception {
        JsonNode threads = MAPPER.readTree(BLOOM.replace("\"n_threads\": 2", "\"n_threads\": 1"));
        var e = assertThrows(IllegalArgumentException.class, () -> BatchedBenchReport.rows(RUN, llama(), threads));
        assertTrue(e.getMessage().contains("thread counts differ"), e.getMessage());
        JsonNode shared = MAPPER.readTree(BLOOM.replace("\"is_pp_shared\": 0", "\"is_pp_shared\": 1"));
        e = assertThrows(IllegalArgumentException.class, () -> BatchedBenchReport.rows(RUN, llama(), shared));
        assertTrue(e.getMessage().contains("is_pp_shared differs"), e.getMessage());
    }

    @Test
    void runsLinesAreChecked() {
        var e = assertThrows(IllegalArgumentException.class, () -> BatchedBenchReport.Run.parse("a\tb", 4));
        assertTrue(e.getMessage().contains("line 4") && e.getMessage().contains("9 tab-separated"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> BatchedBenchReport.Run.parse("m\tq8_0\ttwo\t0\t0\t0\t0\ta\tb", 1));
        assertTrue(e.getMessage().contains("threads 'two'"), e.getMessage());
    }
}
