package dev.bloom4j.checkpoint;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Writes JSON text byte for byte the way the Hugging Face tools do, so the files this package produces look like
 * the ones a loader meets in the wild.
 *
 * <p>Two dialects are needed: Python's {@code json.dumps(obj, indent=2, sort_keys=True)} (what
 * {@code PretrainedConfig.to_json_string} and {@code save_pretrained}'s shard index use), and serde_json's compact
 * form (what the Rust safetensors library writes into a file header, keys in insertion order).
 *
 * <p>Values may be {@link Map} (String keys), {@link Collection}, {@link CharSequence}, {@link Boolean}, integral
 * {@link Number}s, {@link Float}/{@link Double}, or {@code null}.
 */
final class PythonJson {

    private PythonJson() {
    }

    /** {@code json.dumps(value, indent=2, sort_keys=True)}: keys sorted, non-ASCII escaped, Python float repr. */
    static String pythonIndented(Object value) {
        StringBuilder out = new StringBuilder();
        writeIndented(out, value, 0);
        return out.toString();
    }

    /** serde_json compact output: no whitespace, keys in the map's own order, UTF-8 left unescaped. */
    static String compact(Object value) {
        StringBuilder out = new StringBuilder();
        writeCompact(out, value);
        return out.toString();
    }

    private static void writeIndented(StringBuilder out, Object value, int depth) {
        if (value instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            List<String> keys = new ArrayList<>();
            for (Object key : map.keySet()) {
                keys.add(requireStringKey(key));
            }
            // Python sorts str keys by code point; String.compareTo sorts by UTF-16 unit, identical for BMP text.
            keys.sort(null);
            out.append('{');
            for (int i = 0; i < keys.size(); i++) {
                out.append(i == 0 ? "\n" : ",\n");
                indent(out, depth + 1);
                writeString(out, keys.get(i), true);
                out.append(": ");
                writeIndented(out, map.get(keys.get(i)), depth + 1);
            }
            out.append('\n');
            indent(out, depth);
            out.append('}');
        } else if (value instanceof Collection<?> list) {
            if (list.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            boolean first = true;
            for (Object element : list) {
                out.append(first ? "\n" : ",\n");
                first = false;
                indent(out, depth + 1);
                writeIndented(out, element, depth + 1);
            }
            out.append('\n');
            indent(out, depth);
            out.append(']');
        } else {
            writeScalar(out, value, true);
        }
    }

    private static void writeCompact(StringBuilder out, Object value) {
        if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                writeString(out, requireStringKey(entry.getKey()), false);
                out.append(':');
                writeCompact(out, entry.getValue());
            }
            out.append('}');
        } else if (value instanceof Collection<?> list) {
            out.append('[');
            boolean first = true;
            for (Object element : list) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                writeCompact(out, element);
            }
            out.append(']');
        } else {
            writeScalar(out, value, false);
        }
    }

    private static String requireStringKey(Object key) {
        if (key instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException("JSON object key must be a String, got " + key);
    }

    private static void writeScalar(StringBuilder out, Object value, boolean asciiOnly) {
        switch (value) {
            case null -> out.append("null");
            case Boolean b -> out.append(b ? "true" : "false");
            case CharSequence s -> writeString(out, s.toString(), asciiOnly);
            case Double d -> out.append(pythonFloatRepr(d));
            case Float f -> out.append(pythonFloatRepr(f.doubleValue()));
            case Byte b -> out.append(b.longValue());
            case Short s -> out.append(s.longValue());
            case Integer i -> out.append(i.longValue());
            case Long l -> out.append(l.longValue());
            default -> throw new IllegalArgumentException(
                    "cannot write a " + value.getClass().getName() + " as JSON: " + value);
        }
    }

    private static void indent(StringBuilder out, int depth) {
        out.append("  ".repeat(depth));
    }

    private static void writeString(StringBuilder out, String s, boolean asciiOnly) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || (asciiOnly && c > 0x7e)) {
                        // Python's ensure_ascii escapes DEL and everything above it; serde escapes only controls.
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /**
     * Python's {@code repr(float)}: the shortest digits that round-trip (Java's {@link Double#toString} finds the
     * same digits since JDK 19), positional notation for decimal exponents -4..15 and otherwise {@code 1e-05}-style
     * scientific notation with a signed exponent of at least two digits.
     */
    static String pythonFloatRepr(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            // json.dumps would write NaN/Infinity, which is not JSON and which no config we write should contain.
            throw new IllegalArgumentException("refusing to write non-finite number " + value + " as JSON");
        }
        if (value == 0.0) {
            return (1.0 / value < 0) ? "-0.0" : "0.0";
        }
        double magnitudeValue = Math.abs(value);
        BigDecimal decimal = new BigDecimal(Double.toString(magnitudeValue)).stripTrailingZeros();
        if (decimal.precision() == 2) {
            // Java never prints fewer than two significant digits (4.9E-324) where Python prints one (5e-324);
            // use the nearest one-digit decimal whenever it still reads back as the same double.
            BigDecimal oneDigit = new BigDecimal(magnitudeValue).round(new MathContext(1, RoundingMode.HALF_EVEN));
            if (oneDigit.doubleValue() == magnitudeValue) {
                decimal = oneDigit.stripTrailingZeros();
            }
        }
        String digits = decimal.unscaledValue().toString();
        // value = 0.<digits> * 10^pointPosition
        int pointPosition = digits.length() - decimal.scale();
        int exponent = pointPosition - 1;
        StringBuilder out = new StringBuilder();
        if (value < 0) {
            out.append('-');
        }
        if (exponent < -4 || exponent >= 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            out.append('e').append(exponent < 0 ? '-' : '+');
            int magnitude = Math.abs(exponent);
            if (magnitude < 10) {
                out.append('0');
            }
            out.append(magnitude);
        } else if (pointPosition <= 0) {
            out.append("0.").append("0".repeat(-pointPosition)).append(digits);
        } else if (pointPosition >= digits.length()) {
            out.append(digits).append("0".repeat(pointPosition - digits.length())).append(".0");
        } else {
            out.append(digits, 0, pointPosition).append('.').append(digits, pointPosition, digits.length());
        }
        return out.toString();
    }
}
