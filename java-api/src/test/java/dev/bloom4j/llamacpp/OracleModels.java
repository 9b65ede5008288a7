package dev.bloom4j.llamacpp;

import static org.junit.jupiter.api.Assertions.fail;

import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The tiny models the llama.cpp comparisons run on, written by the tests: a random BLOOM checkpoint in Hugging Face
 * format, and GGUF files made from it by independent writers.
 *
 * <p>Shape: vocabulary 1024 (the bundled 1000-token tokenizer plus unused padding rows, as real BLOOM pads its
 * vocabulary), hidden size 256, 4 heads, 2 layers. 256 is a multiple of every quantization block size (32 for
 * q4_0/q8_0, 256 for the K-quants), so every weight is quantized as in a real model instead of falling back to a
 * wider type; {@code seq_length} 512 becomes llama.cpp's training context.
 */
final class OracleModels {
    static final BloomConfig CONFIG = BloomConfig.of(1024, 256, 2, 4).withSequenceLength(512);
    static final Path HF_TO_GGUF = Path.of("..", "ci", "llama", "hf-to-gguf.py");

    private OracleModels() {}

    /**
     * A random checkpoint in {@code dir}, weights stored as {@code type}. With a tied head (BLOOM's own layout) a
     * random model's strongest logit is almost always the current token (its embedding dominates the residual
     * stream and is dotted with itself), so greedy decoding just repeats the last token; an untied head makes
     * continuations that exercise every position of the KV cache.
     */
    static Path checkpoint(Path dir, long seed, DataType type, boolean tiedHead) {
        try {
            return RandomCheckpoint.builder(CONFIG).seed(seed).dataType(type).tiedLmHead(tiedHead).build()
                    .writeTo(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether llama.cpp's gguf-py can be used: the source tree is configured ({@value LlamaCpp#SOURCE_PROPERTY}). */
    static boolean ggufPyConfigured() {
        return LlamaCpp.sourceTree() != null;
    }

    /**
     * Writes {@code checkpoint} as GGUF with llama.cpp's gguf-py ({@code ci/llama/hf-to-gguf.py}): a GGUF writer
     * bloom4j had no hand in. {@code type}: f32, f16, bf16, q8_0 or q4_0.
     */
    static Path ggufPy(Path checkpoint, Path out, String type, String... extra) {
        Path ggufPy = LlamaCpp.sourceTree().resolve("gguf-py");
        List<String> command = new ArrayList<>(List.of("python3", HF_TO_GGUF.toString(),
                checkpoint.toString(), out.toString(), "--type", type, "--gguf-py", ggufPy.toString()));
        command.addAll(List.of(extra));
        try {
            Path log = Files.createTempFile(out.getParent(), "hf-to-gguf", ".log");
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                    .start();
            if (!process.waitFor(300, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail(String.join(" ", command) + ": no answer in 300 s");
            }
            if (process.exitValue() != 0) {
                fail(String.join(" ", command) + " exited with " + process.exitValue() + " (python3 with numpy "
                        + "is needed for -D" + LlamaCpp.SOURCE_PROPERTY + "):\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /**
     * {@code max |actual - expected| / max |expected|} over every logit of every position: the error relative to
     * the logits' range, the measure the reference tests use.
     */
    static double relativeError(float[][] actual, float[][] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError(actual.length + " positions, expected " + expected.length);
        }
        double maxDiff = 0;
        double maxAbs = 0;
        for (int p = 0; p < expected.length; p++) {
            if (actual[p].length != expected[p].length) {
                throw new AssertionError("position " + p + ": " + actual[p].length + " logits, expected "
                        + expected[p].length);
            }
            for (int v = 0; v < expected[p].length; v++) {
                maxDiff = Math.max(maxDiff, Math.abs(actual[p][v] - expected[p][v]));
                maxAbs = Math.max(maxAbs, Math.abs(expected[p][v]));
            }
        }
        return maxDiff / maxAbs;
    }
}
