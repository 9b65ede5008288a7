package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.ints;
import static dev.bloom4j.cli.MainTest.names;
import static dev.bloom4j.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bloom generate --samples} and {@code bloom batched-bench}: many sequences in one batch session. */
class BatchCommandsTest {

    @TempDir
    static Path temp;

    static String model;

    @BeforeAll
    static void checkpoint() throws Exception {
        model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(11).build()
                .writeTo(temp.resolve("tiny")).toString();
    }

    private static final String[] SAMPLING = {"--max-tokens", "8", "--ignore-eos", "--threads", "1",
        "--temperature", "3", "--seed", "42"};

    private static String[] args(String[] head, String... tail) {
        List<String> all = new ArrayList<>(List.of(head));
        all.addAll(List.of(tail));
        return all.toArray(String[]::new);
    }

    @Test
    void samplesAreReproducibleAndTheFirstIsTheSingleRun() throws Exception {
        String[] command = args(new String[] {"generate", "--model", model, "--prompt", "Once upon a time",
            "--samples", "3", "--json"}, SAMPLING);
        MainTest.Result first = run(command);
        assertEquals(0, first.status(), first.err());
        assertEquals(1, first.out().strip().lines().count(), "one JSON line: " + first.out());
        JsonNode samples = first.json();
        assertTrue(samples.isArray(), first.out());
        assertEquals(3, samples.size());
        for (JsonNode s : samples) {
            assertEquals(List.of("text", "ids", "prompt_tokens", "generated_tokens", "finish_reason", "prefill_tps",
                    "decode_tps"), names(s));
            assertEquals(8, s.get("generated_tokens").intValue());
            assertEquals(8, s.get("ids").size());
            assertEquals("length", s.get("finish_reason").asText());
        }

        MainTest.Result second = run(command);
        assertEquals(0, second.status(), second.err());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(ints(samples.get(i).get("ids")), ints(second.json().get(i).get("ids")),
                    "sample " + (i + 1) + " with the same seed");
        }

        // Sample i draws with seed SEED+i-1: the first is the one-sequence run with --seed 42, the second the one
        // with --seed 43; and different seeds at temperature 3 over a random model give different ids.
        MainTest.Result single = run(args(new String[] {"generate", "--model", model, "--prompt",
            "Once upon a time", "--json"}, SAMPLING));
        assertArrayEquals(ints(single.json().get("ids")), ints(samples.get(0).get("ids")));
        List<String> seed43 = new ArrayList<>(List.of(SAMPLING));
        seed43.set(seed43.indexOf("42"), "43");
        MainTest.Result other = run(args(new String[] {"generate", "--model", model, "--prompt", "Once upon a time",
            "--json"}, seed43.toArray(String[]::new)));
        assertArrayEquals(ints(other.json().get("ids")), ints(samples.get(1).get("ids")));
        Set<String> distinct = new HashSet<>();
        for (JsonNode s : samples) {
            distinct.add(s.get("ids").toString());
        }
        assertEquals(3, distinct.size(), "three seeds, three samples: " + first.out());
    }

    @Test
    void samplesAsTextComeInOrderUnderHeaders() throws Exception {
        String[] common = args(new String[] {"generate", "--model", model, "--prompt", "Once upon a time",
            "--samples", "3"}, SAMPLING);
        MainTest.Result json = run(args(common, "--json"));
        MainTest.Result text = run(common);
        assertEquals(0, text.status(), text.err());
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            String sample = json.json().get(i).get("text").asText();
            expected.append("--- sample ").append(i + 1).append("/3 ---\n").append(sample);
            if (!sample.endsWith("\n")) {
                expected.append('\n');
            }
        }
        assertEquals(expected.toString(), text.out());
        List<String> summary = text.err().strip().lines().toList();
        assertEquals(4, summary.size(), text.err());
        for (int i = 0; i < 3; i++) {
            assertTrue(summary.get(i).matches("sample " + (i + 1) + "/3: prompt tokens: \\d+, generated: 8, "
                    + "prefill: [0-9.]+ tok/s, decode: [0-9.]+ tok/s, finish: length"), summary.get(i));
        }
        assertTrue(summary.get(3).startsWith("all samples: generated 24 tokens"), summary.get(3));
    }

    @Test
    void samplesMustBePositiveAndGreedySamplesAreFlagged() throws Exception {
        MainTest.Result zero = run("generate", "--model", model, "--prompt", "x", "--samples", "0");
        assertEquals(2, zero.status());
        assertTrue(zero.err().contains("--samples must be at least 1, got 0"), zero.err());
        MainTest.Result tooMany = run("generate", "--model", model, "--prompt", "x", "--samples", "100000");
        assertEquals(2, tooMany.status());
        assertTrue(tooMany.err().contains("100000") && tooMany.err().contains("(--samples)"), tooMany.err());

        MainTest.Result greedy = run("generate", "--model", model, "--prompt", "x", "--samples", "2",
                "--max-tokens", "4", "--ignore-eos", "--json", "--threads", "1");
        assertEquals(0, greedy.status(), greedy.err());
        assertTrue(greedy.err().contains("all 2 samples are the same"), greedy.err());
        assertEquals(greedy.json().get(0).get("ids"), greedy.json().get(1).get("ids"));
    }

    /** The table's data rows, split into their ten cells (as printed, trimmed). */
    private static List<String[]> tableRows(String out) {
        List<String[]> rows = new ArrayList<>();
        boolean header = false;
        for (String line : out.lines().toList()) {
            if (line.equals("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s "
                    + "|      T s |    S t/s |")) {
                header = true;
                continue;
            }
            if (!header || !line.startsWith("|") || line.startsWith("|-")) {
                continue;
            }
            String[] cells = line.substring(1, line.length() - 1).split("\\|");
            assertEquals(10, cells.length, line);
            for (int i = 0; i < cells.length; i++) {
                cells[i] = cells[i].strip();
            }
            rows.add(cells);
        }
        assertTrue(header, "no llama-batched-bench header in:\n" + out);
        return rows;
    }

    @Test
    void batchedBenchPrintsLlamasTableWithConsistentNumbers() throws Exception {
        Path json = temp.resolve("bench.json");
        MainTest.Result r = run("batched-bench", "--model", model, "-npp", "8,16", "-ntg", "4", "-npl", "1,3",
                "-t", "1", "--json", json.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("bloom_batched_bench: n_kv_max = 63, n_batch = 2048"), r.out());
        List<String[]> table = tableRows(r.out());
        JsonNode o = new ObjectMapper().readTree(json.toFile());
        assertEquals(63, o.get("n_kv_max").intValue(), "3*(16+4+1): the largest reservation");
        assertEquals(0, o.get("is_pp_shared").intValue());
        JsonNode rows = o.get("rows");
        assertEquals(4, table.size(), r.out());
        assertEquals(4, rows.size());
        int[][] expected = {{8, 4, 1}, {8, 4, 3}, {16, 4, 1}, {16, 4, 3}};
        String[] fields = {"t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed"};
        for (int i = 0; i < 4; i++) {
            String[] cells = table.get(i);
            JsonNode row = rows.get(i);
            int pp = expected[i][0];
            int tg = expected[i][1];
            int pl = expected[i][2];
            assertEquals(List.of(pp, tg, pl, pl * (pp + tg)), List.of(Integer.parseInt(cells[0]),
                    Integer.parseInt(cells[1]), Integer.parseInt(cells[2]), Integer.parseInt(cells[3])),
                    "PP, TG, B, N_KV = B*(PP+TG)");
            assertEquals(List.of(pp, tg, pl, pl * (pp + tg)), List.of(row.get("pp").intValue(),
                    row.get("tg").intValue(), row.get("pl").intValue(), row.get("n_kv").intValue()));
            // The table prints the JSON's figures with llama-batched-bench's precision (seconds %.3f, rates %.2f).
            for (int f = 0; f < fields.length; f++) {
                String format = fields[f].startsWith("t") ? "%.3f" : "%.2f";
                assertEquals(String.format(java.util.Locale.ROOT, format, row.get(fields[f]).doubleValue()),
                        cells[4 + f], fields[f] + " of row " + i);
            }
            // llama-batched-bench's definitions, exactly.
            double tPp = row.get("t_pp").doubleValue();
            double tTg = row.get("t_tg").doubleValue();
            assertTrue(tPp > 0 && tTg > 0, row.toString());
            assertEquals(tPp + tTg, row.get("t").doubleValue(), 1e-12, "T = T_PP + T_TG");
            assertEquals(pl * pp / tPp, row.get("speed_pp").doubleValue(), 1e-9, "S_PP = B*PP/T_PP");
            assertEquals(pl * tg / tTg, row.get("speed_tg").doubleValue(), 1e-9, "S_TG = B*TG/T_TG");
            assertEquals(pl * (pp + tg) / (tPp + tTg), row.get("speed").doubleValue(), 1e-9, "S = N_KV/T");
            // All B prompts in one step (B*PP <= -b), then TG decode steps.
            assertEquals(1 + tg, row.get("steps").intValue(), row.toString());
        }
    }

    @Test
    void batchedBenchSharesThePromptAndSkipsRowsThatDoNotFit() throws Exception {
        MainTest.Result r = run("batched-bench", "--model", model, "-c", "40", "-npp", "8", "-ntg", "4",
                "-npl", "2,4", "-pps", "-t", "1");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("is_pp_shared = 1"), r.out());
        List<String[]> rows = tableRows(r.out());
        assertEquals(2, rows.size(), r.out());
        assertEquals("16", rows.get(0)[3], "N_KV = PP + B*TG with a shared prompt: 8 + 2*4");
        assertEquals("24", rows.get(1)[3], "8 + 4*4");

        MainTest.Result skipped = run("batched-bench", "--model", model, "-c", "40", "-npp", "8", "-ntg", "4",
                "-npl", "2,4", "-t", "1");
        assertEquals(0, skipped.status(), skipped.err());
        assertEquals(1, tableRows(skipped.out()).size(), skipped.out());
        assertTrue(skipped.err().contains("skipping PP 8, TG 4, B 4: it needs 52 KV cells, the session has 40 (-c)"),
                skipped.err());

        // A cache smaller than the 16-token warm-up (2*(4+2+1) = 14 cells by default) still runs.
        MainTest.Result tiny = run("batched-bench", "--model", model, "-npp", "4", "-ntg", "2", "-npl", "2", "-t", "1");
        assertEquals(0, tiny.status(), tiny.err());
        assertEquals(1, tableRows(tiny.out()).size(), tiny.out());
    }

    @Test
    void batchedBenchRejectsBadListsAsUsageErrors() {
        MainTest.Result zero = run("batched-bench", "--model", model, "-npl", "1,0");
        assertEquals(2, zero.status());
        assertTrue(zero.err().contains("-npl values must be >= 1, got 0"), zero.err());

        MainTest.Result tooMany = run("batched-bench", "--model", model, "-npl", "1,100000");
        assertEquals(2, tooMany.status());
        assertTrue(tooMany.err().contains("maxSequences") && tooMany.err().contains("-npl"), tooMany.err());

        MainTest.Result notNumber = run("batched-bench", "--model", model, "-npp", "12x");
        assertEquals(2, notNumber.status());
        assertTrue(notNumber.err().contains("-npp"), notNumber.err());
        assertFalse(notNumber.err().contains("\tat "), notNumber.err());
    }
}
