package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bloom logits}: the raw next-token scores for an input. */
@Command(
        name = "logits",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Evaluate tokens in one pass and print the raw logits (before softmax) as one JSON object: "
                    + "{\"ids\": [...], \"logits\": [...]} with the vocabulary-wide row of the last position, or "
                    + "with --all {\"ids\": [...], \"logits\": [[...], ...]}, one row per input position.",
            "Each float is printed as the shortest decimal that reads back as the same 32-bit float.",
            ""},
        footer = {"", "Examples:",
            "  bloom logits --model ~/models/bloom-560m --text \"Hello world\"",
            "  bloom logits --model ~/models/bloom-560m --ids 1,2,3 --all"})
final class LogitsCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = true, multiplicity = "1")
    TokenInput input;

    @Option(names = "--all", description = "Print the logits of every input position, not only the last.")
    boolean all;

    @Mixin
    SessionOptions sessionOptions;

    @Override
    public Integer call() throws Exception {
        input.checkNotEmpty(spec);
        try (BloomModel model = modelOptions.load(main)) {
            int[] ids = input.tokens(model, spec);
            // Unless --ctx says otherwise the KV cache is sized to the input: nothing else will be evaluated.
            try (BloomSession session = model.newSession(sessionOptions.config(ids.length))) {
                session.evaluate(ids, all);
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("ids", ids);
                o.put("logits", all ? session.logitsAll() : session.logits());
                Json.print(main.out, o);
            }
        }
        return 0;
    }
}
