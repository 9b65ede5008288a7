package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.ints;
import static dev.bloom4j.cli.MainTest.names;
import static dev.bloom4j.cli.MainTest.run;
import static dev.bloom4j.cli.MainTest.runWithStdin;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Perplexity;
import dev.bloom4j.PerplexityConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bloom logprobs} and {@code bloom perplexity}: output shapes, and the numbers are the API's. */
class ScoringCommandsTest {

    @TempDir
    static Path temp;

    static String model;
    static Path textFile;
    static String text;

    @BeforeAll
    static void setUp() throws Exception {
        model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(5).build()
                .writeTo(temp.resolve("tiny")).toString();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 30; i++) {
            b.append("The quick brown fox jumps over the lazy dog, number ").append(i).append(".\n");
        }
        text = b.toString();
        textFile = Files.writeString(temp.resolve("text.txt"), text);
    }

    @Test
    void logprobsJsonHasIdsTokensAndLogprobsWithNullFirst() throws Exception {
        MainTest.Result r = run("logprobs", "--model", model, "--text", "Hello world, hello model", "--json",
                "--threads", "1");
        assertEquals(0, r.status(), r.err());
        JsonNode o = r.json();
        assertEquals(List.of("ids", "tokens", "logprobs"), names(o));
        int[] ids = ints(o.get("ids"));
        JsonNode lp = o.get("logprobs");
        assertEquals(ids.length, lp.size());
        assertEquals(ids.length, o.get("tokens").size());
        assertTrue(lp.get(0).isNull(), "nothing predicts the first token: " + lp);
        try (BloomModel m = BloomModel.load(Path.of(model));
             BloomSession s = m.newSession(SessionConfig.builder().contextSize(ids.length).threads(1).build())) {
            assertArrayEquals(m.tokenize("Hello world, hello model"), ids);
            float[] expected = s.logProbs(ids);
            for (int i = 1; i < ids.length; i++) {
                assertEquals(expected[i], Float.parseFloat(lp.get(i).asText()), "logprob " + i + " exactly");
            }
            assertEquals(m.tokenStrings(ids).get(1), o.get("tokens").get(1).asText());
        }

        MainTest.Result fromIds = run("logprobs", "--model", model, "--ids", join(ids), "--json", "--threads", "1");
        assertEquals(r.out(), fromIds.out(), "--ids gives what --text gives");
    }

    @Test
    void logprobsTableListsEveryTokenAndTheTotals() throws Exception {
        MainTest.Result r = run("logprobs", "--model", model, "--ids", "5,6,7,8", "--threads", "1");
        assertEquals(0, r.status(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(6, lines.size(), r.out());
        assertTrue(lines.get(0).matches("\\s*pos\\s+id\\s+logprob\\s+token"), lines.get(0));
        assertTrue(lines.get(1).matches("\\s*0\\s+5\\s+-\\s+\".*\""), lines.get(1));
        try (BloomModel m = BloomModel.load(Path.of(model));
             BloomSession s = m.newSession(SessionConfig.builder().contextSize(4).threads(1).build())) {
            var score = s.score(new int[] {5, 6, 7, 8});
            assertTrue(lines.get(2).contains(String.format(Locale.ROOT, "%.6f", score.logProbs()[1])), lines.get(2));
            assertEquals(String.format(Locale.ROOT,
                    "3 tokens scored: log-likelihood %.6f, mean NLL %.6f, perplexity %.4f", score.logLikelihood(),
                    score.meanNegativeLogLikelihood(), score.perplexity()), lines.get(5));
        }
        MainTest.Result tooLong = run("logprobs", "--model", model, "--ids", "1,2,3", "--ctx", "2");
        assertEquals(1, tooLong.status());
        assertTrue(tooLong.err().contains("3 tokens") && tooLong.err().contains("holds 2"), tooLong.err());
        assertEquals(2, run("logprobs", "--model", model).status(), "an input is required");
    }

    /** The perplexity the API computes for the file's text, with its trailing newline dropped as llama.cpp does. */
    static Perplexity apiPerplexity(PerplexityConfig config) {
        try (BloomModel m = BloomModel.load(Path.of(model));
             BloomSession s = m.newSession(SessionConfig.builder().contextSize(config.contextSize()).threads(1)
                     .build())) {
            return s.perplexity(text.substring(0, text.length() - 1), config);
        }
    }

    @Test
    void perplexityPrintsRunningEstimatesAndTheFinalLineLikeLlamaCpp() throws Exception {
        MainTest.Result r = run("perplexity", "--model", model, "--file", textFile.toString(), "--ctx", "32",
                "--threads", "1");
        assertEquals(0, r.status(), r.err());
        Perplexity p = apiPerplexity(PerplexityConfig.builder().contextSize(32).build());
        StringBuilder running = new StringBuilder();
        for (int k = 0; k < p.chunks(); k++) {
            running.append(String.format(Locale.ROOT, "[%d]%.4f,", k + 1, p.runningEstimates()[k]));
        }
        assertEquals(running + "\n" + String.format(Locale.ROOT, "Final estimate: PPL = %.4f +/- %.5f", p.value(),
                p.standardError()) + "\n", r.out());
        assertTrue(p.chunks() >= 2, "the text makes several windows: " + p.chunks());
        assertTrue(r.err().contains("perplexity: " + p.tokenCount() + " tokens, " + p.chunks() + " chunks of 32"),
                r.err());

        MainTest.Result stdin = runWithStdin(text, "perplexity", "--model", model, "--ctx", "32", "--threads", "1");
        assertEquals(r.out(), stdin.out(), "stdin is the same as --file");
    }

    @Test
    void perplexityJsonCarriesTheResult() throws Exception {
        MainTest.Result r = run("perplexity", "--model", model, "--file", textFile.toString(), "--ctx", "24",
                "--stride", "6", "--bos", "--json", "--threads", "1", "--batch", "5");
        assertEquals(0, r.status(), r.err());
        JsonNode o = r.json();
        assertEquals(List.of("perplexity", "standard_error", "mean_nll", "tokens", "chunks", "scored_tokens", "ctx",
                "stride", "bos", "running"), names(o));
        Perplexity p = apiPerplexity(PerplexityConfig.builder().contextSize(24).stride(6).addBos(true).build());
        // The CLI evaluated in pieces of 5, the API in pieces of its default batch: equal to float rounding.
        assertEquals(p.value(), o.get("perplexity").doubleValue(), 1e-5 * p.value());
        assertEquals(p.standardError(), o.get("standard_error").doubleValue(), 1e-4 * p.standardError());
        assertEquals(p.meanNegativeLogLikelihood(), o.get("mean_nll").doubleValue(), 1e-5);
        assertEquals(p.tokenCount(), o.get("tokens").intValue());
        assertEquals(p.chunks(), o.get("chunks").intValue());
        assertEquals(p.scoredTokens(), o.get("scored_tokens").intValue());
        assertEquals(6 * p.chunks(), p.scoredTokens());
        assertEquals(24, o.get("ctx").intValue());
        assertEquals(6, o.get("stride").intValue());
        assertTrue(o.get("bos").booleanValue());
        assertEquals(p.chunks(), o.get("running").size());
        assertEquals(1, r.out().strip().lines().count(), "exactly one JSON line");
    }

    @Test
    void perplexityErrors() {
        MainTest.Result tooShort = run("perplexity", "--model", model, "--file", textFile.toString(), "--ctx", "4096");
        assertEquals(1, tooShort.status());
        Matcher m = Pattern.compile("needs at least 8192").matcher(tooShort.err());
        assertTrue(m.find(), tooShort.err());

        MainTest.Result badStride = run("perplexity", "--model", model, "--file", textFile.toString(), "--ctx", "16",
                "--stride", "16");
        assertEquals(2, badStride.status());
        assertTrue(badStride.err().contains("stride"), badStride.err());

        MainTest.Result noText = runWithStdin("", "perplexity", "--model", model);
        assertEquals(2, noText.status());
        assertTrue(noText.err().contains("no text"), noText.err());

        MainTest.Result missing = run("perplexity", "--model", model, "--file", temp.resolve("absent.txt").toString());
        assertEquals(1, missing.status());
        assertTrue(missing.err().contains("absent.txt"), missing.err());

        MainTest.Result help = run("perplexity", "--help");
        assertTrue(help.out().contains("Default: 512"), "llama-perplexity's default window: " + help.out());
    }

    static String join(int[] ids) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            b.append(b.isEmpty() ? "" : ",").append(id);
        }
        return b.toString();
    }
}
