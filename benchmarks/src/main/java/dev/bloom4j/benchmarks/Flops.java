package dev.bloom4j.benchmarks;

import dev.bloom4j.ModelInfo;

/**
 * Floating-point operations of a BLOOM forward pass: the one place the benchmarks count them, so that every
 * GFLOP/s, TFLOP/s or MFU figure this project publishes rests on the same arithmetic.
 * {@snippet :
 * Flops.Shape shape = Flops.Shape.of(model.info());
 * long prefill = Flops.prefill(shape, 512);      // 512 prompt tokens, logits for the last one only
 * long decode = Flops.decode(shape, 128);        // one token after 128 cached ones
 * double gflops = prefill / seconds / 1e9;
 * }
 *
 * <h2>What is counted</h2>
 * A multiply-add is 2 FLOPs. With {@code L} layers, hidden size {@code E}, {@code V} vocabulary rows (the padded
 * embedding matrix, which BLOOM ties to {@code lm_head}):
 * <ul>
 *   <li><b>Weight matmuls</b>, per token: {@code 2·12·E²·L}. Each layer multiplies the token's hidden state by four
 *       weight matrices — {@code query_key_value} (E×3E), {@code dense} (E×E), {@code dense_h_to_4h} (E×4E) and
 *       {@code dense_4h_to_h} (4E×E), 12·E² parameters in all — and a matrix-vector product costs 2 FLOPs per
 *       matrix parameter.</li>
 *   <li><b>The last layer's MLP in a prefill</b> runs for the output position only: the runtime (like llama.cpp)
 *       drops the other rows after the last block's attention, since nothing reads them. So a prefill of {@code P}
 *       tokens does {@code (P − 1)·2·8·E²} FLOPs fewer than a stack of full layers, and is counted so: the
 *       figures count work done, as for attention below.</li>
 *   <li><b>lm_head</b>: {@code 2·V·E} per position whose logits are computed. A prefill computes logits for the last
 *       position only (what generation needs, and what llama.cpp's {@code llama-bench} does), a decode step for
 *       its one token.</li>
 *   <li><b>Attention</b>, per token per layer: {@code 2·E·k} for the scores {@code QKᵀ} plus {@code 2·E·k} for the
 *       weighted sum {@code A·V}, where {@code k} is the number of keys the token attends to (the cached tokens plus
 *       itself): over the heads, {@code n_head · head_dim = E}. So {@code 4·E·k·L} per token. A prefill of {@code P}
 *       tokens after {@code c} cached ones is causal: token {@code i} (1-based) sees {@code c + i} keys, in total
 *       {@code P·c + P(P+1)/2} — the average, not the full {@code P×P} square a masked implementation may compute,
 *       because the masked half is not useful work.</li>
 *   <li><b>Embedding lookup</b>: 0 (a row copy, no arithmetic).</li>
 * </ul>
 *
 * <h2>What is not counted</h2>
 * Everything elementwise is left out of the totals, as is customary for MFU (PaLM, appendix B): per token and layer,
 * the biases (9·E adds), two layer norms (~8·E each), the tanh GELU over 4·E values (~8 each), two residual adds
 * (2·E), and per attended key and head the 1/√d scaling, the ALiBi bias add and the softmax (~7). Plus the embedding
 * and final layer norms once per token. {@link #elementwisePerToken(Shape, long)} estimates them so the claim can be
 * checked: for bloom-560m at 512 keys they are about 0.4 % of the matmul count, and they shrink relative to it as
 * {@code E} grows. Rounding and memory traffic are not FLOPs either.
 *
 * <p>All methods return exact {@code long} counts (bloom-176B prefilling 2048 tokens is ~7·10¹⁴, far from
 * overflow; {@link Math#multiplyExact} guards the rest) and reject negative sizes with a message naming them.
 */
public final class Flops {

    private Flops() {}

    /**
     * The dimensions FLOP counting needs.
     * {@snippet :
     * var shape = new Flops.Shape(24, 1024, 16, 250880);   // bloom-560m
     * var same = Flops.Shape.of(model.info());
     * }
     *
     * @param layerCount     transformer blocks ({@code n_layer})
     * @param embeddingSize  hidden size ({@code n_embd}, E)
     * @param headCount      attention heads; must divide {@code embeddingSize}
     * @param vocabularySize rows of the embedding matrix = columns of the logits (V)
     */
    public record Shape(int layerCount, int embeddingSize, int headCount, int vocabularySize) {

        /** bigscience/bloom-560m. */
        public static final Shape BLOOM_560M = new Shape(24, 1024, 16, 250880);
        /** bigscience/bloom-1b7. */
        public static final Shape BLOOM_1B7 = new Shape(24, 2048, 16, 250880);
        /** bigscience/bloom-7b1. */
        public static final Shape BLOOM_7B1 = new Shape(30, 4096, 32, 250880);

        /** Validates every field; the message names the offending one. */
        public Shape {
            positive("layerCount", layerCount);
            positive("embeddingSize", embeddingSize);
            positive("headCount", headCount);
            positive("vocabularySize", vocabularySize);
            if (embeddingSize % headCount != 0) {
                throw new IllegalArgumentException("embeddingSize " + embeddingSize + " is not a multiple of headCount "
                        + headCount);
            }
        }

        /** The shape of a loaded model. */
        public static Shape of(ModelInfo info) {
            return new Shape(info.layerCount(), info.embeddingSize(), info.headCount(), info.vocabularySize());
        }

        /** Parameters of the four weight matrices of all layers: {@code 12·E²·L}. */
        public long matrixParameterCount() {
            return Math.multiplyExact(12L * embeddingSize * embeddingSize, (long) layerCount);
        }

        /**
         * Every parameter of a BLOOM model with a tied {@code lm_head}, counted the way Hugging Face reports it:
         * the embedding matrix (V·E), its layer norm (2·E), per layer the four matrices, their biases (3E + E + 4E +
         * E) and two layer norms (2·2·E), and the final layer norm (2·E). Used to cross-check a shape against a
         * loaded model's {@link ModelInfo#parameterCount()}.
         */
        public long parameterCount() {
            long e = embeddingSize;
            long perLayer = 12 * e * e + 9 * e + 4 * e;
            return Math.addExact(Math.addExact((long) vocabularySize * e, 2 * e + 2 * e),
                    Math.multiplyExact(perLayer, (long) layerCount));
        }
    }

    /** FLOPs of the weight matmuls for one token: {@code 2·12·E²·L}. */
    public static long weightMatmulsPerToken(Shape shape) {
        return Math.multiplyExact(2L, shape.matrixParameterCount());
    }

    /** FLOPs of {@code lm_head} for one position whose logits are computed: {@code 2·V·E}. */
    public static long lmHeadPerPosition(Shape shape) {
        return 2L * shape.vocabularySize() * shape.embeddingSize();
    }

    /** FLOPs of {@code QKᵀ} and {@code A·V} over all layers per attended key: {@code 4·E·L}. */
    public static long attentionPerKey(Shape shape) {
        return 4L * shape.embeddingSize() * shape.layerCount();
    }

    /** FLOPs of one token through one layer's MLP ({@code dense_h_to_4h} and {@code dense_4h_to_h}): {@code 2·8·E²}. */
    public static long mlpPerTokenAndLayer(Shape shape) {
        return 16L * shape.embeddingSize() * shape.embeddingSize();
    }

    /**
     * FLOPs of evaluating {@code tokens} tokens after {@code cached} ones in one pass, logits for the last token
     * only: {@code tokens·2·12·E²·L − (tokens−1)·2·8·E² + 2·V·E + 4·E·L·(tokens·cached + tokens(tokens+1)/2)}
     * (the last layer's MLP runs for the last token only).
     *
     * @throws IllegalArgumentException {@code tokens < 1} or {@code cached < 0}
     */
    public static long prefill(Shape shape, int cached, int tokens) {
        positive("tokens", tokens);
        nonNegative("cached", cached);
        long keys = Math.addExact((long) tokens * cached, (long) tokens * (tokens + 1L) / 2);
        long matmuls = Math.subtractExact(Math.multiplyExact((long) tokens, weightMatmulsPerToken(shape)),
                Math.multiplyExact(tokens - 1L, mlpPerTokenAndLayer(shape)));
        return Math.addExact(Math.addExact(matmuls, lmHeadPerPosition(shape)),
                Math.multiplyExact(keys, attentionPerKey(shape)));
    }

    /** {@link #prefill(Shape, int, int)} into an empty cache: a prompt of {@code tokens} tokens. */
    public static long prefill(Shape shape, int tokens) {
        return prefill(shape, 0, tokens);
    }

    /**
     * FLOPs of one decode step at context {@code context}: one token evaluated after {@code context} cached ones, so
     * it attends to {@code context + 1} keys, with its logits. Equal to {@code prefill(shape, context, 1)}.
     *
     * @throws IllegalArgumentException {@code context < 0}
     */
    public static long decode(Shape shape, int context) {
        nonNegative("context", context);
        return prefill(shape, context, 1);
    }

    /**
     * An estimate of the elementwise operations one token costs when it attends to {@code keys} keys — the terms the
     * totals leave out (see the class comment): per layer biases 9·E, two layer norms 2·8·E, GELU 8·4·E, residuals
     * 2·E, and per key and head scaling, ALiBi and softmax 7; plus the embedding and final layer norms 2·8·E.
     * An estimate (exp and tanh are not single FLOPs on any hardware), for judging their size only.
     */
    public static long elementwisePerToken(Shape shape, long keys) {
        nonNegative("keys", keys);
        long e = shape.embeddingSize();
        long perLayer = 9 * e + 2 * 8 * e + 8 * 4 * e + 2 * e + Math.multiplyExact(7L * shape.headCount(), keys);
        return Math.addExact(Math.multiplyExact(perLayer, (long) shape.layerCount()), 2 * 8 * e);
    }

    private static void positive(String name, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be >= 1, got " + value);
        }
    }

    private static void nonNegative(String name, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + value);
        }
    }
}
