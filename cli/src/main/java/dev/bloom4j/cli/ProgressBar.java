package dev.bloom4j.cli;

import java.io.PrintStream;

/** A one-line progress bar redrawn in place with carriage returns; only used when stderr is a terminal. */
final class ProgressBar {
    private static final int WIDTH = 30;

    private final PrintStream err;
    private final String label;
    private int lastPercent = -1;
    private boolean drawn;

    ProgressBar(PrintStream err, String label) {
        this.err = err;
        this.label = label;
    }

    void update(double fraction) {
        int percent = (int) Math.round(Math.max(0, Math.min(1, fraction)) * 100);
        if (percent == lastPercent) {
            return; // redraw only on change: loading reports progress far more often than once per percent
        }
        lastPercent = percent;
        int filled = percent * WIDTH / 100;
        err.print("\r" + label + " [" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] "
                + String.format("%3d%%", percent));
        err.flush();
        drawn = true;
    }

    /** Erases the bar so the next line starts clean. */
    void clear() {
        if (drawn) {
            err.print("\r" + " ".repeat(label.length() + WIDTH + 8) + "\r");
            err.flush();
        }
    }
}
