package dev.bloom4j.server;

import dev.bloom4j.BatchSession;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** Counters of a {@link BloomServer}, written in Prometheus's text format by {@code GET /metrics}. */
final class ServerMetrics {
    private final ConcurrentHashMap<String, LongAdder> requests = new ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final LongAdder rejectedFull = new LongAdder();
    final LongAdder cancelledByClient = new LongAdder();

    /** Counts one answered request. */
    void answered(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + '\u0000' + status, k -> new LongAdder()).increment();
    }

    /** The Prometheus exposition; {@code stats} null while the model loads. */
    String render(BatchSession.Stats stats, int contextSize, int parallel) {
        StringBuilder out = new StringBuilder(2048);
        header(out, "bloom4j_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
        Map<String, Long> sorted = new TreeMap<>();
        requests.forEach((k, v) -> sorted.put(k, v.sum()));
        sorted.forEach((k, v) -> {
            int cut = k.indexOf('\u0000');
            out.append("bloom4j_requests_total{endpoint=\"").append(k, 0, cut).append("\",status=\"")
                    .append(k.substring(cut + 1)).append("\"} ").append(v).append('\n');
        });
        gauge(out, "bloom4j_requests_in_flight", "Completions (prompts times n) accepted and not yet generated.",
                inFlight.get());
        counter(out, "bloom4j_requests_rejected_total", "Generation requests refused with 503: the queue was full.",
                rejectedFull.sum());
        counter(out, "bloom4j_requests_cancelled_total", "Streams cancelled because the client went away.",
                cancelledByClient.sum());
        gauge(out, "bloom4j_parallel_sequences", "Most sequences decoded together (--parallel).", parallel);
        gauge(out, "bloom4j_kv_cells_total", "Cells of the shared KV cache (--ctx-size).", contextSize);
        if (stats != null) {
            counter(out, "bloom4j_prompt_tokens_total", "Prompt tokens evaluated.", stats.promptTokens());
            counter(out, "bloom4j_prompt_tokens_reused_total",
                    "Prompt tokens not evaluated: shared with a running request's cells.", stats.reusedTokens());
            counter(out, "bloom4j_generated_tokens_total", "Tokens generated.", stats.generatedTokens());
            counter(out, "bloom4j_steps_total", "Decode steps (one batch of all running sequences each).",
                    stats.steps());
            counter(out, "bloom4j_busy_seconds_total", "Wall time spent in decode steps.",
                    (stats.prefillNanos() + stats.decodeNanos()) / 1e9);
            gauge(out, "bloom4j_queue_length", "Requests waiting for a sequence or for KV cells.",
                    stats.waitingRequests());
            gauge(out, "bloom4j_active_sequences", "Sequences generating now.", stats.activeSequences());
            gauge(out, "bloom4j_kv_cells_used", "KV cells in use now.", stats.cellsUsed());
            double busy = (stats.prefillNanos() + stats.decodeNanos()) / 1e9;
            gauge(out, "bloom4j_generated_tokens_per_second",
                    "Tokens generated per second of decode steps, since start.",
                    busy > 0 ? stats.generatedTokens() / busy : 0);
        }
        return out.toString();
    }

    private static void header(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, double value) {
        header(out, name, "counter", help);
        out.append(name).append(' ').append(number(value)).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, double value) {
        header(out, name, "gauge", help);
        out.append(name).append(' ').append(number(value)).append('\n');
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
