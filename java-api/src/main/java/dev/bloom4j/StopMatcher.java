package dev.bloom4j;

import java.util.List;

/**
 * Holds back the tail of a text stream that might be the start of a stop string: the Java twin of the native
 * stop matcher in bloom-generate.cpp, so that token streams end exactly where bloom_generate ends.
 *
 * <p>The native one works on UTF-8 bytes, this one on UTF-16 chars. Both see only whole characters (the
 * detokenizer never splits one), and a match or a kept prefix always starts where a stop string starts, so the two
 * find the same places.
 */
final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops;
    }

    /** Adds text; returns what is safe to emit. After a stop string, returns the text before it and then nothing. */
    String push(String text) {
        if (stopped) {
            return "";
        }
        held.append(text);
        if (stops.isEmpty()) {
            return take(held.length());
        }
        // The earliest stop string wins.
        int first = -1;
        for (String s : stops) {
            int p = held.indexOf(s);
            if (p >= 0 && (first < 0 || p < first)) {
                first = p;
            }
        }
        if (first >= 0) {
            stopped = true;
            String out = held.substring(0, first);
            held.setLength(0);
            return out;
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        int keep = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, held.length()); k > keep; k--) {
                if (endsWithPrefix(s, k)) {
                    keep = k;
                    break;
                }
            }
        }
        return take(held.length() - keep);
    }

    /** The rest, at the end of the stream (nothing after a stop). */
    String flush() {
        String out = stopped ? "" : held.toString();
        held.setLength(0);
        return out;
    }

    boolean stopped() {
        return stopped;
    }

    /** Whether the held text ends with the first k chars of s. */
    private boolean endsWithPrefix(String s, int k) {
        int offset = held.length() - k;
        for (int i = 0; i < k; i++) {
            if (held.charAt(offset + i) != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private String take(int n) {
        String out = held.substring(0, n);
        held.delete(0, n);
        return out;
    }
}
