package dev.bloom4j.cli;

import dev.bloom4j.BatchSession;
import dev.bloom4j.BloomModel;
import dev.bloom4j.Completion;
import dev.bloom4j.FlashAttention;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code bloom batched-bench}: llama.cpp's {@code llama-batched-bench} through a {@link BatchSession}, with its
 * options and its table, so that the two print comparable figures.
 *
 * <p>What one row measures, as {@code tools/batched-bench/batched-bench.cpp} defines it: B sequences, each with a
 * prompt of PP random token ids, evaluated together (prefill, T_PP), then TG decode steps that each evaluate one
 * token of every sequence (T_TG). llama-batched-bench feeds random ids in the decode steps; here every sequence
 * generates greedily (ignoring the end-of-sequence token) TG+1 tokens: the first comes from the prompt's logits in
 * the prefill step, each of the other TG costs one decode step, so the decode phase evaluates TG tokens per
 * sequence, as llama's does, and the KV cache ends with B*(PP+TG) cells. T_PP and T_TG are the session's
 * {@link BatchSession.Stats#prefillNanos()} and {@link BatchSession.Stats#decodeNanos()} over the row: a step counts
 * as prefill while any of the row's requests has not received its first token.
 *
 * <p>The B requests reach the scheduler together ({@link BatchSession#submitAll}), so they are admitted in one step
 * and their prompts evaluated side by side, as llama-batched-bench evaluates them; the session is idle between rows,
 * where the statistics are read.
 *
 * <p>A request reserves cells for its prompt and all its tokens when it is admitted, TG+1 here, one more than it
 * fills (the last token is sampled, never evaluated); so a row needs B*(PP+TG+1) cells of -c, B more than llama's
 * N_KV. With -pps the samples share PP-1 prompt cells and each holds its own last prompt token: PP-1+B*(TG+2).
 */
@Command(
        name = "batched-bench",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Measure many sequences decoded together, as llama.cpp's llama-batched-bench does, with its options and "
                    + "its table. For each PP in -npp, TG in -ntg and B in -npl: B requests with distinct random "
                    + "prompts of PP tokens go to one batch session at once; each generates TG+1 tokens greedily "
                    + "(the first from its prompt, TG in decode steps). Columns: N_KV = B*(PP+TG) KV cells used "
                    + "(-pps: PP+B*TG); T_PP s = wall time of the steps that evaluated prompts; S_PP t/s = B*PP/T_PP "
                    + "(-pps: PP/T_PP); T_TG s = wall time of the decode-only steps; S_TG t/s = B*TG/T_TG; "
                    + "T s = T_PP+T_TG; S t/s = N_KV/T.",
            "One untimed warm-up request runs first. A request reserves cells for its prompt and all its TG+1 "
                    + "tokens, so a row needs B*(PP+TG+1) cells (-pps: PP-1+B*(TG+2)); a row that needs more than -c "
                    + "is skipped with a note.",
            ""},
        footer = {"", "Examples:",
            "  bloom batched-bench -m bloom-560m-q8_0.gguf -c 4096 -npp 128 -ntg 64 -npl 1,2,4,8,16 -t 2",
            "  bloom batched-bench -m bloom-560m-q8_0.gguf -npp 128 -ntg 64 -npl 8 -pps --json out.json",
            "",
            "The same rows with llama.cpp:",
            "  llama-batched-bench -m bloom-560m-q8_0.gguf -c 4096 -npp 128 -ntg 64 -npl 1,2,4,8,16 -t 2"})
final class BatchedBenchCommand implements Callable<Integer> {

    /** Seed of the random prompts: every run feeds the same ids. */
    static final long PROMPT_SEED = 1234;

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "KV cells of the session, shared by all sequences (llama's n_kv_max); 0 = just enough "
                    + "for the largest row, B*(PP+TG+1) (llama-batched-bench's 0 means the model's training length "
                    + "instead). Default: ${DEFAULT-VALUE}.")
    int contextSize = 0;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N",
            description = "Most tokens evaluated in one graph (llama-batched-bench's default -b, 2048, is its "
                    + "logical batch, which it evaluates in graphs of -ub 512). A row whose B*PP prompt tokens "
                    + "exceed it evaluates them over several steps, and the sequences whose prompt is done decode "
                    + "in those steps too, which count to T_PP. Default: ${DEFAULT-VALUE}.")
    int batchSize = 2048;

    @Option(names = "-npp", paramLabel = "N", split = ",", splitSynopsisLabel = ",", defaultValue = "128",
            description = "Prompt lengths in tokens, comma-separated. Default: ${DEFAULT-VALUE}.")
    List<Integer> promptLengths;

    @Option(names = "-ntg", paramLabel = "N", split = ",", splitSynopsisLabel = ",", defaultValue = "64",
            description = "Tokens to decode per sequence, comma-separated. Default: ${DEFAULT-VALUE}.")
    List<Integer> generateLengths;

    @Option(names = "-npl", paramLabel = "N", split = ",", splitSynopsisLabel = ",", defaultValue = "1,2,4,8,16",
            description = "Numbers of sequences decoded together (B), comma-separated. Default: ${DEFAULT-VALUE}.")
    List<Integer> parallel;

    @Option(names = "-pps",
            description = "The prompt is shared by the B sequences: evaluated once and its KV cells shared "
                    + "(GenerationConfig.n(B) through BatchSession.submitSamples), so N_KV = PP+B*TG and "
                    + "S_PP = PP/T_PP.")
    boolean promptShared;

    @Option(names = {"-t", "--threads"}, paramLabel = "N",
            description = "CPU threads; 0 = one per core. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = {"-fa", "--flash-attn"}, paramLabel = "MODE",
            description = "Fused flash attention: ${COMPLETION-CANDIDATES} (as --flash-attn of the other "
                    + "commands). Default: ${DEFAULT-VALUE}.")
    FlashAttention flashAttention;

    @Option(names = "--json", paramLabel = "FILE",
            description = "Also write the settings and every row to FILE as one JSON object, rows named as "
                    + "llama-batched-bench's --output-format jsonl names them (pp, tg, pl, n_kv, t_pp, speed_pp, "
                    + "t_tg, speed_tg, t, speed).")
    Path jsonFile;

    /** One measured row; the times in seconds. */
    record Row(int pp, int tg, int pl, int nKv, double tPp, double tTg, long steps) {
        double speedPp(boolean shared) {
            return (shared ? pp : (double) pl * pp) / tPp;
        }

        double speedTg() {
            return (double) pl * tg / tTg;
        }

        double t() {
            return tPp + tTg;
        }

        double speed() {
            return nKv / t();
        }
    }

    @Override
    public Integer call() throws IOException {
        validate();
        int maxSequences = parallel.stream().mapToInt(Integer::intValue).max().orElseThrow();
        int cells = contextSize > 0 ? contextSize : largestReservation();
        SessionConfig config;
        try {
            config = SessionConfig.builder()
                    .contextSize(cells)
                    .batchSize(batchSize)
                    .threads(threads)
                    .flashAttention(flashAttention)
                    .maxSequences(maxSequences)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "invalid option value: " + e.getMessage()
                    + " (maxSequences is the largest -npl, contextSize -c)");
        }
        try (BloomModel model = modelOptions.load(main)) {
            int vocabulary = model.info().vocabularySize();
            List<Row> rows = new ArrayList<>();
            try (BatchSession session = model.newBatchSession(config)) {
                // Warm-up, untimed, as llama-batched-bench's: a prompt of 16 tokens (fewer in a tiny cache) and here
                // one decode step too, so that buffers are allocated and code is loaded before the first row.
                int warmUp = Math.max(1, Math.min(16, cells - 2));
                join(session.submit(randomTokens(vocabulary, warmUp, 0), greedy(cells > warmUp + 1 ? 2 : 1)));

                main.out.println();
                main.out.printf(Locale.ROOT, "bloom_batched_bench: n_kv_max = %d, n_batch = %d, flash_attn = %s, "
                                + "is_pp_shared = %d, n_seq_max = %d, n_gpu_layers = %d, n_threads = %d%n",
                        cells, batchSize, flashAttention.name().toLowerCase(Locale.ROOT), promptShared ? 1 : 0,
                        maxSequences, model.info().gpuLayers(), threads);
                main.out.println();
                main.out.printf(Locale.ROOT, "|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |%n",
                        "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s");
                main.out.printf(Locale.ROOT, "|%6s-|-%6s-|-%4s-|-%6s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|%n",
                        "------", "------", "----", "------", "--------", "--------", "--------", "--------",
                        "--------", "--------");
                main.out.flush();
                for (int pp : promptLengths) {
                    for (int tg : generateLengths) {
                        for (int pl : parallel) {
                            int needed = cellsReserved(pp, tg, pl, promptShared);
                            if (needed > cells) {
                                main.err.printf(Locale.ROOT, "skipping PP %d, TG %d, B %d: it needs %d KV cells, "
                                        + "the session has %d (-c)%n", pp, tg, pl, needed, cells);
                                continue;
                            }
                            Row row = measure(session, vocabulary, pp, tg, pl,
                                    cellsUsed(pp, tg, pl, promptShared));
                            rows.add(row);
                            main.out.printf(Locale.ROOT,
                                    "|%6d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |%n",
                                    row.pp(), row.tg(), row.pl(), row.nKv(), row.tPp(), row.speedPp(promptShared),
                                    row.tTg(), row.speedTg(), row.t(), row.speed());
                            main.out.flush();
                        }
                    }
                }
            }
            main.out.println();
            if (jsonFile != null) {
                writeJson(model, cells, maxSequences, rows);
            }
        }
        return 0;
    }

    /** Option values llama-batched-bench would reject or that make no row; usage errors (exit 2). */
    private void validate() {
        checkPositive("-npp", promptLengths);
        checkPositive("-ntg", generateLengths);
        checkPositive("-npl", parallel);
        if (contextSize < 0) {
            throw new ParameterException(spec.commandLine(), "-c must be >= 0 (0 = enough for the largest row), got "
                    + contextSize);
        }
        if (batchSize < 1) {
            throw new ParameterException(spec.commandLine(), "-b must be >= 1, got " + batchSize);
        }
        if (threads < 0) {
            throw new ParameterException(spec.commandLine(), "-t must be >= 0 (0 = one per core), got " + threads);
        }
    }

    private void checkPositive(String option, List<Integer> values) {
        if (values.isEmpty()) {
            throw new ParameterException(spec.commandLine(), option + " needs at least one value");
        }
        for (int v : values) {
            if (v < 1) {
                throw new ParameterException(spec.commandLine(), option + " values must be >= 1, got " + v);
            }
        }
    }

    /**
     * N_KV as llama-batched-bench computes it: each sequence's prompt (once, if shared, as with its unified cache)
     * and its TG decoded tokens.
     */
    static int cellsUsed(int pp, int tg, int pl, boolean promptShared) {
        long cells = promptShared ? pp + (long) pl * tg : (long) pl * (pp + tg);
        return (int) Math.min(Integer.MAX_VALUE, cells);
    }

    /**
     * Cells the row's requests reserve when admitted: prompt plus TG+1 tokens each; shared prompts but for their
     * last token (see the class comment).
     */
    static int cellsReserved(int pp, int tg, int pl, boolean promptShared) {
        long cells = promptShared ? pp - 1 + (long) pl * (tg + 2) : (long) pl * (pp + tg + 1);
        return (int) Math.min(Integer.MAX_VALUE, cells);
    }

    private int largestReservation() {
        int largest = 1;
        for (int pp : promptLengths) {
            for (int tg : generateLengths) {
                for (int pl : parallel) {
                    largest = Math.max(largest, cellsReserved(pp, tg, pl, promptShared));
                }
            }
        }
        return largest;
    }

    /** Greedy, past the end-of-sequence token, {@code tokens} tokens. */
    private static GenerationConfig greedy(int tokens) {
        return GenerationConfig.greedy().toBuilder().maxTokens(tokens).ignoreEos(true).build();
    }

    /**
     * One row: B requests queued together, all awaited; the times are the session's statistics over the row.
     */
    private Row measure(BatchSession session, int vocabulary, int pp, int tg, int pl, int nKv) {
        SplittableRandom seeds = new SplittableRandom(PROMPT_SEED + 31L * pp + 17L * tg + pl);
        GenerationConfig config = greedy(tg + 1);
        List<int[]> prompts = new ArrayList<>();
        for (int j = 0; j < (promptShared ? 1 : pl); j++) {
            prompts.add(randomTokens(vocabulary, pp, seeds.nextLong()));
        }
        BatchSession.Stats before = session.stats();
        CompletableFuture<List<Completion>> samples = null;
        List<CompletableFuture<Completion>> futures = List.of();
        if (promptShared) {
            samples = session.submitSamples(prompts.getFirst(), config.toBuilder().n(pl).build());
        } else {
            futures = session.submitAll(prompts, config);
        }
        List<Completion> done = new ArrayList<>(pl);
        if (samples != null) {
            done.addAll(join(samples));
        }
        for (CompletableFuture<Completion> f : futures) {
            done.add(join(f));
        }
        for (Completion c : done) {
            if (c.generatedTokens() != tg + 1) {
                throw new IllegalStateException("a request generated " + c.generatedTokens() + " tokens, not "
                        + (tg + 1) + " (finish reason " + c.finishReason().jsonName() + ")");
            }
        }
        BatchSession.Stats after = session.stats();
        return new Row(pp, tg, pl, nKv, (after.prefillNanos() - before.prefillNanos()) / 1e9,
                (after.decodeNanos() - before.decodeNanos()) / 1e9, after.steps() - before.steps());
    }

    static int[] randomTokens(int vocabulary, int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) {
            ids[i] = random.nextInt(vocabulary);
        }
        return ids;
    }

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

    private void writeJson(BloomModel model, int cells, int maxSequences, List<Row> rows) throws IOException {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("model", model.path().toString());
        o.put("n_kv_max", cells);
        o.put("n_batch", batchSize);
        o.put("flash_attn", flashAttention.name().toLowerCase(Locale.ROOT));
        o.put("is_pp_shared", promptShared ? 1 : 0);
        o.put("n_seq_max", maxSequences);
        o.put("n_gpu_layers", model.info().gpuLayers());
        o.put("n_threads", threads);
        List<Map<String, Object>> list = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("pp", r.pp());
            row.put("tg", r.tg());
            row.put("pl", r.pl());
            row.put("n_kv", r.nKv());
            row.put("t_pp", r.tPp());
            row.put("speed_pp", r.speedPp(promptShared));
            row.put("t_tg", r.tTg());
            row.put("speed_tg", r.speedTg());
            row.put("t", r.t());
            row.put("speed", r.speed());
            row.put("steps", r.steps());
            list.add(row);
        }
        o.put("rows", list);
        Path parent = jsonFile.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(jsonFile, Json.toString(o) + "\n", StandardCharsets.UTF_8);
    }
}
