package dev.bloom4j.benchmarks;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The command line the comparison scripts give a report tool ({@link LlamaBenchReport}, {@link BatchedBenchReport}):
 * {@code --runs FILE --markdown FILE --json FILE [--meta key=value ...]}.
 *
 * @param runs     the JSON-lines file of measured runs
 * @param markdown where the table goes
 * @param json     where the JSON goes
 * @param meta     what the header lists (machine, commit, command, ...), in the order given
 */
record ReportArgs(Path runs, Path markdown, Path json, Map<String, String> meta) {

    /** Parses the arguments; on a usage error prints it and exits with status 2, as the scripts expect. */
    static ReportArgs parseOrExit(String[] args) {
        try {
            return parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            throw e; // not reached
        }
    }

    /** @throws IllegalArgumentException naming the option that is unknown, lacks its value or is missing */
    static ReportArgs parse(String[] args) {
        Path runs = null;
        Path markdown = null;
        Path json = null;
        Map<String, String> meta = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Path.of(value(args, ++i, "--runs"));
                case "--markdown" -> markdown = Path.of(value(args, ++i, "--markdown"));
                case "--json" -> json = Path.of(value(args, ++i, "--json"));
                case "--meta" -> {
                    String kv = value(args, ++i, "--meta");
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--meta needs key=value, got '" + kv + "'");
                    }
                    meta.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                default -> throw new IllegalArgumentException("unknown option '" + args[i] + "'");
            }
        }
        if (runs == null || markdown == null || json == null) {
            throw new IllegalArgumentException("--runs, --markdown and --json are required");
        }
        return new ReportArgs(runs, markdown, json, meta);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }
}
