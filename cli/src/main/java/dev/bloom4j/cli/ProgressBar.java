package dev.bloom4j.cli;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr, only used when stderr is a terminal: me.tongfei's progressbar, which redraws the line in
 * place with the elapsed time, the time left and, for bytes, the rate. A fraction ({@link #update}) for loading and
 * converting; bytes ({@link #updateBytes}) for downloads. The bar starts with the first update, which sets its kind.
 */
final class ProgressBar {
    private static final int PER_MILLE = 1000;
    private static final int REDRAW_MILLIS = 200;

    private final PrintStream err;
    private final String label;
    private me.tongfei.progressbar.ProgressBar bar;

    ProgressBar(PrintStream err, String label) {
        this.err = err;
        this.label = label;
    }

    /** Progress as a fraction in [0, 1]. */
    void update(double fraction) {
        if (bar == null) {
            bar = builder().setInitialMax(PER_MILLE).setUnit("%", PER_MILLE / 100).build();
        }
        bar.stepTo(Math.round(Math.max(0, Math.min(1, fraction)) * PER_MILLE));
    }

    /**
     * Bytes so far of {@code total} (-1 when unknown). The rate counts only bytes received since the first call, so a
     * resumed download does not look faster than it is.
     */
    void updateBytes(long done, long total) {
        if (bar == null) {
            bar = builder().setInitialMax(total).setUnit(" MB", 1_000_000).showSpeed(new DecimalFormat("0.0"))
                    .startsFrom(done, Duration.ZERO).build();
        }
        if (total >= 0 && total != bar.getMax()) {
            bar.maxHint(total);
        }
        bar.stepTo(done);
    }

    /** Draws the final state and ends the line. */
    void clear() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    private ProgressBarBuilder builder() {
        return new ProgressBarBuilder().setTaskName(label).setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(REDRAW_MILLIS).setConsumer(new ConsoleProgressBarConsumer(err));
    }

    /** 512 B, 1.5 MB, 2.31 GB: decimal units, as download tools print them (for lines without a bar). */
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
}
