package dev.bloom4j.llamacpp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomConverter;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.FileType;
import dev.bloom4j.Perplexity;
import dev.bloom4j.PerplexityConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.DataType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Perplexity of a fixed multilingual text ({@code perplexity-text.txt}, 13 languages and some code, ~1400 tokens
 * with the test tokenizer) by bloom4j against {@code llama-perplexity} on the same model: within 0.1%.
 *
 * <p>How llama.cpp's tool computes it, step by step (chunks of {@code -c} tokens, first half context, second half
 * scored, BOS handling; and the strided mode), is written down in {@link LlamaPerplexity}; bloom4j's perplexity
 * ({@link BloomSession#perplexity}) must follow it, in both modes. This test also checks that description: applied
 * to llama.cpp's own logits (through bloom-oracle) it must reproduce the tool's printed figure.
 *
 * <p>Tolerance. A relative change in perplexity equals the change in mean negative log-likelihood in nats, so 0.1%
 * allows 1e-3 nats per token on average. {@code llama-perplexity} runs with its defaults, which include an f16 KV
 * cache and ggml's f16-table GELU, and prints four decimals; both stay far inside that, while a wrong chunking, a
 * shifted target or a BOS in the wrong place would exceed it many times over. The model has an untied output head,
 * which gives a perplexity in the thousands (a tied random model is confidently wrong, perplexity ~1e12).
 */
@Tag("llamacpp")
class PerplexityAgainstLlamaCppTest {
    static final double BOUND = 1e-3;
    static final int[] CONTEXTS = {128, 200};

    @TempDir
    static Path dir;
    static LlamaCpp llama;
    static Path checkpoint;
    static Path textFile;
    static String text;

    @BeforeAll
    static void models() throws IOException {
        llama = LlamaCpp.fromSystemProperties(dir);
        checkpoint = OracleModels.checkpoint(dir.resolve("hf"), 17, DataType.F32, false);
        try (InputStream in = PerplexityAgainstLlamaCppTest.class.getResourceAsStream("perplexity-text.txt")) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        textFile = dir.resolve("perplexity-text.txt");
        Files.writeString(textFile, text, StandardCharsets.UTF_8);
    }

    /**
     * {@code checkDescription}: also apply {@link LlamaPerplexity}'s procedure to llama.cpp's own logits (one
     * bloom-oracle run per window, the slow part of this test) and require the tool's figure. Done on one
     * unquantized file per BOS setting: with quantized weights the logits depend on how a window is cut into
     * batches (the activations are rounded to 8-bit blocks before every product, so float-order noise becomes
     * whole rounding steps), and the oracle does not cut windows the way the tool does.
     */
    record Case(String name, Path bloomModel, Path llamaModel, boolean checkDescription) {}

    @TestFactory
    List<DynamicTest> perplexityMatchesLlamaCpp() {
        List<Case> cases = new ArrayList<>();
        if (OracleModels.ggufPyConfigured()) {
            cases.add(new Case("f32, checkpoint dir vs gguf-py GGUF", checkpoint,
                    OracleModels.ggufPy(checkpoint, dir.resolve("ggufpy-f32.gguf"), "f32"), true));
            // A file that asks for BOS: llama.cpp then puts BOS first and in place of each window's first token.
            Path bos = OracleModels.ggufPy(checkpoint, dir.resolve("ggufpy-f32-bos.gguf"), "f32", "--add-bos");
            cases.add(new Case("gguf-py f32 GGUF with add_bos_token = true in both", bos, bos, true));
        }
        Path converted = dir.resolve("bloom4j-f32.gguf");
        BloomConverter.convert(checkpoint, converted, FileType.F32);
        cases.add(new Case("bloom4j f32 GGUF in both", converted, converted, !OracleModels.ggufPyConfigured()));
        Path q4km = llama.quantize(converted, dir.resolve("llama-quantize-q4_k_m.gguf"), "q4_k_m");
        cases.add(new Case("llama-quantize q4_k_m GGUF in both", q4km, q4km, false));

        // The tool drops one trailing newline of the file (common/arg.cpp) before tokenizing.
        String scored = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases) {
            for (int ctx : CONTEXTS) {
                tests.add(DynamicTest.dynamicTest(c.name() + ", ctx " + ctx, () -> {
                    LlamaCpp.Info info = llama.info(c.llamaModel());
                    assertEquals(false, info.addEos(), "llama-perplexity rejects add_eos vocabularies");
                    double tool = llama.perplexity(c.llamaModel(), textFile, ctx, 2);

                    int[] text = llama.tokenize(c.llamaModel(), scored);
                    // The tool tokenizes with add_special: a BOS first when the vocabulary says add_bos.
                    int[] tokens = info.addBos() ? prepend(info.bos(), text) : text;
                    LlamaPerplexity.Result described = !c.checkDescription() ? null
                            : LlamaPerplexity.compute(tokens, ctx, info.addBos(), info.bos(),
                                    chunk -> llama.logits(c.llamaModel(), chunk, LlamaCpp.Mode.STOCK));

                    Perplexity ours;
                    LlamaPerplexity.Result describedOnOurLogits;
                    try (BloomModel bloom = BloomModel.load(c.bloomModel());
                         BloomSession session = bloom.newSession(
                                 SessionConfig.builder().contextSize(ctx).batchSize(64).threads(2).build())) {
                        assertArrayEquals(text, bloom.tokenize(scored, false),
                                "bloom4j and llama.cpp tokenize the text alike");
                        ours = session.perplexity(scored,
                                PerplexityConfig.builder().contextSize(ctx).addBos(info.addBos()).build());
                        describedOnOurLogits = LlamaPerplexity.compute(tokens, ctx, info.addBos(), info.bos(),
                                window -> evaluateAsScoringDoes(session, window));
                    }
                    double ourError = Math.abs(ours.value() / tool - 1);
                    double definitionError = Math.abs(ours.value() / describedOnOurLogits.perplexity() - 1);
                    String describedText = "";
                    if (described != null) {
                        double describedError = Math.abs(described.perplexity() / tool - 1);
                        describedText = String.format("; described procedure on llama.cpp's logits %.4f (%.2e "
                                + "relative)", described.perplexity(), describedError);
                        assertTrue(describedError <= BOUND, () -> "the documented procedure does not reproduce "
                                + "llama-perplexity: " + describedError);
                    }
                    System.out.printf("perplexity vs llama-perplexity [%s, ctx %d, %d chunks, %d scored tokens, "
                                    + "add_bos %b]: tool %.4f%s; BloomSession.perplexity %.4f (%.2e relative, bound "
                                    + "%.0e)%n", c.name(), ctx, ours.chunks(), ours.scoredTokens(), info.addBos(),
                            tool, describedText, ours.value(), ourError, BOUND);
                    assertEquals(describedOnOurLogits.chunks(), ours.chunks(), "windows");
                    assertEquals(describedOnOurLogits.targets(), ours.scoredTokens(), "scored tokens");
                    // Same logits, same definition: only the rounding of log-probabilities to float may differ.
                    assertTrue(definitionError <= 1e-6, () -> "BloomSession.perplexity " + ours.value()
                            + " differs from the documented procedure on bloom4j's own logits "
                            + describedOnOurLogits.perplexity());
                    assertTrue(ourError <= BOUND, () -> c.name() + ", ctx " + ctx + ": bloom4j's perplexity "
                            + ours.value() + " is " + ourError + " away from llama-perplexity's " + tool);
                }));
            }
        }
        return tests;
    }

    /**
     * The strided method ({@code llama-perplexity --ppl-stride S}, {@link PerplexityConfig#stride()}) on bloom4j's
     * f32 GGUF: bloom4j is given the window the tool chose for itself (for {@code -c 128 -b 128 --ppl-stride 64}:
     * 128 + 64/2 = 160, padded by llama.cpp to 256) and must reproduce its window count and, within 0.1%, its
     * result. The tool computes these probabilities in single precision.
     */
    @TestFactory
    List<DynamicTest> stridedPerplexityMatchesLlamaCpp() {
        Path converted = dir.resolve("strided-bloom4j-f32.gguf");
        BloomConverter.convert(checkpoint, converted, FileType.F32);
        String scored = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        List<DynamicTest> tests = new ArrayList<>();
        for (int stride : new int[] {64, 100}) {
            tests.add(DynamicTest.dynamicTest("ctx 128, stride " + stride, () -> {
                LlamaCpp.StridedPerplexity tool = llama.stridedPerplexity(converted, textFile, 128, stride, 2);
                Perplexity ours;
                try (BloomModel bloom = BloomModel.load(converted);
                     BloomSession session = bloom.newSession(SessionConfig.builder().contextSize(tool.window())
                             .batchSize(128).threads(2).build())) {
                    ours = session.perplexity(scored,
                            PerplexityConfig.builder().contextSize(tool.window()).stride(stride).build());
                }
                double error = Math.abs(ours.value() / tool.value() - 1);
                System.out.printf("strided perplexity vs llama-perplexity [bloom4j f32 GGUF, -c 128 --ppl-stride %d: "
                                + "window %d, %d windows]: tool %.4f; BloomSession.perplexity %.4f (%.2e relative, "
                                + "bound %.0e)%n", stride, tool.window(), tool.chunks(), tool.value(), ours.value(),
                        error, BOUND);
                assertEquals(tool.chunks(), ours.chunks(), "windows");
                assertTrue(error <= BOUND, () -> "strided perplexity " + ours.value() + " is " + error
                        + " away from llama-perplexity's " + tool.value());
            }));
        }
        return tests;
    }

    /**
     * The logits of a window's positions {@code n/2 .. n-2} (the scored ones; the other rows are null), decoded in the
     * same pieces as {@link BloomSession#perplexity} decodes them (the context half, then the scored positions), so
     * that quantized models, whose logits depend on how a window is cut into batches, see the same arithmetic.
     */
    static float[][] evaluateAsScoringDoes(BloomSession session, int[] window) {
        int n = window.length;
        int first = n / 2;
        session.clear();
        session.evaluate(Arrays.copyOfRange(window, 0, first), false);
        session.evaluate(Arrays.copyOfRange(window, first, n - 1), true);
        float[][] rows = new float[n][];
        System.arraycopy(session.logitsAll(), 0, rows, first, n - 1 - first);
        return rows;
    }

    static int[] prepend(int first, int[] rest) {
        int[] out = new int[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }
}
