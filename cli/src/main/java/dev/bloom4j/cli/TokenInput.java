package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * The input of the commands that evaluate a fixed token sequence ({@code logits}, {@code logprobs}): token ids or
 * text, exactly one of them. Used as {@code @ArgGroup(exclusive = true, multiplicity = "1")}.
 */
final class TokenInput {
    @Option(names = "--ids", paramLabel = "ID", split = ",", splitSynopsisLabel = ",", required = true,
            description = "Input token ids, comma-separated.")
    int[] ids;

    @Option(names = "--text", paramLabel = "TEXT", required = true,
            description = "Input text, tokenized first (special tokens such as </s> become their ids; no BOS is "
                    + "added).")
    String text;

    /** Rejects an empty input before a model is loaded. */
    void checkNotEmpty(CommandSpec spec) {
        if (ids != null && ids.length == 0 || text != null && text.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "the input is empty: give at least one token");
        }
    }

    /** The token ids: as given, or the text tokenized by {@code model}; never empty. */
    int[] tokens(BloomModel model, CommandSpec spec) {
        int[] out = ids != null ? ids : model.tokenize(text);
        if (out.length == 0) {
            throw new ParameterException(spec.commandLine(), "the input text has no tokens");
        }
        return out;
    }
}
