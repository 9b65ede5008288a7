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
 * Turns the outputs of one compare-batched-bench.sh run — llama.cpp's {@code llama-batched-bench --output-format
 * jsonl} and {@code bloom batched-bench --json} per model file — into the Markdown and JSON tables under
 * {@code benchmarks/results/}.
 * {@snippet :
 * java -cp benchmarks.jar dev.bloom4j.benchmarks.BatchedBenchReport --runs runs.tsv \
 *      --meta date=2026-12-04T12:00:00Z --meta machine="AMD EPYC, 2 cores" --markdown out.md --json out.json
 * }
 * {@code runs.tsv} has one line per model file, tab-separated: model label, weight type, threads, the 1-minute
 * load average before and after the runs, the cores other processes used during llama-batched-bench's run and
 * bloom4j's, then llama-batched-bench's JSON-lines file and bloom4j's JSON file. Every {@code --meta} key is printed
 * in the header in the order given.
 *
 * <p>The figure compared is S_TG, aggregate decode tokens/s (B*TG/T_TG): ratio = bloom4j / llama.cpp, above 1
 * bloom4j is faster. "vs B=1" is a tool's S_TG at B sequences over its own S_TG at one sequence of the same
 * PP and TG: what batching gains.
 */
public final class BatchedBenchReport {

    private BatchedBenchReport() {}

    /** One line of runs.tsv. */
    record Run(String model, String type, int threads, String loadBefore, String loadAfter, String othersLlama,
               String othersBloom, Path llamaJsonl, Path bloomJson) {

        static final int FIELDS = 9;

        static Run parse(String line, int lineNumber) {
            String[] f = line.split("\t", -1);
            if (f.length != FIELDS) {
                throw new IllegalArgumentException("runs line " + lineNumber + ": expected " + FIELDS
                        + " tab-separated fields (model, type, threads, load before, load after, others during "
                        + "llama-batched-bench and bloom4j, llama-batched-bench jsonl, bloom4j json), got "
                        + f.length);
            }
            int threads;
            try {
                threads = Integer.parseInt(f[2]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("runs line " + lineNumber + ": threads '" + f[2]
                        + "' is not a number");
            }
            return new Run(f[0], f[1], threads, f[3], f[4], f[5], f[6], Path.of(f[7]), Path.of(f[8]));
        }
    }

    /** One measured row of either tool, in llama-batched-bench's names. */
    record Measured(int pp, int tg, int pl, int nKv, double tPp, double speedPp, double tTg, double speedTg,
                    double t, double speed) {
        static Measured of(JsonNode o) {
            return new Measured(o.path("pp").asInt(), o.path("tg").asInt(), o.path("pl").asInt(),
                    o.path("n_kv").asInt(), o.path("t_pp").asDouble(), o.path("speed_pp").asDouble(),
                    o.path("t_tg").asDouble(), o.path("speed_tg").asDouble(), o.path("t").asDouble(),
                    o.path("speed").asDouble());
        }

        boolean sameTest(Measured other) {
            return pp == other.pp && tg == other.tg && pl == other.pl;
        }
    }

    /**
     * One row of the table: one (PP, TG, B) of one model file, both tools.
     *
     * @param llamaVsOne  llama.cpp's S_TG over its own at B = 1 (NaN when B = 1 was not measured)
     * @param bloomVsOne  bloom4j's likewise
     */
    record Row(String model, String type, int threads, Measured llama, Measured bloom, double llamaVsOne,
               double bloomVsOne, String loadBefore, String loadAfter, String others) {
        /** bloom4j's aggregate decode tokens/s over llama.cpp's: above 1, bloom4j is faster. */
        double ratio() {
            return bloom.speedTg() / llama.speedTg();
        }

        /** The same for the prompt phase. */
        double prefillRatio() {
            return bloom.speedPp() / llama.speedPp();
        }
    }

    public static void main(String[] args) throws IOException {
        ReportArgs options = ReportArgs.parseOrExit(args);
        Path runs = options.runs();
        Path markdown = options.markdown();
        Path json = options.json();
        Map<String, String> meta = options.meta();
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        List<Row> rows = new ArrayList<>();
        ObjectNode raw = mapper.createObjectNode();
        List<String> lines = Files.readAllLines(runs);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            Run run = Run.parse(lines.get(i), i + 1);
            List<JsonNode> llama = jsonLines(mapper, run.llamaJsonl());
            JsonNode bloom = mapper.readTree(run.bloomJson().toFile());
            rows.addAll(rows(run, llama, bloom));
            ObjectNode both = raw.putObject(run.model() + "-" + run.type());
            both.putArray("llama_batched_bench").addAll(llama);
            both.set("bloom4j", bloom);
        }
        Files.writeString(markdown, markdown(meta, rows));
        Files.writeString(json, mapper.writeValueAsString(json(mapper, meta, rows, raw)));
        System.out.print(markdown(meta, rows));
    }

    /** The JSON objects of a JSON-lines file; other lines (llama.cpp's log, should it reach the file) are skipped. */
    static List<JsonNode> jsonLines(ObjectMapper mapper, Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            String s = line.strip();
            if (s.startsWith("{") && s.endsWith("}")) {
                out.add(mapper.readTree(s));
            }
        }
        return out;
    }

    /**
     * Pairs each bloom4j row with llama-batched-bench's row of the same PP, TG and B.
     *
     * @throws IllegalArgumentException a row missing on either side, the prompt shared on one side only, or thread
     *                                  counts that differ
     */
    static List<Row> rows(Run run, List<JsonNode> llama, JsonNode bloom) {
        JsonNode bloomRows = bloom.path("rows");
        if (!bloomRows.isArray() || bloomRows.isEmpty()) {
            throw new IllegalArgumentException(run.bloomJson() + ": no \"rows\" array (is it bloom batched-bench "
                    + "--json output?)");
        }
        if (llama.isEmpty()) {
            throw new IllegalArgumentException(run.llamaJsonl() + ": no JSON lines (is it llama-batched-bench "
                    + "--output-format jsonl output?)");
        }
        int bloomThreads = bloom.path("n_threads").asInt();
        int llamaThreads = llama.get(0).path("n_threads").asInt();
        if (bloomThreads != run.threads() || llamaThreads != run.threads()) {
            throw new IllegalArgumentException("thread counts differ: runs file " + run.threads()
                    + ", llama-batched-bench " + llamaThreads + ", bloom4j " + bloomThreads);
        }
        int bloomShared = bloom.path("is_pp_shared").asInt();
        int llamaShared = llama.get(0).path("is_pp_shared").asInt();
        if (bloomShared != llamaShared) {
            throw new IllegalArgumentException("is_pp_shared differs: llama-batched-bench " + llamaShared
                    + ", bloom4j " + bloomShared);
        }
        List<Measured> llamaRows = llama.stream().map(Measured::of).toList();
        List<Measured> ours = new ArrayList<>();
        bloomRows.forEach(r -> ours.add(Measured.of(r)));
        List<Row> rows = new ArrayList<>();
        for (Measured b : ours) {
            Measured l = find(llamaRows, b, run.llamaJsonl());
            rows.add(new Row(run.model(), run.type(), run.threads(), l, b,
                    vsOne(llamaRows, l), vsOne(ours, b), run.loadBefore(), run.loadAfter(),
                    run.othersLlama() + " / " + run.othersBloom()));
        }
        return rows;
    }

    private static Measured find(List<Measured> rows, Measured like, Path file) {
        for (Measured m : rows) {
            if (m.sameTest(like)) {
                return m;
            }
        }
        throw new IllegalArgumentException(file + " has no row with PP " + like.pp() + ", TG " + like.tg()
                + ", B " + like.pl() + " to compare with bloom4j's (did llama-batched-bench skip it for -c?)");
    }

    /** S_TG over the same tool's S_TG at B = 1 with the same PP and TG; NaN when that was not measured. */
    static double vsOne(List<Measured> rows, Measured row) {
        for (Measured m : rows) {
            if (m.pp() == row.pp() && m.tg() == row.tg() && m.pl() == 1) {
                return row.speedTg() / m.speedTg();
            }
        }
        return Double.NaN;
    }

    static String markdown(Map<String, String> meta, List<Row> rows) {
        StringBuilder out = new StringBuilder();
        out.append("# bloom4j vs llama.cpp llama-batched-bench, CPU\n\n");
        for (Map.Entry<String, String> e : meta.entrySet()) {
            String v = e.getValue();
            out.append("- ").append(e.getKey()).append(": ")
                    .append(e.getKey().equals("command") ? "`" + v + "`" : v).append('\n');
        }
        out.append("""

                B sequences, each with a prompt of PP random tokens, evaluated together, then TG decode steps of \
                one token per sequence (llama.cpp's tools/batched-bench definitions; bloom4j through \
                `bloom batched-bench`, a BatchSession). S_TG = B*TG/T_TG is the aggregate decode tokens/s; \
                ratio = bloom4j / llama.cpp, above 1 bloom4j is faster (the issue's target: >= 1.0 at every B). \
                vs B=1 = a tool's S_TG over its own at one sequence (target for bloom4j at B=16: >= 2). \
                S_PP = prompt tokens/s. load = 1-minute load average before → after the runs; others = cores \
                busy with other processes while llama.cpp / bloom4j ran (near 0 for a clean figure).

                | model | type | threads | PP | TG | B | llama.cpp S_TG t/s | bloom4j S_TG t/s | ratio \
                | llama.cpp vs B=1 | bloom4j vs B=1 | llama.cpp S_PP t/s | bloom4j S_PP t/s | S_PP ratio \
                | load | others |
                |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|
                """);
        for (Row r : rows) {
            out.append(String.format(Locale.ROOT,
                    "| %s | %s | %d | %d | %d | %d | %.2f | %.2f | **%.2f** | %s | %s | %.2f | %.2f | %.2f "
                            + "| %s → %s | %s |%n",
                    r.model(), r.type(), r.threads(), r.bloom().pp(), r.bloom().tg(), r.bloom().pl(),
                    r.llama().speedTg(), r.bloom().speedTg(), r.ratio(), times(r.llamaVsOne()),
                    times(r.bloomVsOne()), r.llama().speedPp(), r.bloom().speedPp(), r.prefillRatio(),
                    r.loadBefore(), r.loadAfter(), r.others()));
        }
        return out.toString();
    }

    private static String times(double x) {
        return Double.isNaN(x) ? "–" : String.format(Locale.ROOT, "%.2f×", x);
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
            o.put("threads", r.threads());
            o.put("pp", r.bloom().pp());
            o.put("tg", r.bloom().tg());
            o.put("pl", r.bloom().pl());
            o.put("llama_cpp_speed_tg", r.llama().speedTg());
            o.put("bloom4j_speed_tg", r.bloom().speedTg());
            o.put("ratio", r.ratio());
            putFinite(o, "llama_cpp_vs_pl1", r.llamaVsOne());
            putFinite(o, "bloom4j_vs_pl1", r.bloomVsOne());
            o.put("llama_cpp_speed_pp", r.llama().speedPp());
            o.put("bloom4j_speed_pp", r.bloom().speedPp());
            o.put("speed_pp_ratio", r.prefillRatio());
            o.put("llama_cpp_t_pp", r.llama().tPp());
            o.put("llama_cpp_t_tg", r.llama().tTg());
            o.put("bloom4j_t_pp", r.bloom().tPp());
            o.put("bloom4j_t_tg", r.bloom().tTg());
            o.put("load_before", r.loadBefore());
            o.put("load_after", r.loadAfter());
            o.put("others_cores", r.others());
        }
        root.set("raw", raw);
        return root;
    }

    private static void putFinite(ObjectNode o, String key, double value) {
        if (Double.isNaN(value)) {
            o.putNull(key);
        } else {
            o.put(key, value);
        }
    }
}
