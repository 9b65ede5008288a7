package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Perplexity;
import dev.bloom4j.PerplexityConfig;
import dev.bloom4j.SessionConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bloom perplexity}: perplexity of a text file, computed as llama.cpp's llama-perplexity computes it. */
@Command(
        name = "perplexity",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Compute the perplexity of a text the way llama.cpp's llama-perplexity does, and print its running "
                    + "estimate after each window ([1]x,[2]y,...) and then \"Final estimate: PPL = x +/- e\".",
            "The text (tokenized without parsing special tokens, as llama.cpp does) is cut into windows of --ctx "
                    + "tokens, each evaluated on its own. Standard method: disjoint windows; the first half of "
                    + "each is context only, and every later token is scored by -log p(token | the window's tokens "
                    + "before it). With --stride S: windows start every S tokens and each scores its last S tokens. "
                    + "PPL = exp(mean NLL over the scored tokens); e = PPL * sqrt((mean(NLL^2) - mean(NLL)^2) / (N-1)) "
                    + "with N scored tokens, llama.cpp's +/-. The text needs at least 2 x --ctx tokens.",
            "The text comes from --file, or else all of stdin; one trailing newline is dropped, as llama-perplexity "
                    + "-f does.",
            ""},
        footer = {"", "Examples:",
            "  bloom perplexity --model bloom-560m-q8_0.gguf --file wiki.test.raw",
            "  bloom perplexity --model ~/models/bloom-560m --file wiki.test.raw --ctx 768 --stride 256 --json",
            "",
            "llama.cpp's --ppl-stride sizes its window itself: llama-perplexity -c C -b C --ppl-stride S uses a",
            "window of C + S/2 rounded up to a multiple of 256 (e.g. -c 512 -b 512 --ppl-stride 256 is",
            "--ctx 768 --stride 256 here)."})
final class PerplexityCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE",
            description = "The text file (UTF-8). Default: stdin.")
    Path file;

    @Option(names = "--ctx", paramLabel = "TOKENS",
            description = "Tokens per window (llama-perplexity's -c); at least 3. Default: ${DEFAULT-VALUE}.")
    int contextSize;

    @Option(names = "--stride", paramLabel = "S",
            description = "0: the standard method (disjoint windows, each scoring its second half). Otherwise the "
                    + "strided method: a window every S tokens, each scoring its last S tokens; S in "
                    + "[1, --ctx - 1]. Default: 0.")
    int stride;

    @Option(names = "--chunks", paramLabel = "N",
            description = "Evaluate at most N windows (llama-perplexity's --chunks); 0 = all. Default: 0.")
    int maxChunks;

    @Option(names = "--bos",
            description = "Put the BOS token before the text and (standard method) in place of each window's first "
                    + "token, as llama.cpp does for vocabularies with add_bos set. llama.cpp leaves it off for "
                    + "BLOOM's tokenizer unless the GGUF file sets tokenizer.ggml.add_bos_token, so it is off here "
                    + "by default.")
    boolean addBos;

    @Option(names = "--batch", paramLabel = "TOKENS",
            description = "Most tokens evaluated in one pass; a window is evaluated in pieces of this size. The "
                    + "native side keeps logits for one piece at a time. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for evaluation; 0 = one per core. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--json",
            description = "Print no running estimates; print one JSON object instead: {\"perplexity\", "
                    + "\"standard_error\", \"mean_nll\", \"tokens\", \"chunks\", \"scored_tokens\", \"ctx\", "
                    + "\"stride\", \"bos\", \"running\": [...]}.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        PerplexityConfig config;
        SessionConfig sessionConfig;
        try {
            config = PerplexityConfig.builder().contextSize(contextSize).stride(stride).addBos(addBos)
                    .maxChunks(maxChunks).build();
            sessionConfig = SessionConfig.builder().contextSize(contextSize).batchSize(batchSize).threads(threads)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage());
        }
        String text = file != null ? Files.readString(file, StandardCharsets.UTF_8)
                : new String(main.in.readAllBytes(), StandardCharsets.UTF_8);
        if (text.endsWith("\n")) {
            text = text.substring(0, text.length() - 1);
        }
        if (text.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "no text: give --file FILE or text on stdin");
        }
        try (BloomModel model = modelOptions.load(main);
             BloomSession session = model.newSession(sessionConfig)) {
            int[] tokens = model.tokenize(text, false);
            int total = tokens.length + (addBos ? 1 : 0);
            int chunks = config.chunkCount(total);
            if (chunks > 0) {
                main.err.println(String.format(Locale.ROOT,
                        "perplexity: %d tokens, %d chunks of %d, scoring %d tokens of each (%s)", total, chunks,
                        contextSize, config.scoredTokensPerChunk(),
                        config.strided() ? "stride " + stride : "the second half"));
            }
            Perplexity p = session.perplexity(tokens, config, json ? null : (chunk, count, running) -> {
                main.out.print(String.format(Locale.ROOT, "[%d]%.4f,", chunk, running));
                main.out.flush();
            });
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("perplexity", p.value());
                o.put("standard_error", Double.isNaN(p.standardError()) ? null : p.standardError());
                o.put("mean_nll", p.meanNegativeLogLikelihood());
                o.put("tokens", p.tokenCount());
                o.put("chunks", p.chunks());
                o.put("scored_tokens", p.scoredTokens());
                o.put("ctx", contextSize);
                o.put("stride", stride);
                o.put("bos", addBos);
                o.put("running", p.runningEstimates());
                Json.print(main.out, o);
            } else {
                main.out.println();
                main.out.println(String.format(Locale.ROOT, "Final estimate: PPL = %.4f +/- %.5f", p.value(),
                        p.standardError()));
            }
        }
        return 0;
    }
}
