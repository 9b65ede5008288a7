package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code bloom tokenize}: text to token ids and their vocabulary spellings. */
@Command(
        name = "tokenize",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        defaultValueProvider = NativeDefaults.class,
        description = {
            "Tokenize text with the model's tokenizer, as Hugging Face's tokenizer does (no BOS/EOS added), and "
                    + "print one JSON object: {\"ids\": [...], \"tokens\": [...]}. \"tokens\" are the vocabulary "
                    + "spellings as convert_ids_to_tokens gives them (a leading space shows as \"Ġ\").",
            "The text comes from --text, or else all of stdin (verbatim, a trailing newline included).",
            ""},
        footer = {"", "Example:", "  bloom tokenize --model ~/models/bloom-560m --text \"Hello world\""})
final class TokenizeCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--text", paramLabel = "TEXT", description = "The text to tokenize (default: stdin).")
    String text;

    @Option(names = "--no-parse-special",
            description = "Tokenize special tokens written in the text (e.g. </s>) as plain text instead of "
                    + "turning them into their ids.")
    boolean noParseSpecial;

    @Override
    public Integer call() throws IOException {
        String input = text != null ? text : new String(main.in.readAllBytes(), StandardCharsets.UTF_8);
        try (BloomModel model = modelOptions.load(main)) {
            int[] ids = model.tokenize(input, !noParseSpecial);
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("ids", ids);
            o.put("tokens", model.tokenStrings(ids));
            Json.print(main.out, o);
        }
        return 0;
    }
}
