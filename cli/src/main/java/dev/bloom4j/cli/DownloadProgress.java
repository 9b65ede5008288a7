package dev.bloom4j.cli;

import dev.bloom4j.DownloadListener;
import java.io.Console;
import java.io.PrintStream;

/**
 * How the commands show a hub download on stderr: a bar with size, rate and time left per file on a terminal; one
 * line per file otherwise (logs and pipes get no carriage returns). Files already cached show nothing.
 */
final class DownloadProgress implements DownloadListener {
    private final PrintStream err;
    private final String model;
    private final boolean terminal;
    private String file;
    private ProgressBar bar;

    DownloadProgress(PrintStream err, String model) {
        this.err = err;
        this.model = model;
        Console console = System.console();
        this.terminal = console != null && console.isTerminal();
    }

    @Override
    public void onProgress(String path, long done, long total) {
        if (!path.equals(file)) {
            finish();
            file = path;
            if (terminal) {
                bar = new ProgressBar(err, path);
            } else {
                err.println("fetching " + model + ": " + path + (total >= 0 ? " (" + ProgressBar.bytes(total) + ")" : "")
                        + (done > 0 ? ", resuming at " + ProgressBar.bytes(done) : ""));
            }
        }
        if (bar != null) {
            bar.updateBytes(done, total);
        }
    }

    /** Leaves the last bar's final state on its own line. */
    void finish() {
        if (bar != null) {
            bar.clear();
            bar = null;
        }
    }
}
