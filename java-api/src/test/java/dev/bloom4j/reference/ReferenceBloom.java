package dev.bloom4j.reference;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * An independent, deliberately naive float64 implementation of Hugging Face's {@code BloomForCausalLM} forward pass
 * (transformers {@code models/bloom/modeling_bloom.py}), used as the oracle that the native runtime's logits are
 * compared with.
 *
 * <p>It reads the checkpoint directory itself (config.json in either key spelling; single or sharded safetensors;
 * F32, F16 or BF16; names with or without {@code transformer.}; tied or explicit {@code lm_head.weight}) and then
 * follows the PyTorch code step by step, every intermediate in double precision, without caching or batching:
 *
 * <pre>
 * h = word_embeddings_layernorm(word_embeddings[ids])
 * for each block:
 *     ln1 = input_layernorm(h);            residual = post ? ln1 : h
 *     q, k, v = per-head slices of ln1·Wqkvᵀ + b   (view [seq, heads, 3, head_dim])
 *     score[i][j] = q_i·k_j / sqrt(head_dim) + slope_head · j   for j ≤ i  (causal)
 *     h = dense(softmax(score)·v) + residual
 *     ln2 = post_attention_layernorm(h);   residual = post ? ln2 : h
 *     h = dense_4h_to_h(gelu(dense_h_to_4h(ln2))) + residual
 * logits = ln_f(h) · lm_headᵀ
 * </pre>
 *
 * <p>The ALiBi term is HF's {@code slope · key_position} rather than {@code slope · (j - i)}; softmax is invariant
 * to the per-row constant {@code slope · i}, so both give the same probabilities and HF's form is kept to stay
 * line-for-line comparable.
 *
 * <pre>{@code
 * ReferenceBloom reference = ReferenceBloom.load(checkpointDirectory);
 * double[][] logits = reference.logits(new int[] {1, 17, 42});   // [3][vocabSize]
 * }</pre>
 *
 * <p>Immutable after loading; thread-safe.
 */
public final class ReferenceBloom {

    /** {@code sqrt(2/pi)} rounded as {@code bloom_gelu_forward} writes it. */
    static final double GELU_SQRT_2_OVER_PI = 0.79788456;

    private final CheckpointFiles.Config config;
    private final Map<String, CheckpointFiles.Tensor> parameters;
    private final boolean separateLmHead;
    private final double[] slopes;

    private ReferenceBloom(CheckpointFiles.Config config, Map<String, CheckpointFiles.Tensor> parameters) {
        this.config = config;
        this.parameters = parameters;
        this.separateLmHead = parameters.containsKey("lm_head.weight");
        this.slopes = alibiSlopes(config.headCount());
        validateShapes();
    }

    /**
     * Reads the checkpoint in {@code directory}.
     *
     * @throws IOException if a file is missing or malformed, or a tensor is missing or has the wrong shape; the
     *                     message names the file or tensor
     */
    public static ReferenceBloom load(Path directory) throws IOException {
        CheckpointFiles.Config config = CheckpointFiles.readConfig(directory);
        Map<String, CheckpointFiles.Tensor> tensors = CheckpointFiles.readTensors(directory);
        try {
            return new ReferenceBloom(config, tensors);
        } catch (IllegalArgumentException e) {
            throw new IOException(directory + ": " + e.getMessage(), e);
        }
    }

    /**
     * ALiBi head slopes exactly as HF's {@code build_alibi_tensor} defines them: for {@code p}, the largest power
     * of two not above {@code heads}, head {@code i < p} gets {@code (2^(-8/p))^(i+1)}; the remaining
     * {@code heads - p} heads take every other slope of the {@code 2p}-head sequence, {@code (2^(-4/p))^(2k+1)}.
     * Computed in double (HF computes in float32).
     */
    public static double[] alibiSlopes(int heads) {
        if (heads < 1) {
            throw new IllegalArgumentException("head count must be positive, got " + heads);
        }
        int closestPowerOfTwo = Integer.highestOneBit(heads);
        // base = 2^(-2^-(log2(p) - 3)) = 2^(-8/p). Raising 2 to the exact exponent -(8/p)*(i+1) (8/p is a power
        // of two, so the product is exact) keeps every slope correctly rounded; base^(i+1) would drift by ulps.
        double step = 8.0 / closestPowerOfTwo;
        double[] slopes = new double[heads];
        for (int i = 0; i < closestPowerOfTwo; i++) {
            slopes[i] = Math.pow(2, -step * (i + 1));
        }
        if (closestPowerOfTwo != heads) {
            // extra_base = 2^(-2^-(log2(2p) - 3)) = 2^(-4/p), raised to the odd powers 1, 3, 5, ...
            double extraStep = 4.0 / closestPowerOfTwo;
            int remaining = Math.min(closestPowerOfTwo, heads - closestPowerOfTwo);
            for (int k = 0; k < remaining; k++) {
                slopes[closestPowerOfTwo + k] = Math.pow(2, -extraStep * (2 * k + 1));
            }
        }
        return slopes;
    }

    /** {@code vocab_size}: columns of the logits. */
    public int vocabSize() {
        return config.vocabSize();
    }

    /** Hidden size. */
    public int hiddenSize() {
        return config.hiddenSize();
    }

    /** Number of blocks. */
    public int layerCount() {
        return config.layerCount();
    }

    /** Number of attention heads. */
    public int headCount() {
        return config.headCount();
    }

    /** {@code layer_norm_epsilon}. */
    public double layerNormEpsilon() {
        return config.layerNormEpsilon();
    }

    /** {@code apply_residual_connection_post_layernorm}. */
    public boolean applyResidualConnectionPostLayernorm() {
        return config.applyResidualConnectionPostLayernorm();
    }

    /** Whether the checkpoint has its own {@code lm_head.weight} (otherwise the embeddings are reused). */
    public boolean hasSeparateLmHead() {
        return separateLmHead;
    }

    /**
     * A copy of a parameter as read from the files (canonical name, without {@code transformer.}), widened to
     * double.
     *
     * @throws IllegalArgumentException naming the tensor if there is none
     */
    public double[] parameter(String canonicalName) {
        return tensor(canonicalName).values().clone();
    }

    /** A copy of a parameter's shape. */
    public int[] parameterShape(String canonicalName) {
        return tensor(canonicalName).shape().clone();
    }

    /** Logits for every position: {@code [ids.length][vocabSize]}; row {@code t} predicts token {@code t + 1}. */
    public double[][] logits(int[] ids) {
        double[][] hidden = finalHiddenStates(ids);
        double[] head = separateLmHead ? values("lm_head.weight") : values("word_embeddings.weight");
        // lm_head is a bias-free Linear(hidden, vocab): logits = hidden · Wᵀ.
        return linear(hidden, head, null, config.vocabSize(), config.hiddenSize());
    }

    /** Logits of the last position only. */
    public double[] lastLogits(int[] ids) {
        double[][] all = logits(ids);
        return all[all.length - 1];
    }

    /** The hidden states after {@code ln_f}, {@code [ids.length][hiddenSize]}: the input of {@code lm_head}. */
    public double[][] finalHiddenStates(int[] ids) {
        if (ids == null || ids.length == 0) {
            throw new IllegalArgumentException("token ids must not be empty");
        }
        int hiddenSize = config.hiddenSize();
        double[] embeddings = values("word_embeddings.weight");
        double[][] hidden = new double[ids.length][];
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t
                        + " is outside the vocabulary [0, " + config.vocabSize() + ")");
            }
            hidden[t] = Arrays.copyOfRange(embeddings, ids[t] * hiddenSize, (ids[t] + 1) * hiddenSize);
        }
        hidden = layerNorm(hidden, "word_embeddings_layernorm");
        for (int layer = 0; layer < config.layerCount(); layer++) {
            hidden = block(hidden, "h." + layer + ".");
        }
        return layerNorm(hidden, "ln_f");
    }

    private double[][] block(double[][] hidden, String prefix) {
        int sequence = hidden.length;
        int hiddenSize = config.hiddenSize();
        int heads = config.headCount();
        int headDim = hiddenSize / heads;
        boolean post = config.applyResidualConnectionPostLayernorm();

        double[][] attentionInput = layerNorm(hidden, prefix + "input_layernorm");
        double[][] residual = post ? attentionInput : hidden;

        // fused_qkv [seq, 3*hidden] viewed as [seq, heads, 3, head_dim]: head n's q, k, v are consecutive slices.
        double[][] fused = linear(attentionInput, values(prefix + "self_attention.query_key_value.weight"),
                values(prefix + "self_attention.query_key_value.bias"), 3 * hiddenSize, hiddenSize);
        double[][] context = new double[sequence][hiddenSize];
        double scale = 1.0 / Math.sqrt(headDim);
        for (int head = 0; head < heads; head++) {
            int q = head * 3 * headDim;
            int k = q + headDim;
            int v = k + headDim;
            for (int i = 0; i < sequence; i++) {
                // Causal: query i sees keys 0..i; masked keys get probability exactly zero.
                double[] scores = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) {
                        dot += fused[i][q + d] * fused[j][k + d];
                    }
                    scores[j] = dot * scale + slopes[head] * j;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j <= i; j++) {
                    double probability = scores[j] / sum;
                    for (int d = 0; d < headDim; d++) {
                        context[i][head * headDim + d] += probability * fused[j][v + d];
                    }
                }
            }
        }
        double[][] attention = linear(context, values(prefix + "self_attention.dense.weight"),
                values(prefix + "self_attention.dense.bias"), hiddenSize, hiddenSize);
        double[][] attentionOutput = add(attention, residual);

        double[][] mlpInput = layerNorm(attentionOutput, prefix + "post_attention_layernorm");
        residual = post ? mlpInput : attentionOutput;
        int inner = 4 * hiddenSize;
        double[][] up = linear(mlpInput, values(prefix + "mlp.dense_h_to_4h.weight"),
                values(prefix + "mlp.dense_h_to_4h.bias"), inner, hiddenSize);
        for (double[] row : up) {
            for (int c = 0; c < inner; c++) {
                row[c] = gelu(row[c]);
            }
        }
        double[][] down = linear(up, values(prefix + "mlp.dense_4h_to_h.weight"),
                values(prefix + "mlp.dense_4h_to_h.bias"), hiddenSize, inner);
        return add(down, residual);
    }

    /** BLOOM's tanh approximation of GELU, with HF's constants. */
    static double gelu(double x) {
        return x * 0.5 * (1.0 + Math.tanh(GELU_SQRT_2_OVER_PI * x * (1 + 0.044715 * x * x)));
    }

    /** torch.nn.LayerNorm over the last dimension: biased variance, epsilon inside the square root. */
    private double[][] layerNorm(double[][] input, String name) {
        double[] weight = values(name + ".weight");
        double[] bias = values(name + ".bias");
        double[][] out = new double[input.length][];
        for (int t = 0; t < input.length; t++) {
            double[] row = input[t];
            double mean = 0;
            for (double value : row) {
                mean += value;
            }
            mean /= row.length;
            double variance = 0;
            for (double value : row) {
                variance += (value - mean) * (value - mean);
            }
            variance /= row.length;
            double inverse = 1.0 / Math.sqrt(variance + config.layerNormEpsilon());
            out[t] = new double[row.length];
            for (int c = 0; c < row.length; c++) {
                out[t][c] = (row[c] - mean) * inverse * weight[c] + bias[c];
            }
        }
        return out;
    }

    /** torch.nn.Linear: {@code out = input · Wᵀ + b} with W stored row-major as {@code [outputs, inputs]}. */
    private static double[][] linear(double[][] input, double[] weight, double[] bias, int outputs, int inputs) {
        double[][] out = new double[input.length][outputs];
        for (int t = 0; t < input.length; t++) {
            for (int o = 0; o < outputs; o++) {
                double sum = bias == null ? 0 : bias[o];
                int rowStart = o * inputs;
                for (int i = 0; i < inputs; i++) {
                    sum += input[t][i] * weight[rowStart + i];
                }
                out[t][o] = sum;
            }
        }
        return out;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] out = new double[a.length][];
        for (int t = 0; t < a.length; t++) {
            out[t] = new double[a[t].length];
            for (int c = 0; c < a[t].length; c++) {
                out[t][c] = a[t][c] + b[t][c];
            }
        }
        return out;
    }

    private CheckpointFiles.Tensor tensor(String canonicalName) {
        CheckpointFiles.Tensor tensor = parameters.get(canonicalName);
        if (tensor == null) {
            throw new IllegalArgumentException("checkpoint has no tensor " + canonicalName);
        }
        return tensor;
    }

    private double[] values(String canonicalName) {
        return tensor(canonicalName).values();
    }

    private void validateShapes() {
        int vocab = config.vocabSize();
        int hidden = config.hiddenSize();
        expectShape("word_embeddings.weight", vocab, hidden);
        expectShape("word_embeddings_layernorm.weight", hidden);
        expectShape("word_embeddings_layernorm.bias", hidden);
        for (int layer = 0; layer < config.layerCount(); layer++) {
            String prefix = "h." + layer + ".";
            expectShape(prefix + "input_layernorm.weight", hidden);
            expectShape(prefix + "input_layernorm.bias", hidden);
            expectShape(prefix + "self_attention.query_key_value.weight", 3 * hidden, hidden);
            expectShape(prefix + "self_attention.query_key_value.bias", 3 * hidden);
            expectShape(prefix + "self_attention.dense.weight", hidden, hidden);
            expectShape(prefix + "self_attention.dense.bias", hidden);
            expectShape(prefix + "post_attention_layernorm.weight", hidden);
            expectShape(prefix + "post_attention_layernorm.bias", hidden);
            expectShape(prefix + "mlp.dense_h_to_4h.weight", 4 * hidden, hidden);
            expectShape(prefix + "mlp.dense_h_to_4h.bias", 4 * hidden);
            expectShape(prefix + "mlp.dense_4h_to_h.weight", hidden, 4 * hidden);
            expectShape(prefix + "mlp.dense_4h_to_h.bias", hidden);
        }
        expectShape("ln_f.weight", hidden);
        expectShape("ln_f.bias", hidden);
        if (separateLmHead) {
            expectShape("lm_head.weight", vocab, hidden);
        }
    }

    private void expectShape(String name, int... expected) {
        CheckpointFiles.Tensor tensor = parameters.get(name);
        if (tensor == null) {
            throw new IllegalArgumentException("missing tensor " + name);
        }
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(tensor.shape())
                    + ", expected " + Arrays.toString(expected));
        }
    }
}
