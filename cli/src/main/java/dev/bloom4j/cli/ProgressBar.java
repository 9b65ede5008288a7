package dev.bloom4j.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A one-line progress bar redrawn in place with carriage returns; only used when stderr is a terminal. A fraction
 * ({@link #update}) for loading and converting, bytes ({@link #updateBytes}) for downloads, which adds the size, the
 * rate and the time left.
 */
final class ProgressBar {
    private static final int WIDTH = 30;
    private static final long REDRAW_NANOS = 100_000_000L; // a download reports every 64 KiB: far too often to draw

    private final PrintStream err;
    private final String label;
    private final LongSupplier clock;
    private final long started;
    private long startBytes = -1;
    private int lastPercent = -1;
    private long lastDraw;
    private int drawnLength;

    ProgressBar(PrintStream err, String label) {
        this(err, label, System::nanoTime);
    }

    /** With another clock (nanoseconds), for tests of the rate and time left. */
    ProgressBar(PrintStream err, String label, LongSupplier clock) {
        this.err = err;
        this.label = label;
        this.clock = clock;
        this.started = clock.getAsLong();
    }

    void update(double fraction) {
        int percent = percent(fraction);
        if (percent == lastPercent) {
            return; // redraw only on change: loading reports progress far more often than once per percent
        }
        lastPercent = percent;
        draw(bar(percent));
    }

    /**
     * Bytes so far of {@code total} (-1 when unknown). The rate counts only bytes received since the first call, so a
     * resumed download does not look faster than it is.
     */
    void updateBytes(long done, long total) {
        long now = clock.getAsLong();
        if (startBytes < 0) {
            startBytes = done;
        }
        boolean finished = total >= 0 && done >= total;
        if (!finished && drawnLength > 0 && now - lastDraw < REDRAW_NANOS) {
            return;
        }
        lastDraw = now;
        double seconds = (now - started) / 1e9;
        double rate = seconds > 0 ? (done - startBytes) / seconds : 0;
        StringBuilder line = new StringBuilder();
        if (total > 0) {
            line.append(bar(percent((double) done / total))).append("  ").append(bytes(done)).append(" / ")
                    .append(bytes(total));
        } else {
            line.append(label).append("  ").append(bytes(done));
        }
        if (rate > 0) {
            line.append("  ").append(bytes((long) rate)).append("/s");
            if (total > 0 && !finished) {
                line.append("  ETA ").append(duration((total - done) / rate));
            }
        }
        draw(line.toString());
    }

    /** Erases the bar so the next line starts clean. */
    void clear() {
        if (drawnLength > 0) {
            err.print("\r" + " ".repeat(drawnLength) + "\r");
            err.flush();
            drawnLength = 0;
        }
    }

    private String bar(int percent) {
        int filled = percent * WIDTH / 100;
        return label + " [" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] " + String.format("%3d%%", percent);
    }

    private void draw(String line) {
        // Pad over a longer previous line (the rate and ETA change width).
        err.print("\r" + line + " ".repeat(Math.max(0, drawnLength - line.length())));
        err.flush();
        drawnLength = Math.max(drawnLength, line.length());
    }

    private static int percent(double fraction) {
        return (int) Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    }

    /** 512 B, 1.5 MB, 2.31 GB: decimal units, as download tools print them. */
    static String bytes(long n) {
        if (n < 1000) {
            return n + " B";
        }
        String[] units = {"kB", "MB", "GB", "TB"};
        double v = n;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    }

    /** 0:42, 12:05, 1:02:03. */
    static String duration(double seconds) {
        long s = Math.round(Math.min(seconds, 359_999));
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
