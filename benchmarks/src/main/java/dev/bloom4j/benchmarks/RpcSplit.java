package dev.bloom4j.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.SessionConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Prefill and decode of one model split over ggml RPC servers ({@code bloom rpc-server}), and the bytes that cross
 * the sockets per token: the llama-bench pp/tg definitions of {@link LlamaBenchCompatible} (random ids, the cache
 * emptied before each timed repetition, mean of {@code tokens·10⁹/ns}), with the model's blocks and output layer
 * spread evenly over the servers ({@code --split-mode layer}), or on this process's CPU alone without
 * {@code --rpc}. Bytes are the TCP payload the servers' connections received and sent (tcp_info, read with
 * {@code ss -ti} before and after each timed phase), so the servers must run on this machine and serve only this
 * client meanwhile. {@code benchmarks/scripts/rpc-split.sh} runs it.
 * {@snippet :
 * java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar dev.bloom4j.benchmarks.RpcSplit \
 *      --model bloom-560m-f16.gguf --rpc 127.0.0.1:50052,127.0.0.1:50053 -p 128 -n 32 -r 3
 * }
 * Prints one JSON object: model, hosts, threads, pp and tg tokens/s (mean, standard deviation), and bytes received
 * and sent by all servers together per prompt token and per decoded token.
 */
public final class RpcSplit {

    private RpcSplit() {}

    record Options(Path model, List<String> rpc, int threads, int promptTokens,
                   int generatedTokens, int repetitions) {}

    public static void main(String[] args) throws IOException {
        Options o = parse(args);
        LoadOptions.Builder load = LoadOptions.builder();
        if (o.rpc().isEmpty()) {
            load.gpuLayers(0);
        } else {
            load.rpcServers(o.rpc()).splitMode(LoadOptions.SplitMode.LAYER).gpuLayers(-1)
                    .tensorSplit(o.rpc().stream().mapToDouble(s -> 1.0).toArray());
        }
        ObjectNode out = new ObjectMapper().createObjectNode();
        try (BloomModel model = BloomModel.load(o.model(), load.build())) {
            int vocab = model.info().tokenizerVocabularySize();
            SplittableRandom random = new SplittableRandom(7);
            out.put("model", o.model().getFileName().toString());
            out.put("hosts", o.rpc().size());
            out.put("threads", o.threads());
            out.put("n_prompt", o.promptTokens());
            out.put("n_gen", o.generatedTokens());
            out.put("repetitions", o.repetitions());
            phase(out, "pp", o, model, o.promptTokens(), vocab, random, true);
            phase(out, "tg", o, model, o.generatedTokens(), vocab, random, false);
        }
        System.out.println(out);
    }

    /** One timed test (pp: one evaluation of n ids; tg: n single-token evaluations), warm-up first, untimed. */
    private static void phase(ObjectNode out, String name, Options o, BloomModel model, int n, int vocab,
                              SplittableRandom random, boolean prompt) throws IOException {
        SessionConfig config = SessionConfig.builder().contextSize(Math.max(n, 16)).batchSize(512)
                .threads(o.threads()).build();
        try (BloomSession session = model.newSession(config)) {
            run(session, n, vocab, random, prompt, true);
            double[] rates = new double[o.repetitions()];
            long[] before = traffic(o.rpc());
            for (int r = 0; r < rates.length; r++) {
                session.clear();
                long t0 = System.nanoTime();
                run(session, n, vocab, random, prompt, false);
                rates[r] = n * 1e9 / (System.nanoTime() - t0);
            }
            long[] after = traffic(o.rpc());
            double mean = Arrays.stream(rates).average().orElse(0);
            double var = Arrays.stream(rates).map(x -> (x - mean) * (x - mean)).sum() / Math.max(1, rates.length - 1);
            out.put(name + "_tps", mean);
            out.put(name + "_tps_stddev", Math.sqrt(var));
            double tokens = (double) n * rates.length;
            out.put(name + "_bytes_to_servers_per_token", (after[0] - before[0]) / tokens);
            out.put(name + "_bytes_from_servers_per_token", (after[1] - before[1]) / tokens);
        }
    }

    private static void run(BloomSession session, int n, int vocab, SplittableRandom random, boolean prompt,
                            boolean warmup) {
        if (prompt) {
            session.evaluate(random.ints(n, 0, vocab).toArray());
        } else {
            for (int i = 0; i < (warmup ? 1 : n); i++) {
                session.evaluate(new int[] {random.nextInt(vocab)});
            }
        }
    }

    /**
     * Payload bytes all servers received and sent so far on their established TCP connections (tcp_info's
     * bytes_received and bytes_sent, as {@code ss -ti} prints them for the sockets whose local port is a server's).
     */
    static long[] traffic(List<String> servers) throws IOException {
        long[] sum = new long[2];
        for (String server : servers) {
            String port = server.substring(server.lastIndexOf(':') + 1);
            Process ss = new ProcessBuilder("ss", "-tinH", "state", "established", "( sport = :" + port + " )")
                    .redirectErrorStream(true).start();
            String text = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            try {
                if (ss.waitFor() != 0) throw new IOException("ss failed: " + text);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            sum[0] += field(text, "bytes_received:");
            sum[1] += field(text, "bytes_sent:");
        }
        return sum;
    }

    private static long field(String text, String name) {
        long total = 0;
        for (int at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
            int end = at + name.length();
            while (end < text.length() && Character.isDigit(text.charAt(end))) end++;
            total += Long.parseLong(text.substring(at + name.length(), end));
        }
        return total;
    }

    static Options parse(String[] args) {
        Path model = null;
        List<String> rpc = new ArrayList<>();
        int threads = 0;
        int p = 128;
        int n = 32;
        int r = 3;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
            String v = args[++i];
            switch (a) {
                case "--model" -> model = Path.of(v);
                case "--rpc" -> rpc = v.isEmpty() ? List.of() : List.of(v.split(","));
                case "--threads" -> threads = Integer.parseInt(v);
                case "-p" -> p = Integer.parseInt(v);
                case "-n" -> n = Integer.parseInt(v);
                case "-r" -> r = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown option " + a
                        + " (--model, --rpc, --threads, -p, -n, -r)");
            }
        }
        if (model == null) throw new IllegalArgumentException("--model is required");
        return new Options(model, rpc, threads, p, n, r);
    }
}
