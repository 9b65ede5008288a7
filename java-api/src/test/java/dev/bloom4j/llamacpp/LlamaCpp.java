package dev.bloom4j.llamacpp;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.bloom4j.FlashAttention;
import dev.bloom4j.KvCacheType;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.SessionConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * llama.cpp, built by {@code ci/llama/build.sh}, run as separate processes: our {@code bloom-oracle} program (its
 * public C API on a GGUF file) and llama.cpp's own {@code llama-quantize} and {@code llama-perplexity} tools.
 *
 * <p>The suite runs only when both system properties are set ({@code ./mvnw -B -pl java-api -am
 * -Dbloom4j.skipNative -Dgroups=llamacpp -Dbloom4j.llama.oracle=... -Dbloom4j.llama.bin=... -Dbloom4j.llama.src=...
 * test} after a build, as {@code .ci/run} does with what {@code ci/llama/build.sh} prints); otherwise every test is
 * skipped. A property that is set but points nowhere is a failure, not a skip: CI asked for the oracle.
 */
final class LlamaCpp {
    static final String ORACLE_PROPERTY = "bloom4j.llama.oracle";
    static final String BIN_PROPERTY = "bloom4j.llama.bin";
    /** Optional: the pinned llama.cpp source tree, whose gguf-py is the independent GGUF writer. */
    static final String SOURCE_PROPERTY = "bloom4j.llama.src";
    /** The batch size of the tests' bloom4j sessions, which {@link Mode#MATCHED} repeats in llama.cpp. */
    static final int MATCHED_BATCH = 32;

    /**
     * How llama.cpp computes. {@link #STOCK}: as shipped. Two of its CPU choices make it differ from bloom4j
     * (and from Hugging Face) in ways that have nothing to do with BLOOM: ggml's GELU rounds its input to f16 and
     * reads an f16 table (about 5e-4 relative error per activation, where bloom4j evaluates the tanh formula in
     * f32), and Q4_0/Q4_K weights are repacked at load time for kernels that sum in another order than ggml's plain
     * dot products. {@link #MATCHED} removes both through bloom-oracle's {@code --gelu f32} (every GELU node's
     * output recomputed through llama.cpp's graph-evaluation callback with the tanh formula in f32, rounded op by op
     * as bloom4j's graph rounds it) and {@code --no-repack}, and cuts a prompt into micro-batches of
     * {@link #MATCHED_BATCH} tokens as the tests' bloom4j sessions do (the same graphs), leaving llama.cpp's own
     * BLOOM graph, loader and kernels otherwise untouched: what remains is a comparison of the BLOOM implementations
     * themselves, down to the last bit where both use the same ggml kernels.
     */
    enum Mode {
        STOCK(List.of(), KvCacheType.F32, FlashAttention.OFF, true),
        MATCHED(List.of("--gelu", "f32", "--no-repack", "--batch", Integer.toString(LlamaCpp.MATCHED_BATCH)),
                KvCacheType.F32, FlashAttention.OFF, false),
        /**
         * {@link #MATCHED} on bloom4j's default fast path: f16 KV cache, flash attention and repacked weights on both
         * sides.
         */
        MATCHED_FLASH(List.of("--gelu", "f32", "--batch", Integer.toString(LlamaCpp.MATCHED_BATCH), "--kv", "f16",
                "--flash-attn"), KvCacheType.F16, FlashAttention.ON, true);

        final List<String> options;
        /** How llama.cpp keeps its cache, computes attention and lays out weights here; bloom4j does the same. */
        final KvCacheType kvCacheType;
        final FlashAttention flashAttention;
        final boolean repack;

        Mode(List<String> options, KvCacheType kvCacheType, FlashAttention flashAttention, boolean repack) {
            this.options = options;
            this.kvCacheType = kvCacheType;
            this.flashAttention = flashAttention;
            this.repack = repack;
        }

        /** A bloom4j session configuration with this mode's KV cache and attention. */
        SessionConfig.Builder session() {
            return SessionConfig.builder().kvCacheType(kvCacheType).flashAttention(flashAttention);
        }

        /** Loads a model for bloom4j's side of this mode (weights repacked or not). */
        BloomModel load(Path model) {
            return BloomModel.load(model, LoadOptions.builder().repack(repack).build());
        }
    }

    /** What llama.cpp reports about a GGUF file ({@code bloom-oracle MODEL info}). */
    record Info(int vocabSize, int contextTrain, int embeddingSize, int layerCount, int headCount, String preTokenizer,
                int bos, int eos, boolean addBos, boolean addEos) {}

    /**
     * llama.cpp's perplexity tool with its asynchronous log drained before exit (ci/llama/perplexity-flushed.cpp);
     * the stock llama-perplexity can lose its final line on a busy machine.
     */
    private static final String PERPLEXITY = "llama-perplexity-flushed";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 600;
    private static final Pattern FINAL_PPL = Pattern.compile("Final estimate: PPL = ([0-9.]+) \\+/- ([0-9.]+)");
    private static final Pattern STRIDED_WINDOW = Pattern.compile("Calculation chunk = ([0-9]+)");
    private static final Pattern RUNNING_PPL = Pattern.compile("\\[([0-9]+)\\]([0-9.]+),");

    /** What the strided mode of llama.cpp's perplexity tool reports: its window, its windows and the result. */
    record StridedPerplexity(int window, int chunks, double value) {}

    private final Path oracle;
    private final Path bin;
    private final Path scratch;

    private LlamaCpp(Path oracle, Path bin, Path scratch) {
        this.oracle = oracle;
        this.bin = bin;
        this.scratch = scratch;
    }

    /** The llama.cpp build named by the system properties; skips the calling test when they are not set. */
    static LlamaCpp fromSystemProperties(Path scratch) {
        String oracle = System.getProperty(ORACLE_PROPERTY, "");
        String bin = System.getProperty(BIN_PROPERTY, "");
        assumeTrue(!oracle.isBlank() && !bin.isBlank(),
                "llama.cpp oracle not configured: set -D" + ORACLE_PROPERTY + " and -D" + BIN_PROPERTY
                        + " (bash ci/llama/build.sh prints both)");
        LlamaCpp llama = new LlamaCpp(Path.of(oracle), Path.of(bin), scratch);
        for (Path program : List.of(llama.oracle, llama.tool("llama-quantize"), llama.tool(PERPLEXITY))) {
            if (!Files.isExecutable(program)) {
                fail(program + " is not an executable (from -D" + ORACLE_PROPERTY + " / -D" + BIN_PROPERTY + ")");
            }
        }
        return llama;
    }

    /** The pinned llama.cpp source tree if {@value #SOURCE_PROPERTY} names one, for its gguf-py. */
    static Path sourceTree() {
        String src = System.getProperty(SOURCE_PROPERTY, "");
        return src.isBlank() ? null : Path.of(src);
    }

    private Path tool(String name) {
        return bin.resolve(name);
    }

    Info info(Path gguf) {
        JsonNode j = oracle(gguf, "info", List.of());
        return new Info(j.get("n_vocab").asInt(), j.get("n_ctx_train").asInt(), j.get("n_embd").asInt(),
                j.get("n_layer").asInt(), j.get("n_head").asInt(), j.get("pre").asText(), j.get("bos").asInt(),
                j.get("eos").asInt(), j.get("add_bos").asBoolean(), j.get("add_eos").asBoolean());
    }

    /** llama_tokenize(add_special=false, parse_special=true). The text goes through a file: argv is not UTF-8-safe. */
    int[] tokenize(Path gguf, String text) {
        Path file = writeScratch("text", text);
        return ints(oracle(gguf, "tokenize", List.of("--text-file", file.toString())).get("ids"));
    }

    /** Logits at every position after {@code ids}, KV cache and attention as {@code mode} says. */
    float[][] logits(Path gguf, int[] ids, Mode mode) {
        List<String> options = new ArrayList<>(List.of("--ids", joined(ids)));
        options.addAll(mode.options);
        JsonNode answer = oracle(gguf, "logits", options);
        checkGelu(answer, mode, 1);
        JsonNode rows = answer.get("logits");
        float[][] logits = new float[rows.size()][];
        for (int p = 0; p < logits.length; p++) {
            JsonNode row = rows.get(p);
            logits[p] = new float[row.size()];
            for (int v = 0; v < logits[p].length; v++) {
                logits[p][v] = (float) row.get(v).asDouble();
            }
        }
        return logits;
    }

    /** {@code n} greedy (argmax, ties to the lowest id) continuation ids, never stopping at end-of-sequence. */
    int[] greedy(Path gguf, int[] prompt, int n, Mode mode) {
        List<String> options = new ArrayList<>(List.of("--ids", joined(prompt), "--n", Integer.toString(n)));
        options.addAll(mode.options);
        JsonNode answer = oracle(gguf, "greedy", options);
        checkGelu(answer, mode, n);
        return ints(answer.get("ids"));
    }

    /** In {@link Mode#MATCHED}, one GELU node per layer and decode call must have been rewritten. */
    private static void checkGelu(JsonNode answer, Mode mode, int decodeCalls) {
        if (mode.options.contains("--gelu")) {
            JsonNode replaced = answer.get("gelu_replaced");
            if (replaced == null || replaced.asInt() <= 0 || replaced.asInt() % decodeCalls != 0) {
                fail("bloom-oracle --gelu f32 rewrote " + replaced + " GELU nodes in " + decodeCalls
                        + " decode calls");
            }
        }
    }

    /** {@code llama-quantize IN OUT TYPE}; returns OUT. */
    Path quantize(Path in, Path out, String type) {
        run(List.of(tool("llama-quantize").toString(), in.toString(), out.toString(), type, "1"));
        return out;
    }

    /**
     * The final perplexity estimate llama.cpp's perplexity tool prints for {@code text} with context {@code ctx}, all
     * else at the tool's defaults (batch 2048, f16 KV cache).
     */
    double perplexity(Path gguf, Path text, int ctx, int threads) {
        String output = run(List.of(tool(PERPLEXITY).toString(), "-m", gguf.toString(), "-f", text.toString(),
                "-c", Integer.toString(ctx), "-t", Integer.toString(threads), "-tb", Integer.toString(threads),
                "-ngl", "0"));
        Matcher m = FINAL_PPL.matcher(output);
        if (!m.find()) {
            fail(PERPLEXITY + " printed no 'Final estimate: PPL = ...' line:\n" + tail(output));
        }
        return Double.parseDouble(m.group(1));
    }

    /**
     * The strided perplexity ({@code --ppl-stride}) of {@code text}, run with {@code -c ctx -b ctx} so that the
     * tool adds no parallel sequences; the tool sizes its window itself (see {@link LlamaPerplexity}) and prints no
     * final estimate, so the result is its last running figure and the window is read from its log.
     */
    StridedPerplexity stridedPerplexity(Path gguf, Path text, int ctx, int stride, int threads) {
        String output = run(List.of(tool(PERPLEXITY).toString(), "-m", gguf.toString(), "-f", text.toString(),
                "-c", Integer.toString(ctx), "-b", Integer.toString(ctx), "--ppl-stride", Integer.toString(stride),
                "-t", Integer.toString(threads), "-tb", Integer.toString(threads), "-ngl", "0"));
        Matcher window = STRIDED_WINDOW.matcher(output);
        if (!window.find()) {
            fail(PERPLEXITY + " printed no 'Calculation chunk = ...' line:\n" + tail(output));
        }
        Matcher running = RUNNING_PPL.matcher(output);
        int chunks = 0;
        double value = Double.NaN;
        while (running.find()) {
            chunks = Integer.parseInt(running.group(1));
            value = Double.parseDouble(running.group(2));
        }
        if (chunks == 0) {
            fail(PERPLEXITY + " printed no running perplexity '[1]...,':\n" + tail(output));
        }
        return new StridedPerplexity(Integer.parseInt(window.group(1)), chunks, value);
    }

    private JsonNode oracle(Path gguf, String command, List<String> options) {
        List<String> cmd = new ArrayList<>(List.of(oracle.toString(), gguf.toString(), command));
        cmd.addAll(options);
        cmd.addAll(List.of("--threads", "2"));
        String stdout = run(cmd);
        try {
            return JSON.readTree(stdout);
        } catch (IOException e) {
            throw new AssertionError("bloom-oracle printed no JSON for " + cmd + ":\n" + tail(stdout), e);
        }
    }

    /** Runs a command, returning its stdout+stderr when it exits 0 and failing the test with both otherwise. */
    private String run(List<String> command) {
        try {
            Path stdout = Files.createTempFile(scratch, "out", ".txt");
            Path stderr = Files.createTempFile(scratch, "err", ".txt");
            Process process = new ProcessBuilder(command).redirectOutput(stdout.toFile())
                    .redirectError(stderr.toFile()).start();
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail(String.join(" ", command) + ": no answer in " + TIMEOUT_SECONDS + " s");
            }
            String out = Files.readString(stdout, StandardCharsets.UTF_8);
            String err = Files.readString(stderr, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                fail(String.join(" ", command) + " exited with " + process.exitValue() + ":\n" + tail(err + out));
            }
            // The oracle's stdout is JSON alone; the tools print their results on either stream.
            return command.getFirst().equals(oracle.toString()) ? out : out + "\n" + err;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    private Path writeScratch(String prefix, String text) {
        try {
            Path file = Files.createTempFile(scratch, prefix, ".txt");
            Files.writeString(file, text, StandardCharsets.UTF_8);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String joined(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }

    private static int[] ints(JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = array.get(i).asInt();
        }
        return ids;
    }

    private static String tail(String text) {
        return text.length() <= 4000 ? text : "..." + text.substring(text.length() - 4000);
    }
}
