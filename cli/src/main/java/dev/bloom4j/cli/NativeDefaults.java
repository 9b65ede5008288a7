package dev.bloom4j.cli;

import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Supplies option defaults from the native library ({@code bloom_sampler_default_params()} and friends, through
 * {@link GenerationConfig#greedy()} and {@link SessionConfig#defaults()}), so {@code --help} shows the values
 * that really apply and the CLI never carries a copy of them.
 */
final class NativeDefaults implements IDefaultValueProvider {

    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option)) {
            return null;
        }
        GenerationConfig g;
        SessionConfig s;
        try {
            g = GenerationConfig.greedy();
            s = SessionConfig.defaults();
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
            // logits sizes its context to its input unless told otherwise
            case "--ctx" -> "logits".equals(option.command().name()) ? null : Integer.toString(s.contextSize());
            default -> null;
        };
    }
}
