package dev.bloom4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.FlashAttention;
import dev.bloom4j.KvCacheType;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** Runs {@link Main} in-process and checks what it prints and returns. */
class MainTest {

    @TempDir
    static Path temp;

    static String model;

    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void checkpoint() throws Exception {
        model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(3).build()
                .writeTo(temp.resolve("tiny")).toString();
    }

    record Result(int status, String out, String err) {
        JsonNode json() throws Exception {
            return JSON.readTree(out);
        }
    }

    static Result runWithStdin(String stdin, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Result run(String... args) {
        return runWithStdin("", args);
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).intValue();
        }
        return out;
    }

    static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            // Parsed from the printed text as a float: exact only if the text is a faithful float repr.
            out[i] = Float.parseFloat(array.get(i).asText());
        }
        return out;
    }

    static List<String> names(JsonNode object) {
        List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void tokenizePrintsIdsAndVocabularySpellings() throws Exception {
        Result r = run("tokenize", "--model", model, "--text", "Hello world</s>");
        assertEquals(0, r.status(), r.err());
        JsonNode o = r.json();
        assertEquals(List.of("ids", "tokens"), names(o));
        try (BloomModel m = BloomModel.load(Path.of(model))) {
            int[] expected = m.tokenize("Hello world</s>");
            assertArrayEquals(expected, ints(o.get("ids")));
            assertEquals(m.tokenStrings(expected).size(), o.get("tokens").size());
            for (int i = 0; i < expected.length; i++) {
                assertEquals(m.tokenStrings(expected).get(i), o.get("tokens").get(i).asText());
            }
        }
        assertEquals(2, o.get("ids").get(o.get("ids").size() - 1).intValue(), "</s> parsed as special");

        Result plain = run("tokenize", "--model", model, "--text", "Hello world</s>", "--no-parse-special");
        assertFalse(plain.json().get("tokens").toString().contains("\"</s>\""), plain.out());

        Result stdin = runWithStdin("Hello world</s>", "tokenize", "--model", model);
        assertEquals(r.out(), stdin.out(), "stdin is the same as --text");
    }

    @Test
    void logitsPrintTheLastRowOrEveryRowWithRoundTrippingFloats() throws Exception {
        Result last = run("logits", "--model", model, "--ids", "5,6,7", "--threads", "1");
        assertEquals(0, last.status(), last.err());
        JsonNode o = last.json();
        assertEquals(List.of("ids", "logits"), names(o));
        assertArrayEquals(new int[] {5, 6, 7}, ints(o.get("ids")));
        assertEquals(1024, o.get("logits").size());

        Result all = run("logits", "--model", model, "--ids", "5,6,7", "--all", "--threads", "1");
        assertEquals(0, all.status(), all.err());
        JsonNode rows = all.json().get("logits");
        assertEquals(3, rows.size());

        try (BloomModel m = BloomModel.load(Path.of(model));
             BloomSession s = m.newSession(SessionConfig.builder().contextSize(3).threads(1).build())) {
            s.evaluate(new int[] {5, 6, 7}, true);
            float[][] expected = s.logitsAll();
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(expected[i], floats(rows.get(i)), "row " + i + " exactly");
            }
            // Without --all only the last row is computed, through a differently shaped (so differently rounded)
            // output projection; compare it with the same evaluation through the API.
            s.clear();
            s.evaluate(new int[] {5, 6, 7}, false);
            float[] lastRow = s.logits();
            assertArrayEquals(lastRow, floats(o.get("logits")));
            // Shortest repr: the printed text is exactly Java's Float.toString of the value.
            assertEquals(Float.toString(lastRow[0]), o.get("logits").get(0).asText());
        }

        Result text = run("logits", "--model", model, "--text", "Hello");
        assertEquals(0, text.status(), text.err());
    }

    @Test
    void devicesListsTheCpuAfterTheGpusAndInfoSaysWhereTheModelRuns() throws Exception {
        Result r = run("devices", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode devices = r.json().get("devices");
        assertTrue(devices.size() >= 1, r.out());
        // The CPU comes after the GPUs; only RPC servers' devices (added by another test in this JVM) follow it.
        int cpuAt = -1;
        for (int i = 0; i < devices.size(); i++) {
            if (devices.get(i).get("type").asText().equals("cpu")) {
                cpuAt = i;
            }
        }
        assertTrue(cpuAt >= 0, r.out());
        for (int i = cpuAt + 1; i < devices.size(); i++) {
            assertTrue(devices.get(i).get("name").asText().startsWith("RPC"), r.out());
        }
        JsonNode cpu = devices.get(cpuAt);
        assertEquals(List.of("index", "name", "description", "type", "memory_free", "memory_total"), names(cpu));

        Result info = run("info", "--model", model, "--json", "--gpu-layers", "0");
        assertEquals(0, info.status(), info.err());
        assertEquals(0, info.json().get("gpu_layers").asInt());
        assertTrue(info.json().get("gpu_device").isNull(), info.out());

        Result bad = run("info", "--model", model, "--split-mode", "diagonal");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--split-mode"), bad.err());
    }

        @Test
    void kvCacheAndFlashAttentionOptionsReachTheSession() throws Exception {
        // The test model has f32 weights: AUTO keeps an f32 cache. An f16 cache rounds K and V, so its logits
        // differ from the f32 ones, and equal those of an API session configured the same way.
        Result f32 = run("logits", "--model", model, "--ids", "5,6,7,8", "--threads", "1", "--flash-attn", "off");
        Result f16 = run("logits", "--model", model, "--ids", "5,6,7,8", "--threads", "1", "--kv-cache", "f16",
                "--flash-attn", "ON");
        assertEquals(0, f32.status(), f32.err());
        assertEquals(0, f16.status(), f16.err());
        assertFalse(Arrays.equals(floats(f32.json().get("logits")), floats(f16.json().get("logits"))),
                "an f16 cache changes the logits' last bits");
        try (BloomModel m = BloomModel.load(Path.of(model));
             BloomSession s = m.newSession(SessionConfig.builder().contextSize(4).threads(1)
                     .kvCacheType(KvCacheType.F16).flashAttention(FlashAttention.ON).build())) {
            assertEquals(KvCacheType.F16, s.kvCacheType());
            assertEquals(FlashAttention.ON, s.flashAttention());
            s.evaluate(new int[] {5, 6, 7, 8}, false);
            assertArrayEquals(s.logits(), floats(f16.json().get("logits")));
        }

        Result bad = run("logits", "--model", model, "--ids", "5", "--kv-cache", "f8");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--kv-cache") && bad.err().contains("F16"), bad.err());
    }

    @Test
    void generateJsonHasExactlyTheDocumentedFields() throws Exception {
        Result r = run("generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "8",
                "--ignore-eos", "--json", "--threads", "1");
        assertEquals(0, r.status(), r.err());
        JsonNode o = r.json();
        assertEquals(List.of("text", "ids", "prompt_tokens", "generated_tokens", "finish_reason", "prefill_tps",
                "decode_tps"), names(o));
        assertEquals(8, o.get("generated_tokens").intValue());
        assertEquals(8, o.get("ids").size());
        assertEquals("length", o.get("finish_reason").asText());
        assertTrue(o.get("prompt_tokens").intValue() > 0);
        assertTrue(o.get("prefill_tps").isNumber() && o.get("decode_tps").isNumber());
        assertEquals(1, r.out().strip().lines().count(), "exactly one JSON line: " + r.out());
    }

    @Test
    void generateStreamsTheSameTextAndSummarisesOnStderr() throws Exception {
        String[] common = {"--model", model, "--max-tokens", "10", "--ignore-eos", "--threads", "1",
                "--temperature", "0.8", "--seed", "42", "--top-k", "40"};
        Result json = run(concat(new String[] {"generate", "--prompt", "Once upon a time", "--json"}, common));
        Result streamed = run(concat(new String[] {"generate", "--prompt", "Once upon a time"}, common));
        assertEquals(0, streamed.status(), streamed.err());
        assertEquals(json.json().get("text").asText(), streamed.out());
        assertTrue(streamed.err().strip().matches(
                "prompt tokens: \\d+, generated: 10, prefill: [0-9.]+ tok/s, decode: [0-9.]+ tok/s, finish: length"),
                streamed.err());

        Result fromStdin = runWithStdin("Once upon a time", concat(new String[] {"generate"}, common));
        assertEquals(streamed.out(), fromStdin.out());

        try (BloomModel m = BloomModel.load(Path.of(model))) {
            String ids = java.util.Arrays.stream(m.tokenize("Once upon a time"))
                    .mapToObj(Integer::toString).reduce((a, b) -> a + "," + b).orElseThrow();
            Result fromIds = run(concat(new String[] {"generate", "--prompt-ids", ids}, common));
            assertEquals(streamed.out(), fromIds.out());
        }
    }

    @Test
    void generateHonoursStopStrings() throws Exception {
        Result full = run("generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "30",
                "--ignore-eos", "--json");
        String text = full.json().get("text").asText();
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        Result stopped = run("generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "30",
                "--ignore-eos", "--json", "--stop", stop);
        assertEquals(text.substring(0, text.indexOf(stop)), stopped.json().get("text").asText());
        assertEquals("stop", stopped.json().get("finish_reason").asText());
    }

    @Test
    void withoutModelTheDemoCheckpointIsUsedAndAnnounced() throws Exception {
        String xdg = System.getenv("XDG_CACHE_HOME");
        org.junit.jupiter.api.Assumptions.assumeTrue(xdg == null || xdg.isEmpty(),
                "the demo cache location follows XDG_CACHE_HOME, which a test cannot redirect");
        String home = System.getProperty("user.home");
        System.setProperty("user.home", temp.resolve("home").toString());
        try {
            Result r = run("generate", "--prompt", "Hello", "--max-tokens", "3", "--json");
            assertEquals(0, r.status(), r.err());
            assertTrue(r.err().contains(ModelOptions.DEMO_NOTICE), r.err());
            assertTrue(r.json().has("text"));
        } finally {
            System.setProperty("user.home", home);
        }
    }

    @Test
    void infoDescribesModelAndLibrary() throws Exception {
        Result r = run("info", "--model", model, "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode o = r.json();
        assertEquals(1024, o.get("vocab_size").intValue());
        assertEquals(2, o.get("layers").intValue());
        assertEquals(64, o.get("embedding_size").intValue());
        assertEquals(4, o.get("heads").intValue());
        assertEquals("f32", o.get("weight_type").asText());
        assertTrue(o.get("parameters").longValue() > 0);
        assertTrue(o.get("library_version").asText().startsWith("0.1.0"));
        assertTrue(o.has("library_path") && o.has("library_variant"));

        Result text = run("info", "--model", model);
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().contains("weight_type") && text.out().contains("f32"), text.out());
    }

    @Test
    void runtimeErrorsPrintOneLineAndExitOne() {
        Result r = run("tokenize", "--model", temp.resolve("missing").toString(), "--text", "x");
        assertEquals(1, r.status());
        assertTrue(r.err().startsWith("error: "), r.err());
        assertTrue(r.err().contains("missing"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose: " + r.err());

        Result verbose = run("tokenize", "--model", temp.resolve("missing").toString(), "--text", "x", "--verbose");
        assertEquals(1, verbose.status());
        assertTrue(verbose.err().contains("\tat "), "stack trace with --verbose: " + verbose.err());

        Result badId = run("logits", "--model", model, "--ids", "1,99999");
        assertEquals(1, badId.status());
        assertTrue(badId.err().startsWith("error: ") && badId.err().contains("99999"), badId.err());

        Result tooLong = run("generate", "--model", model, "--prompt-ids", "1,2,3,4,5", "--ctx", "4");
        assertEquals(1, tooLong.status());
        assertTrue(tooLong.err().contains("5 tokens") && tooLong.err().contains("holds 4"), tooLong.err());
    }

    @Test
    void badUsageExitsTwo() {
        Result unknown = run("generate", "--model", model, "--bogus");
        assertEquals(2, unknown.status());
        assertTrue(unknown.err().contains("--bogus"), unknown.err());

        Result badValue = run("generate", "--model", model, "--prompt", "x", "--temperature", "-1");
        assertEquals(2, badValue.status());
        assertTrue(badValue.err().contains("temperature") && badValue.err().contains("--temperature"),
                badValue.err());

        Result both = run("generate", "--model", model, "--prompt", "x", "--prompt-ids", "1");
        assertEquals(2, both.status());

        Result noPrompt = runWithStdin("", "generate", "--model", model);
        assertEquals(2, noPrompt.status());
        assertTrue(noPrompt.err().contains("no prompt"), noPrompt.err());

        Result noInput = run("logits", "--model", model);
        assertEquals(2, noInput.status());
    }

    @Test
    void everyOptionOfEveryCommandIsDocumentedInHelp() {
        CommandLine root = new CommandLine(new Main(System.in, System.out, System.err));
        Set<String> checked = new TreeSet<>();
        for (CommandLine command : root.getSubcommands().values()) {
            if (command.getCommandName().equals("help")) {
                continue;
            }
            Result help = run(command.getCommandName(), "--help");
            assertEquals(0, help.status(), command.getCommandName());
            for (OptionSpec option : command.getCommandSpec().options()) {
                String description = String.join(" ", option.description());
                assertFalse(description.isBlank(), command.getCommandName() + " " + option.longestName());
                assertTrue(help.out().contains(option.longestName()),
                        command.getCommandName() + " --help lacks " + option.longestName());
                checked.add(command.getCommandName() + " " + option.longestName());
            }
        }
        assertTrue(checked.contains("generate --penalty-last-n") && checked.contains("logits --all"), checked.toString());
        // Defaults shown in help come from the native library.
        Result generateHelp = run("generate", "--help");
        assertTrue(generateHelp.out().contains("Default: 128"), generateHelp.out());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
