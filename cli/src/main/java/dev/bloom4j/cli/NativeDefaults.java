package dev.bloom4j.cli;

import dev.bloom4j.ConvertOptions;
import dev.bloom4j.FlashAttention;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.PerplexityConfig;
import dev.bloom4j.SessionConfig;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Supplies option defaults from the native library ({@code bloom_sampler_default_params()} and friends, through
 * {@link GenerationConfig#greedy()}, {@link SessionConfig#defaults()} and {@link LoadOptions#defaults()}), so
 * {@code --help} shows the values
 * that really apply and the CLI never carries a copy of them.
 */
final class NativeDefaults implements IDefaultValueProvider {

    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option)) {
            return null;
        }
        String command = option.command() == null ? "" : option.command().name();
        if (command.equals("convert")) {
            return convertDefault(option.longestName());
        }
        if (command.equals("perplexity") && option.longestName().equals("--ctx")) {
            // llama-perplexity's default window, so that equal commands give equal numbers
            return Integer.toString(PerplexityConfig.DEFAULT_CONTEXT_SIZE);
        }
        if (command.equals("serve") && option.longestName().equals("--flash-attn")) {
            // A server's pool has many cells: attention by sequence groups (see ServeCommand)
            return FlashAttention.ON.name();
        }
        GenerationConfig g;
        SessionConfig s;
        LoadOptions l;
        try {
            g = GenerationConfig.greedy();
            s = SessionConfig.defaults();
            l = LoadOptions.defaults();
        } catch (RuntimeException | LinkageError e) {
            // --help must work even when the library cannot load; the command itself will report that.
            return null;
        }
        return switch (option.longestName()) {
            case "--max-tokens" -> Integer.toString(g.maxTokens());
            case "--temperature" -> Double.toString(g.temperature());
            case "--top-k" -> Integer.toString(g.topK());
            case "--top-p" -> Double.toString(g.topP());
            case "--min-p" -> Double.toString(g.minP());
            case "--repetition-penalty" -> Double.toString(g.repetitionPenalty());
            case "--presence-penalty" -> Double.toString(g.presencePenalty());
            case "--frequency-penalty" -> Double.toString(g.frequencyPenalty());
            case "--penalty-last-n" -> Integer.toString(g.penaltyLastN());
            case "--seed" -> Long.toString(g.seed());
            case "--threads" -> Integer.toString(s.threads());
            case "--batch" -> Integer.toString(s.batchSize());
            case "--kv-cache" -> s.kvCacheType().name();
            case "--flash-attn" -> s.flashAttention().name();
            case "--gpu-layers" -> Integer.toString(l.gpuLayers());
            case "--main-gpu" -> Integer.toString(l.mainGpu());
            case "--split-mode" -> l.splitMode().name();
            // logits and logprobs size their context to their input unless told otherwise
            case "--ctx" -> command.equals("logits") || command.equals("logprobs") ? null
                    : Integer.toString(s.contextSize());
            default -> null;
        };
    }

    /** {@code bloom_convert_default_params()} through {@link ConvertOptions#defaults()}. */
    private static String convertDefault(String option) {
        ConvertOptions c;
        try {
            c = ConvertOptions.defaults();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
        return switch (option) {
            case "--type" -> c.fileType().nativeName();
            case "--threads" -> Integer.toString(c.threads());
            default -> null;
        };
    }
}
