package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Score;
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
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bloom logprobs}: how likely the model finds each token of an input. */
@Command(
        name = "logprobs",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Evaluate an input in one pass and print each token's log-probability given the tokens before it: "
                    + "logprob[i] = log p(id[i] | id[0..i-1]), natural log, from a log-softmax over the whole "
                    + "vocabulary computed in double precision. The first token has no prediction.",
            "Text output: one line per token (position, id, logprob, vocabulary spelling), then the total "
                    + "log-likelihood, the mean negative log-likelihood (cross-entropy, nats per token) and the "
                    + "perplexity exp(mean NLL) over tokens 1..n-1, which is what Hugging Face's "
                    + "model(ids, labels=ids).loss gives.",
            "With --json: {\"ids\": [...], \"tokens\": [...], \"logprobs\": [null, ...]}.",
            ""},
        footer = {"", "Examples:",
            "  bloom logprobs --model ~/models/bloom-560m --text \"The capital of France is Paris.\"",
            "  bloom logprobs --model bloom-560m-q8_0.gguf --ids 2175,23714,15 --json"})
final class LogprobsCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = true, multiplicity = "1")
    TokenInput input;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Mixin
    SessionOptions sessionOptions;

    @Override
    public Integer call() throws Exception {
        input.checkNotEmpty(spec);
        try (BloomModel model = modelOptions.load(main)) {
            int[] ids = input.tokens(model, spec);
            // Unless --ctx says otherwise the KV cache is sized to the input: nothing else will be evaluated.
            try (BloomSession session = model.newSession(sessionOptions.config(ids.length))) {
                float[] logProbs = session.logProbs(ids);
                List<String> tokens = model.tokenStrings(ids);
                if (json) {
                    List<Float> values = new ArrayList<>(ids.length);
                    for (int i = 0; i < ids.length; i++) {
                        values.add(i == 0 ? null : logProbs[i]); // JSON has no NaN: nothing predicts token 0
                    }
                    Map<String, Object> o = new LinkedHashMap<>();
                    o.put("ids", ids);
                    o.put("tokens", tokens);
                    o.put("logprobs", values);
                    Json.print(main.out, o);
                } else {
                    printTable(ids, tokens, logProbs);
                }
            }
        }
        return 0;
    }

    private void printTable(int[] ids, List<String> tokens, float[] logProbs) {
        main.out.println(String.format(Locale.ROOT, "%6s %8s %12s  %s", "pos", "id", "logprob", "token"));
        for (int i = 0; i < ids.length; i++) {
            String value = i == 0 ? "-" : String.format(Locale.ROOT, "%.6f", logProbs[i]);
            main.out.println(String.format(Locale.ROOT, "%6d %8d %12s  %s", i, ids[i], value,
                    Json.quote(tokens.get(i))));
        }
        if (ids.length >= 2) {
            Score score = new Score(ids, logProbs);
            main.out.println(String.format(Locale.ROOT,
                    "%d tokens scored: log-likelihood %.6f, mean NLL %.6f, perplexity %.4f",
                    score.scoredTokens(), score.logLikelihood(), score.meanNegativeLogLikelihood(),
                    score.perplexity()));
        } else {
            main.out.println("1 token: nothing to score (the first token has no prediction)");
        }
        main.out.flush();
    }
}
