package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bloom convert}: it writes GGUF files the other commands run, and reports bad input clearly. */
class ConvertCommandTest {

    @TempDir
    static Path temp;

    static String model;

    @BeforeAll
    static void checkpoint() throws Exception {
        model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(8).build()
                .writeTo(temp.resolve("tiny")).toString();
    }

    @Test
    void convertWritesAGgufTheOtherCommandsRun() throws Exception {
        Path out = temp.resolve("tiny-q8_0.gguf");
        MainTest.Result r = run("convert", "--model", model, "--out", out.toString(), "--type", "Q8_0",
                "--threads", "1");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("wrote " + out + ": q8_0, "), r.out());
        MainTest.Result info = run("info", "--model", out.toString(), "--json");
        assertEquals(0, info.status(), info.err());
        assertEquals("q8_0", info.json().get("weight_type").asText());
        assertEquals(2, info.json().get("layers").intValue());

        MainTest.Result ids = run("tokenize", "--model", out.toString(), "--text", "Hello world");
        assertEquals(run("tokenize", "--model", model, "--text", "Hello world").out(), ids.out(),
                "the tokenizer travels in the GGUF");

        // The default type is the native default, f16.
        Path f16 = temp.resolve("tiny-default.gguf");
        MainTest.Result d = run("convert", "--model", model, "--out", f16.toString());
        assertEquals(0, d.status(), d.err());
        assertTrue(d.out().contains(": f16, "), d.out());
        assertTrue(run("convert", "--help").out().contains("Default: f16"));
    }

    @Test
    void convertErrors() {
        MainTest.Result badType = run("convert", "--model", model, "--out", temp.resolve("x.gguf").toString(),
                "--type", "q4_k_x");
        assertEquals(2, badType.status());
        assertTrue(badType.err().contains("q4_k_x") && badType.err().contains("q4_k_m")
                && badType.err().contains("q6_k"), "lists the valid names: " + badType.err());

        MainTest.Result noOut = run("convert", "--model", model);
        assertEquals(2, noOut.status());
        assertTrue(noOut.err().contains("--out"), noOut.err());

        MainTest.Result missing = run("convert", "--model", temp.resolve("nothing").toString(), "--out",
                temp.resolve("y.gguf").toString());
        assertEquals(1, missing.status());
        assertTrue(missing.err().startsWith("error: ") && missing.err().contains("nothing"), missing.err());
        assertFalse(Files.exists(temp.resolve("y.gguf")));
    }
}
