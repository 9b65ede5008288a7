package dev.bloom4j.cli;

import dev.bloom4j.BatchSession;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code bloom generate}: continue a prompt, streaming the text to stdout; with {@code --samples K}, K samples of
 * the prompt generated together in one {@link BatchSession} (the prompt evaluated once and shared).
 */
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
            "--samples K generates K continuations of the prompt at once (OpenAI's n), the prompt evaluated once "
                    + "and shared; sample i (from 1) draws with seed SEED+i-1, so sample 1 is what a single run with "
                    + "the same --seed prints. They are printed when all are done, each after a line "
                    + "\"--- sample i/K ---\".",
            ""},
        footer = {"", "Examples:",
            "  bloom generate --model ~/models/bloom-560m --prompt \"The capital of France is\" --max-tokens 20",
            "  bloom generate -m DIR --prompt \"Q: what is 2+2? A:\" --stop \"Q:\" --temperature 0.7 --seed 1",
            "  bloom generate -m DIR --prompt \"def add(a, b):\" --samples 5 --temperature 0.8 --json",
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

    @Option(names = "--samples", paramLabel = "K",
            description = "Continuations of the prompt to generate, >= 1 (OpenAI's n; -n is --max-tokens, as in "
                    + "llama.cpp). K > 1 generates them together, sharing the prompt's KV cache; sample i (from 1) "
                    + "uses seed SEED+i-1. With greedy decoding all K are the same. Default: ${DEFAULT-VALUE}.")
    int samples = 1;

    @Mixin
    SessionOptions sessionOptions;

    @Option(names = "--json",
            description = "Print no streamed text; print one JSON object instead: {\"text\", \"ids\", "
                    + "\"prompt_tokens\", \"generated_tokens\", \"finish_reason\", \"prefill_tps\", "
                    + "\"decode_tps\"}; with --samples K > 1, a JSON array of K such objects, sample 1 first.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        if (samples < 1) {
            throw new ParameterException(spec.commandLine(), "--samples must be at least 1, got " + samples);
        }
        GenerationConfig config = generationConfig();
        String promptText = promptText(); // before loading, so a missing prompt fails fast
        try (BloomModel model = modelOptions.load(main)) {
            int[] promptIds = promptText == null ? prompt.ids : model.tokenize(promptText);
            if (samples > 1) {
                generateSamples(model, promptIds, config);
                return 0;
            }
            try (BloomSession session = model.newSession(sessionOptions.config(2048))) {
                Completion c;
                if (json) {
                    c = session.generate(promptIds, config, null);
                    Json.print(main.out, jsonObject(c));
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
                    main.err.println(summary(c));
                }
            }
        }
        return 0;
    }

    /**
     * K samples of one prompt in one batch session: the prompt is evaluated once and its cells shared by the K
     * sequences. Printed when all are done, in order, since K interleaved streams would be unreadable.
     */
    private void generateSamples(BloomModel model, int[] promptIds, GenerationConfig config) {
        if (config.temperature() == 0) {
            main.err.println("note: greedy decoding (--temperature 0): all " + samples + " samples are the same");
        }
        SessionConfig sessionConfig = sessionOptions.config(2048).toBuilder().maxSequences(samples).build();
        List<Completion> completions;
        BatchSession.Stats stats;
        try (BatchSession batch = model.newBatchSession(sessionConfig)) {
            completions = join(batch.submitSamples(promptIds, config));
            stats = batch.stats();
        }
        if (json) {
            List<Map<String, Object>> array = new ArrayList<>();
            for (Completion c : completions) {
                array.add(jsonObject(c));
            }
            Json.print(main.out, array);
            return;
        }
        for (int i = 0; i < completions.size(); i++) {
            String text = completions.get(i).text();
            main.out.println(sampleHeader(i + 1, completions.size()));
            main.out.print(text);
            if (!text.endsWith("\n")) {
                main.out.println(); // the next header starts a line of its own
            }
        }
        main.out.flush();
        for (int i = 0; i < completions.size(); i++) {
            main.err.println("sample " + (i + 1) + "/" + completions.size() + ": " + summary(completions.get(i)));
        }
        double seconds = (stats.prefillNanos() + stats.decodeNanos()) / 1e9;
        main.err.println(String.format(Locale.ROOT,
                "all samples: generated %d tokens in %d steps, %.2f s, %.1f tok/s",
                stats.generatedTokens(), stats.steps(), seconds,
                seconds > 0 ? stats.generatedTokens() / seconds : 0.0));
    }

    /** The line before each sample's text. */
    static String sampleHeader(int sample, int samples) {
        return "--- sample " + sample + "/" + samples + " ---";
    }

    /** The result of a batch request, unwrapping the failure the scheduler reported. */
    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** One completion as the --json object. */
    private static Map<String, Object> jsonObject(Completion c) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("text", c.text());
        o.put("ids", c.ids());
        o.put("prompt_tokens", c.promptTokens());
        o.put("generated_tokens", c.generatedTokens());
        o.put("finish_reason", c.finishReason().jsonName());
        o.put("prefill_tps", c.prefillTokensPerSecond());
        o.put("decode_tps", c.decodeTokensPerSecond());
        return o;
    }

    /** The stderr summary of one completion. */
    private static String summary(Completion c) {
        return String.format(Locale.ROOT,
                "prompt tokens: %d, generated: %d, prefill: %.1f tok/s, decode: %.1f tok/s, finish: %s",
                c.promptTokens(), c.generatedTokens(), c.prefillTokensPerSecond(), c.decodeTokensPerSecond(),
                c.finishReason().jsonName());
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
                    .n(samples)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage()
                    + " (" + optionName(e.getMessage()) + ")");
        }
    }

    /** The option that sets the GenerationConfig field a validation message starts with. */
    private static String optionName(String message) {
        String field = message == null ? "" : message.split("[ \\[]", 2)[0];
        if (field.equals("n")) {
            return "--samples";
        }
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
