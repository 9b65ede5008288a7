package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_generate_params;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_sampler_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * How {@link BloomSession#generate}, {@link BloomSession#stream} and {@link BatchSession} pick tokens and when they
 * stop. Immutable and
 * validated on construction: an invalid value throws an {@link IllegalArgumentException} naming the field.
 *
 * <p>Start from {@link #greedy()} (the native defaults: temperature 0, i.e. argmax) or {@link #sampling()}, then
 * adjust with the same-named "wither" methods, each of which returns a new validated config; or use
 * {@link #builder()}. Defaults come from the native {@code bloom_sampler_default_params()} and
 * {@code bloom_generate_default_params()}.
 * {@snippet :
 * var config = GenerationConfig.sampling()
 *         .temperature(0.7)
 *         .topP(0.9)
 *         .seed(42)
 *         .maxTokens(64)
 *         .stop("\n\n");
 * Completion c = session.generate("Once upon a time", config);
 * }
 *
 * <p>Penalties and filters are applied in Hugging Face's order: repetition penalty, presence and frequency
 * penalties, temperature, top-k, top-p, min-p, then a draw (argmax at temperature 0).
 *
 * @param maxTokens         most tokens to generate, the end-of-sequence token included; {@code >= 0}
 * @param temperature       softmax temperature; 0 means greedy (argmax); {@code >= 0}
 * @param topK              keep only the k most likely tokens; 0 turns it off; {@code >= 0}
 * @param topP              nucleus sampling: keep the smallest set of tokens whose probability reaches topP; in
 *                          (0, 1], 1 turns it off
 * @param minP              drop tokens less likely than minP times the most likely one; in [0, 1], 0 turns it off
 * @param repetitionPenalty Hugging Face's repetition penalty for seen tokens (divides positive logits, multiplies
 *                          negative ones); {@code > 0}, 1 turns it off
 * @param presencePenalty   subtracted once from the logit of every seen token; 0 turns it off
 * @param frequencyPenalty  subtracted from a seen token's logit once per occurrence; 0 turns it off
 * @param penaltyLastN      how many recent tokens (prompt included) count as seen; -1 means all, 0 none
 * @param seed              seed of the random draw; equal seeds and inputs give equal outputs
 * @param stop              strings that end generation when they appear in the output; the text returned stops
 *                          just before the first one; none may be empty
 * @param ignoreEos         keep generating past the model's end-of-sequence token
 * @param n                 how many samples {@link BatchSession#submitSamples(int[], GenerationConfig)} draws
 *                          from one prompt, in [1, 256]; sample {@code i} uses seed {@code seed + i}, so n samples
 *                          with a fixed seed are reproducible, and sample {@code i} equals a single generation with
 *                          seed {@code seed + i}. Generation of one completion ({@code generate}, {@code submit})
 *                          needs 1
 * @param logprobs          log-probabilities to report with each generated token, to a {@link TokenListener}'s
 *                          {@link TokenListener#onToken(int, String, TokenLogprobs)}: {@code -1} none (the
 *                          default), {@code 0} the token's own, {@code k} in [1, 100] also the k most likely
 *                          tokens at that step; under the model's distribution (log-softmax of the raw logits),
 *                          whatever the penalties and temperature. A {@link BatchSession} reports them; a
 *                          {@link BloomSession} refuses a config that asks for them
 */
public record GenerationConfig(
        int maxTokens,
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        int penaltyLastN,
        long seed,
        List<String> stop,
        boolean ignoreEos,
        int n,
        int logprobs) {

    /** Validates every field; the message names the offending one and the value given. */
    public GenerationConfig {
        if (maxTokens < 0) {
            throw invalid("maxTokens", "must be >= 0", maxTokens);
        }
        // !(x >= 0) rather than x < 0 so that NaN is rejected too.
        if (!(temperature >= 0) || !Float.isFinite((float) temperature)) {
            throw invalid("temperature", "must be a finite number >= 0 (0 = greedy)", temperature);
        }
        if (topK < 0) {
            throw invalid("topK", "must be >= 0 (0 = off)", topK);
        }
        if (!(topP > 0 && topP <= 1) || (float) topP == 0) {
            throw invalid("topP", "must be in (0, 1] (1 = off)", topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw invalid("minP", "must be in [0, 1] (0 = off)", minP);
        }
        if (!(repetitionPenalty > 0) || (float) repetitionPenalty == 0 || !Float.isFinite((float) repetitionPenalty)) {
            throw invalid("repetitionPenalty", "must be a finite number > 0 (1 = off)", repetitionPenalty);
        }
        if (!Float.isFinite((float) presencePenalty)) {
            throw invalid("presencePenalty", "must be a finite number (0 = off)", presencePenalty);
        }
        if (!Float.isFinite((float) frequencyPenalty)) {
            throw invalid("frequencyPenalty", "must be a finite number (0 = off)", frequencyPenalty);
        }
        if (penaltyLastN < -1) {
            throw invalid("penaltyLastN", "must be >= -1 (-1 = all tokens, 0 = none)", penaltyLastN);
        }
        Objects.requireNonNull(stop, "stop must not be null (use an empty list)");
        for (int i = 0; i < stop.size(); i++) {
            String s = stop.get(i);
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException(
                        "stop[" + i + "] must be a non-empty string, got " + (s == null ? "null" : "\"\""));
            }
        }
        stop = List.copyOf(stop);
        if (n < 1 || n > bloom_h.BLOOM_MAX_SEQ()) {
            throw invalid("n", "must be in [1, " + bloom_h.BLOOM_MAX_SEQ() + "]", n);
        }
        if (logprobs < -1 || logprobs > MAX_LOGPROBS) {
            throw invalid("logprobs", "must be in [-1, " + MAX_LOGPROBS + "] (-1 = none, 0 = the token's own)",
                    logprobs);
        }
    }

    /** The most alternatives {@link #logprobs()} may ask for ({@code BLOOM_MAX_LOGPROBS}). */
    public static final int MAX_LOGPROBS = 100;

    private static IllegalArgumentException invalid(String field, String rule, Object value) {
        return new IllegalArgumentException(field + " " + rule + ", got " + value);
    }

    /** Greedy decoding (always the most likely token) with the native defaults for everything else. */
    public static GenerationConfig greedy() {
        return Defaults.NATIVE;
    }

    /**
     * Random sampling with Hugging Face's {@code do_sample=True} defaults: temperature 1 and top-k 50 (top-p,
     * min-p and the penalties off); the seed is the native default, so set one for varied runs.
     */
    public static GenerationConfig sampling() {
        return Defaults.SAMPLING;
    }

    /** A builder starting from the native defaults (greedy). */
    public static Builder builder() {
        return new Builder(Defaults.NATIVE);
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** This config with another {@link #maxTokens()}. */
    public GenerationConfig maxTokens(int maxTokens) {
        return toBuilder().maxTokens(maxTokens).build();
    }

    /** This config with another {@link #temperature()}. */
    public GenerationConfig temperature(double temperature) {
        return toBuilder().temperature(temperature).build();
    }

    /** This config with another {@link #topK()}. */
    public GenerationConfig topK(int topK) {
        return toBuilder().topK(topK).build();
    }

    /** This config with another {@link #topP()}. */
    public GenerationConfig topP(double topP) {
        return toBuilder().topP(topP).build();
    }

    /** This config with another {@link #minP()}. */
    public GenerationConfig minP(double minP) {
        return toBuilder().minP(minP).build();
    }

    /** This config with another {@link #repetitionPenalty()}. */
    public GenerationConfig repetitionPenalty(double repetitionPenalty) {
        return toBuilder().repetitionPenalty(repetitionPenalty).build();
    }

    /** This config with another {@link #presencePenalty()}. */
    public GenerationConfig presencePenalty(double presencePenalty) {
        return toBuilder().presencePenalty(presencePenalty).build();
    }

    /** This config with another {@link #frequencyPenalty()}. */
    public GenerationConfig frequencyPenalty(double frequencyPenalty) {
        return toBuilder().frequencyPenalty(frequencyPenalty).build();
    }

    /** This config with another {@link #penaltyLastN()}. */
    public GenerationConfig penaltyLastN(int penaltyLastN) {
        return toBuilder().penaltyLastN(penaltyLastN).build();
    }

    /** This config with another {@link #seed()}. */
    public GenerationConfig seed(long seed) {
        return toBuilder().seed(seed).build();
    }

    /** This config with these stop strings (replacing any set before). */
    public GenerationConfig stop(String... stop) {
        return toBuilder().stop(stop).build();
    }

    /** This config with these stop strings (replacing any set before). */
    public GenerationConfig stop(List<String> stop) {
        return toBuilder().stop(stop).build();
    }

    /** This config with another {@link #ignoreEos()}. */
    public GenerationConfig ignoreEos(boolean ignoreEos) {
        return toBuilder().ignoreEos(ignoreEos).build();
    }

    /**
     * This config with another {@link #n()}: the number of samples
     * {@link BatchSession#submitSamples(String, GenerationConfig)} draws.
     * {@snippet :
     * var config = GenerationConfig.sampling().seed(42).maxTokens(64).n(8);   // samples use seeds 42 .. 49
     * }
     */
    public GenerationConfig n(int n) {
        return toBuilder().n(n).build();
    }

    /**
     * This config with another {@link #logprobs()}: {@code -1} none, {@code 0} each token's own log-probability,
     * {@code k} also the k most likely tokens at each step.
     * {@snippet :
     * batch.submit(ids, GenerationConfig.greedy().logprobs(3), new TokenListener() {
     *     public boolean onToken(int id, String text) { return true; }
     *     public boolean onToken(int id, String text, TokenLogprobs lp) {
     *         System.out.printf("%s %.3f %s%n", text, lp.logprob(), Arrays.toString(lp.topIds()));
     *         return true;
     *     }
     * });
     * }
     */
    public GenerationConfig logprobs(int logprobs) {
        return toBuilder().logprobs(logprobs).build();
    }

    /** The native generator's {@code n_logprobs}: how many alternatives it records (0 = nothing recorded). */
    int nativeLogprobs() {
        return logprobs < 0 ? 0 : Math.max(1, logprobs);
    }

    /** Fills a {@code bloom_sampler_params}, starting from the native defaults so new fields keep theirs. */
    MemorySegment samplerParams(Arena arena) {
        MemorySegment p = bloom_h.bloom_sampler_default_params(arena);
        bloom_sampler_params.seed(p, seed);
        bloom_sampler_params.temperature(p, (float) temperature);
        bloom_sampler_params.top_k(p, topK);
        bloom_sampler_params.top_p(p, (float) topP);
        bloom_sampler_params.min_p(p, (float) minP);
        bloom_sampler_params.repetition_penalty(p, (float) repetitionPenalty);
        bloom_sampler_params.presence_penalty(p, (float) presencePenalty);
        bloom_sampler_params.frequency_penalty(p, (float) frequencyPenalty);
        bloom_sampler_params.penalty_last_n(p, penaltyLastN);
        return p;
    }

    /** Builds {@link GenerationConfig}; every setter is optional and {@link #build()} validates. */
    public static final class Builder {
        private int maxTokens;
        private double temperature;
        private int topK;
        private double topP;
        private double minP;
        private double repetitionPenalty;
        private double presencePenalty;
        private double frequencyPenalty;
        private int penaltyLastN;
        private long seed;
        private List<String> stop;
        private boolean ignoreEos;
        private int n;
        private int logprobs;

        private Builder(GenerationConfig from) {
            maxTokens = from.maxTokens;
            temperature = from.temperature;
            topK = from.topK;
            topP = from.topP;
            minP = from.minP;
            repetitionPenalty = from.repetitionPenalty;
            presencePenalty = from.presencePenalty;
            frequencyPenalty = from.frequencyPenalty;
            penaltyLastN = from.penaltyLastN;
            seed = from.seed;
            stop = from.stop;
            ignoreEos = from.ignoreEos;
            n = from.n;
            logprobs = from.logprobs;
        }

        /** Most tokens to generate. */
        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return this;
        }

        /** Softmax temperature; 0 = greedy. */
        public Builder temperature(double temperature) {
            this.temperature = temperature;
            return this;
        }

        /** Keep the k most likely tokens; 0 = off. */
        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        /** Nucleus mass in (0, 1]; 1 = off. */
        public Builder topP(double topP) {
            this.topP = topP;
            return this;
        }

        /** Relative probability floor in [0, 1]; 0 = off. */
        public Builder minP(double minP) {
            this.minP = minP;
            return this;
        }

        /** Hugging Face repetition penalty, {@code > 0}; 1 = off. */
        public Builder repetitionPenalty(double repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            return this;
        }

        /** Subtracted once per seen token; 0 = off. */
        public Builder presencePenalty(double presencePenalty) {
            this.presencePenalty = presencePenalty;
            return this;
        }

        /** Subtracted per occurrence of a seen token; 0 = off. */
        public Builder frequencyPenalty(double frequencyPenalty) {
            this.frequencyPenalty = frequencyPenalty;
            return this;
        }

        /** How many recent tokens count as seen; -1 = all. */
        public Builder penaltyLastN(int penaltyLastN) {
            this.penaltyLastN = penaltyLastN;
            return this;
        }

        /** Seed of the random draw. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Stop strings, replacing any set before. */
        public Builder stop(List<String> stop) {
            // Copied (nulls allowed here) so the compact constructor reports a null entry with its index.
            this.stop = stop == null ? null : new ArrayList<>(stop);
            return this;
        }

        /** Stop strings, replacing any set before. */
        public Builder stop(String... stop) {
            return stop(stop == null ? null : Arrays.asList(stop));
        }

        /** Adds one stop string. */
        public Builder addStop(String stop) {
            List<String> all = new ArrayList<>(this.stop == null ? List.of() : this.stop);
            all.add(stop);
            this.stop = all;
            return this;
        }

        /** Keep going past the end-of-sequence token. */
        public Builder ignoreEos(boolean ignoreEos) {
            this.ignoreEos = ignoreEos;
            return this;
        }

        /** Samples drawn from one prompt by {@link BatchSession#submitSamples}; sample i uses seed + i. */
        public Builder n(int n) {
            this.n = n;
            return this;
        }

        /** Log-probabilities per token: -1 none, 0 the token's own, k also the top k. */
        public Builder logprobs(int logprobs) {
            this.logprobs = logprobs;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid field */
        public GenerationConfig build() {
            return new GenerationConfig(maxTokens, temperature, topK, topP, minP, repetitionPenalty,
                    presencePenalty, frequencyPenalty, penaltyLastN, seed, stop, ignoreEos, n, logprobs);
        }
    }

    /** The native defaults, read once (lazily, so merely naming the type loads no library). */
    private static final class Defaults {
        static final GenerationConfig NATIVE = readNative();
        static final GenerationConfig SAMPLING = NATIVE.toBuilder().temperature(1.0).topK(50).build();

        private static GenerationConfig readNative() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = bloom_h.bloom_sampler_default_params(arena);
                MemorySegment g = bloom_h.bloom_generate_default_params(arena);
                return new GenerationConfig(
                        bloom_generate_params.max_tokens(g),
                        bloom_sampler_params.temperature(s),
                        bloom_sampler_params.top_k(s),
                        bloom_sampler_params.top_p(s),
                        bloom_sampler_params.min_p(s),
                        bloom_sampler_params.repetition_penalty(s),
                        bloom_sampler_params.presence_penalty(s),
                        bloom_sampler_params.frequency_penalty(s),
                        bloom_sampler_params.penalty_last_n(s),
                        bloom_sampler_params.seed(s),
                        List.of(),
                        bloom_generate_params.ignore_eos(g),
                        1,
                        -1);
            }
        }
    }
}
