package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bloom generate}: continue a prompt, streaming the text to stdout. */
@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Continue a prompt. The text is written to stdout as it is generated; then one summary line goes to "
                    + "stderr: prompt tokens, generated tokens, prefill and decode speed, and why generation "
                    + "stopped (length, eos, stop, cancelled, context_full).",
            "The prompt comes from --prompt, --prompt-ids, or else all of stdin (verbatim, a trailing newline "
                    + "included).",
            "Defaults pick the most likely token each time (greedy). Any --temperature above 0 samples instead; "
                    + "the filters then apply in Hugging Face's order: repetition, presence and frequency penalties, "
                    + "temperature, top-k, top-p, min-p.",
            ""},
        footer = {"", "Examples:",
            "  bloom generate --model ~/models/bloom-560m --prompt \"The capital of France is\" --max-tokens 20",
            "  bloom generate -m DIR --prompt \"Q: what is 2+2? A:\" --stop \"Q:\" --temperature 0.7 --seed 1",
            "  echo \"Once upon a time\" | bloom generate -m DIR --json"})
final class GenerateCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    static final class PromptSource {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
                description = "The prompt text. Special tokens written in it (e.g. </s>) become their ids.")
        String text;

        @Option(names = "--prompt-ids", paramLabel = "ID", split = ",", splitSynopsisLabel = ",",
                description = "The prompt as token ids, comma-separated (see `bloom tokenize`).")
        int[] ids;
    }

    @ArgGroup(exclusive = true)
    PromptSource prompt;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N",
            description = "Most tokens to generate (the end-of-sequence token counts). Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = {"-t", "--temperature"}, paramLabel = "T",
            description = "Softmax temperature, >= 0; 0 = greedy (always the most likely token). "
                    + "Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K",
            description = "Sample only among the K most likely tokens; 0 = off. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P",
            description = "Nucleus sampling: keep the most likely tokens until their probability reaches P, "
                    + "in (0, 1]; 1 = off. Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--min-p", paramLabel = "P",
            description = "Drop tokens less likely than P times the most likely one, in [0, 1]; 0 = off. "
                    + "Default: ${DEFAULT-VALUE}.")
    double minP;

    @Option(names = "--repetition-penalty", paramLabel = "R",
            description = "Hugging Face's repetition penalty for tokens already seen (positive logits divided "
                    + "by R, negative ones multiplied), > 0; 1 = off. Default: ${DEFAULT-VALUE}.")
    double repetitionPenalty;

    @Option(names = "--presence-penalty", paramLabel = "X",
            description = "Subtracted once from the logit of every token already seen; 0 = off. "
                    + "Default: ${DEFAULT-VALUE}.")
    double presencePenalty;

    @Option(names = "--frequency-penalty", paramLabel = "X",
            description = "Subtracted from a seen token's logit once per occurrence; 0 = off. "
                    + "Default: ${DEFAULT-VALUE}.")
    double frequencyPenalty;

    @Option(names = "--penalty-last-n", paramLabel = "N",
            description = "How many recent tokens (prompt included) the penalties look at; -1 = all, 0 = none. "
                    + "Default: ${DEFAULT-VALUE}.")
    int penaltyLastN;

    @Option(names = {"-s", "--seed"}, paramLabel = "SEED",
            description = "Random seed for sampling; the same seed, prompt and options give the same text. "
                    + "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", paramLabel = "TEXT",
            description = "Stop when TEXT appears in the output; the output ends just before it. Repeatable; "
                    + "the earliest match wins.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos",
            description = "Keep generating past the model's end-of-sequence token.")
    boolean ignoreEos;

    @Mixin
    SessionOptions sessionOptions;

    @Option(names = "--json",
            description = "Print no streamed text; print one JSON object instead: {\"text\", \"ids\", "
                    + "\"prompt_tokens\", \"generated_tokens\", \"finish_reason\", \"prefill_tps\", \"decode_tps\"}.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        GenerationConfig config = generationConfig();
        String promptText = promptText(); // before loading, so a missing prompt fails fast
        try (BloomModel model = modelOptions.load(main)) {
            int[] promptIds = promptText == null ? prompt.ids : model.tokenize(promptText);
            try (BloomSession session = model.newSession(sessionOptions.config(2048))) {
                Completion c;
                if (json) {
                    c = session.generate(promptIds, config, null);
                    Map<String, Object> o = new LinkedHashMap<>();
                    o.put("text", c.text());
                    o.put("ids", c.ids());
                    o.put("prompt_tokens", c.promptTokens());
                    o.put("generated_tokens", c.generatedTokens());
                    o.put("finish_reason", c.finishReason().jsonName());
                    o.put("prefill_tps", c.prefillTokensPerSecond());
                    o.put("decode_tps", c.decodeTokensPerSecond());
                    Json.print(main.out, o);
                } else {
                    c = session.generate(promptIds, config, (id, text) -> {
                        if (!text.isEmpty()) {
                            main.out.print(text);
                            main.out.flush();
                        }
                        return true;
                    });
                    Console console = System.console();
                    if (console != null && console.isTerminal() && !c.text().isEmpty() && !c.text().endsWith("\n")) {
                        main.out.println(); // keep the summary off the generated line on a terminal
                    }
                    main.out.flush();
                    main.err.println(String.format(Locale.ROOT,
                            "prompt tokens: %d, generated: %d, prefill: %.1f tok/s, decode: %.1f tok/s, finish: %s",
                            c.promptTokens(), c.generatedTokens(), c.prefillTokensPerSecond(),
                            c.decodeTokensPerSecond(), c.finishReason().jsonName()));
                }
            }
        }
        return 0;
    }

    /** Builds the config, turning an invalid value into a usage error (exit 2) that names the option. */
    private GenerationConfig generationConfig() {
        try {
            return GenerationConfig.builder()
                    .maxTokens(maxTokens)
                    .temperature(temperature)
                    .topK(topK)
                    .topP(topP)
                    .minP(minP)
                    .repetitionPenalty(repetitionPenalty)
                    .presencePenalty(presencePenalty)
                    .frequencyPenalty(frequencyPenalty)
                    .penaltyLastN(penaltyLastN)
                    .seed(seed)
                    .stop(stop)
                    .ignoreEos(ignoreEos)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage()
                    + " (" + optionName(e.getMessage()) + ")");
        }
    }

    /** The option that sets the GenerationConfig field a validation message starts with. */
    private static String optionName(String message) {
        String field = message == null ? "" : message.split("[ \\[]", 2)[0];
        StringBuilder option = new StringBuilder("--");
        for (char ch : field.toCharArray()) {
            if (Character.isUpperCase(ch)) {
                option.append('-').append(Character.toLowerCase(ch));
            } else {
                option.append(ch);
            }
        }
        return option.toString();
    }

    /** The prompt text, or null when the prompt was given as ids. */
    private String promptText() throws IOException {
        if (prompt != null && prompt.ids != null) {
            if (prompt.ids.length == 0) {
                throw new ParameterException(spec.commandLine(), "--prompt-ids needs at least one id");
            }
            return null;
        }
        String text = prompt != null && prompt.text != null
                ? prompt.text
                : new String(main.in.readAllBytes(), StandardCharsets.UTF_8);
        if (text.isEmpty()) {
            throw new ParameterException(spec.commandLine(),
                    "no prompt: give --prompt TEXT, --prompt-ids ID,ID,... or text on stdin");
        }
        return text;
    }
}
