package dev.bloom4j.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns the outputs of one compare-llama-bench.sh run — llama-bench's JSON, {@link LlamaBenchCompatible}'s and its
 * C++ twin's per model and weight type — into the Markdown and JSON tables under {@code benchmarks/results/}.
 * {@snippet :
 * java -cp benchmarks.jar dev.bloom4j.benchmarks.LlamaBenchReport --runs runs.tsv \
 *      --meta date=2025-06-01T12:00:00Z --meta cpu="AMD EPYC" --markdown out.md --json out.json
 * }
 * {@code runs.tsv} has one line per model file, tab-separated: model label, weight type, threads, the 1-minute load
 * average before and after the runs, the cores other processes used during llama-bench's run, bloom4j's and the C
 * harness's, then llama-bench's JSON file, bloom4j's and the C harness's (benchmarks/native; empty if it did not
 * run). Every {@code --meta}
 * key is printed in the header in the order given. The ratio is bloom4j's tokens/s over llama.cpp's; above 1 means
 * bloom4j is faster.
 */
public final class LlamaBenchReport {

    private LlamaBenchReport() {}

    /** One line of runs.tsv. */
    record Run(String model, String type, int threads, String loadBefore, String loadAfter, String othersLlama,
               String othersBloom, String othersNative, Path llamaJson, Path bloomJson, Path nativeJson) {

        static final int FIELDS = 11;

        static Run parse(String line, int lineNumber) {
            String[] f = line.split("\t", -1);
            if (f.length != FIELDS) {
                throw new IllegalArgumentException("runs line " + lineNumber + ": expected " + FIELDS
                        + " tab-separated fields (model, type, threads, load before, load after, others during "
                        + "llama-bench, bloom4j and the C harness, llama-bench json, bloom4j json, C harness json "
                        + "or empty), got " + f.length);
            }
            int threads;
            try {
                threads = Integer.parseInt(f[2]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("runs line " + lineNumber + ": threads '" + f[2] + "' is not a number");
            }
            return new Run(f[0], f[1], threads, f[3], f[4], f[5], f[6], f[7], Path.of(f[8]), Path.of(f[9]),
                    f[10].isEmpty() ? null : Path.of(f[10]));
        }
    }

    /**
     * One row of the table: one test (pp512 or tg128) of one model file. The C harness figures are NaN when it did
     * not run.
     */
    record Row(String model, String type, int threads, String test, long modelSize, double llamaTs,
               double llamaStdev, double bloomTs, double bloomStdev, double nativeTs, double nativeStdev,
               double llamaGflops, double bloomGflops, String loadBefore, String loadAfter, String others) {
        /** bloom4j through Java over llama.cpp: above 1, bloom4j is faster. */
        double ratio() {
            return bloomTs / llamaTs;
        }

        /** bloom4j through Java over the same calls from C++: the Java API's cost (1 = none). */
        double javaOverNative() {
            return bloomTs / nativeTs;
        }
    }

    public static void main(String[] args) throws IOException {
        ReportArgs options = ReportArgs.parseOrExit(args);
        Path runs = options.runs();
        Path markdown = options.markdown();
        Path json = options.json();
        Map<String, String> meta = options.meta();
        List<Run> parsed = new ArrayList<>();
        List<String> lines = Files.readAllLines(runs);
        for (int i = 0; i < lines.size(); i++) {
            if (!lines.get(i).isBlank()) {
                parsed.add(Run.parse(lines.get(i), i + 1));
            }
        }
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        List<Row> rows = new ArrayList<>();
        ObjectNode raw = mapper.createObjectNode();
        for (Run run : parsed) {
            JsonNode llama = mapper.readTree(run.llamaJson().toFile());
            JsonNode bloom = mapper.readTree(run.bloomJson().toFile());
            JsonNode harness = run.nativeJson() == null ? null : mapper.readTree(run.nativeJson().toFile());
            rows.addAll(rows(run, llama, bloom, harness));
            ObjectNode all = raw.putObject(run.model() + "-" + run.type());
            all.set("llama_bench", llama);
            all.set("bloom4j", bloom);
            if (harness != null) {
                all.set("bloom4j_c", harness);
            }
        }
        Files.writeString(markdown, markdown(meta, rows));
        Files.writeString(json, mapper.writeValueAsString(json(mapper, meta, rows, raw)));
        System.out.print(markdown(meta, rows));
    }

    /**
     * Pairs each bloom4j test with llama-bench's (and the C harness's, when given) test of the same
     * {@code n_prompt}/{@code n_gen}.
     *
     * @param harness the C harness's output, or {@code null}
     * @throws IllegalArgumentException a test is missing on either side, or the thread counts differ
     */
    static List<Row> rows(Run run, JsonNode llama, JsonNode bloom, JsonNode harness) {
        if (!llama.isArray()) {
            throw new IllegalArgumentException(run.llamaJson() + ": not llama-bench JSON output (expected an array)");
        }
        JsonNode tests = bloom.path("tests");
        if (!tests.isArray() || tests.isEmpty()) {
            throw new IllegalArgumentException(run.bloomJson() + ": no \"tests\" array");
        }
        List<Row> rows = new ArrayList<>();
        for (JsonNode b : tests) {
            int prompt = b.path("n_prompt").asInt();
            int gen = b.path("n_gen").asInt();
            JsonNode l = find(llama, prompt, gen, run.llamaJson(), b);
            JsonNode c = harness == null ? null : find(harness.path("tests"), prompt, gen, run.nativeJson(), b);
            int llamaThreads = l.path("n_threads").asInt();
            int cThreads = harness == null ? run.threads() : harness.path("n_threads").asInt();
            if (llamaThreads != run.threads() || bloom.path("n_threads").asInt() != run.threads()
                    || cThreads != run.threads()) {
                throw new IllegalArgumentException("thread counts differ: runs file " + run.threads()
                        + ", llama-bench " + llamaThreads + ", bloom4j " + bloom.path("n_threads").asInt()
                        + ", C harness " + cThreads);
            }
            double flop = b.path("flop_per_run").asDouble();
            rows.add(new Row(run.model(), run.type(), run.threads(), b.path("name").asText(),
                    l.path("model_size").asLong(), l.path("avg_ts").asDouble(), l.path("stddev_ts").asDouble(),
                    b.path("avg_ts").asDouble(), b.path("stddev_ts").asDouble(),
                    c == null ? Double.NaN : c.path("avg_ts").asDouble(),
                    c == null ? Double.NaN : c.path("stddev_ts").asDouble(),
                    gflops(flop, l.path("samples_ns")), b.path("avg_gflops").asDouble(), run.loadBefore(),
                    run.loadAfter(), run.othersLlama() + " / " + run.othersBloom()
                            + (harness == null ? "" : " / " + run.othersNative())));
        }
        return rows;
    }

    private static JsonNode find(JsonNode tests, int prompt, int gen, Path file, JsonNode bloomTest) {
        JsonNode found = null;
        for (JsonNode candidate : tests) {
            if (candidate.path("n_prompt").asInt() == prompt && candidate.path("n_gen").asInt() == gen
                    && candidate.path("n_depth").asInt(0) == 0) {
                found = candidate;
            }
        }
        if (found == null) {
            throw new IllegalArgumentException(file + " has no test with n_prompt " + prompt + " and n_gen " + gen
                    + " to compare with bloom4j's " + bloomTest.path("name").asText());
        }
        return found;
    }

    /** Mean over the samples of FLOP/ns = GFLOP/s, as the tokens/s figures are means over samples. */
    static double gflops(double flopPerRun, JsonNode samplesNs) {
        double sum = 0;
        int n = 0;
        for (JsonNode s : samplesNs) {
            sum += flopPerRun / s.asDouble();
            n++;
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    static String markdown(Map<String, String> meta, List<Row> rows) {
        StringBuilder out = new StringBuilder();
        out.append("# bloom4j vs llama.cpp llama-bench, CPU\n\n");
        for (Map.Entry<String, String> e : meta.entrySet()) {
            String v = e.getValue();
            out.append("- ").append(e.getKey()).append(": ")
                    .append(e.getKey().equals("command") ? "`" + v + "`" : v).append('\n');
        }
        out.append("""

                Tokens/s are llama-bench's avg_ts ± stddev_ts over the repetitions (pp: one prompt into an empty \
                cache, logits for its last token; tg: single-token decodes from an empty cache), measured the same \
                way through bloom4j's Java API (dev.bloom4j.benchmarks.LlamaBenchCompatible) and through its C API \
                (benchmarks/native/llama-bench-compatible.cpp). ratio = bloom4j (Java) / llama.cpp: above 1, \
                bloom4j is faster. Java/C = bloom4j through Java / through C: the Java API's overhead (1 = none). \
                GFLOP/s as dev.bloom4j.benchmarks.Flops counts them. load = 1-minute load average before → after \
                the runs; others = cores busy with other processes while llama-bench / bloom4j Java / bloom4j C ran \
                (near 0 for a clean figure).

                | model | type | size | threads | test | llama.cpp t/s | bloom4j t/s | ratio | bloom4j C t/s \
                | Java/C | llama.cpp GFLOP/s | bloom4j GFLOP/s | load | others |
                |---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|
                """);
        for (Row r : rows) {
            String c = Double.isNaN(r.nativeTs()) ? "– | –" : String.format(Locale.ROOT, "%.2f ± %.2f | %.3f",
                    r.nativeTs(), r.nativeStdev(), r.javaOverNative());
            out.append(String.format(Locale.ROOT,
                    "| %s | %s | %s | %d | %s | %.2f ± %.2f | %.2f ± %.2f | **%.2f** | %s | %.1f | %.1f | %s → %s | %s |%n",
                    r.model(), r.type(), size(r.modelSize()), r.threads(), r.test(), r.llamaTs(), r.llamaStdev(),
                    r.bloomTs(), r.bloomStdev(), r.ratio(), c, r.llamaGflops(), r.bloomGflops(), r.loadBefore(),
                    r.loadAfter(), r.others()));
        }
        return out.toString();
    }

    private static String size(long bytes) {
        if (bytes <= 0) {
            return "?";
        }
        return bytes >= 1L << 30
                ? String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1L << 20));
    }

    private static ObjectNode json(ObjectMapper mapper, Map<String, String> meta, List<Row> rows, ObjectNode raw) {
        ObjectNode root = mapper.createObjectNode();
        ObjectNode m = root.putObject("meta");
        meta.forEach(m::put);
        ArrayNode table = root.putArray("rows");
        for (Row r : rows) {
            ObjectNode o = table.addObject();
            o.put("model", r.model());
            o.put("type", r.type());
            o.put("model_size", r.modelSize());
            o.put("threads", r.threads());
            o.put("test", r.test());
            o.put("llama_cpp_ts", r.llamaTs());
            o.put("llama_cpp_stddev_ts", r.llamaStdev());
            o.put("bloom4j_ts", r.bloomTs());
            o.put("bloom4j_stddev_ts", r.bloomStdev());
            o.put("ratio", r.ratio());
            if (!Double.isNaN(r.nativeTs())) {
                o.put("bloom4j_c_ts", r.nativeTs());
                o.put("bloom4j_c_stddev_ts", r.nativeStdev());
                o.put("java_over_c", r.javaOverNative());
            }
            o.put("llama_cpp_gflops", r.llamaGflops());
            o.put("bloom4j_gflops", r.bloomGflops());
            o.put("load_before", r.loadBefore());
            o.put("load_after", r.loadAfter());
            o.put("others_cores", r.others());
        }
        root.set("raw", raw);
        return root;
    }
}
