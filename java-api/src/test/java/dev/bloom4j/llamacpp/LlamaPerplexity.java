package dev.bloom4j.llamacpp;

import java.util.function.Function;

/**
 * Perplexity computed the way llama.cpp's {@code llama-perplexity} computes it (tools/perplexity/perplexity.cpp,
 * function {@code perplexity()}, at the pinned commit de3ff815), written down here so that bloom4j's
 * implementation can be checked against the tool and against this description:
 *
 * <ol>
 *   <li><b>Text.</b> {@code -f FILE} reads the whole file and drops <em>one</em> trailing {@code '\n'} if there is
 *       one (common/arg.cpp). No other normalization.</li>
 *   <li><b>Tokens.</b> The whole text is tokenized once with {@code add_special = true, parse_special = false}:
 *       a BOS is prepended only if the model's vocabulary says {@code add_bos} (GGUF key
 *       {@code tokenizer.ggml.add_bos_token}; when the key is absent llama.cpp's default for a BPE vocabulary with
 *       pre-tokenizer {@code bloom} is <em>false</em>, and BLOOM's tokenizer has no template that adds one, so for
 *       BLOOM files no BOS is added anywhere); special-token text such as {@code "</s>"} in the file is tokenized
 *       as plain text, not as the special token. An {@code add_eos} vocabulary is rejected (assert).</li>
 *   <li><b>Chunks.</b> With {@code n_ctx = -c} (default 512): fewer than {@code 2 * n_ctx} tokens is an error;
 *       otherwise {@code n_chunk = floor(n_tokens / n_ctx)} disjoint chunks, chunk {@code i} being tokens
 *       {@code [i * n_ctx, (i + 1) * n_ctx)}; the tail that does not fill a chunk is ignored ({@code --chunks N}
 *       caps the count).</li>
 *   <li><b>Evaluation.</b> Each chunk is evaluated from an empty KV cache, positions {@code 0 .. n_ctx - 1}. If
 *       {@code add_bos}, the chunk's first token is <em>replaced</em> (not preceded) by BOS for the evaluation; the
 *       scored targets are unaffected since position 0 is never a target. Several chunks may share one batch as
 *       separate sequences ({@code n_seq = n_batch / n_ctx}); that changes nothing but speed.</li>
 *   <li><b>Scoring.</b> Only the second half of each chunk is scored: with {@code first = n_ctx / 2} (integer
 *       division), the logits at positions {@code j = first .. n_ctx - 2} predict the tokens at {@code j + 1}, i.e.
 *       {@code n_ctx - 1 - first} targets per chunk, each with context of at least {@code first} tokens. The
 *       negative log-likelihood of a target is {@code log(sum exp(logit - max)) - (logit[target] - max)}, summed in
 *       double precision.</li>
 *   <li><b>Result.</b> {@code PPL = exp(total NLL / number of targets)} over all chunks, printed as
 *       {@code "Final estimate: PPL = %.4f +/- %.5f"} (the ± is the standard error of the mean NLL times PPL).</li>
 * </ol>
 *
 * <p>The strided variant ({@code --ppl-stride S > 0}, function {@code perplexity_v2}) differs: the window is the
 * context's actual size W, which is not {@code -c} but {@code -c * max(1, n_batch / -c) + S / 2} rounded up to a
 * multiple of 256 (the tool makes room for parallel sequences it does not use here, and llama.cpp pads contexts);
 * windows start every {@code S} tokens ({@code ceil((n_tokens - W) / S)} of them), only the last {@code S} tokens
 * of each window are scored (logits at {@code W - S - 1 .. W - 2}), and although the code sets each window's first
 * token to BOS it does so <em>after</em> evaluating it, so in effect no BOS is used. bloom4j's {@code --stride} need
 * not copy these accidents but should say what it does; the tests here check the default, non-strided mode.
 */
final class LlamaPerplexity {
    private LlamaPerplexity() {}

    /** Total NLL and target count, as the tool accumulates them. */
    record Result(double perplexity, double meanNll, int targets, int chunks) {}

    /**
     * Applies the procedure above to {@code tokens} (already tokenized as in step 2), getting each chunk's logits
     * (positions x vocabulary) from {@code evaluate}, which receives the chunk's tokens after the BOS substitution.
     */
    static Result compute(int[] tokens, int nCtx, boolean addBos, int bos, Function<int[], float[][]> evaluate) {
        if (tokens.length < 2 * nCtx) {
            throw new IllegalArgumentException(
                    "need at least " + 2 * nCtx + " tokens for a context of " + nCtx + ", have " + tokens.length);
        }
        int chunks = tokens.length / nCtx;
        int first = nCtx / 2;
        double nll = 0;
        int count = 0;
        for (int c = 0; c < chunks; c++) {
            int[] chunk = new int[nCtx];
            System.arraycopy(tokens, c * nCtx, chunk, 0, nCtx);
            if (addBos) {
                chunk[0] = bos;
            }
            float[][] logits = evaluate.apply(chunk);
            for (int j = first; j < nCtx - 1; j++) {
                int target = tokens[c * nCtx + j + 1];
                nll += negativeLogLikelihood(logits[j], target);
                count++;
            }
        }
        double mean = nll / count;
        return new Result(Math.exp(mean), mean, count, chunks);
    }

    static double negativeLogLikelihood(float[] logits, int target) {
        float max = logits[0];
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return Math.log(sum) - (logits[target] - max);
    }
}
