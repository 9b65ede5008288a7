package dev.bloom4j.bindings;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code native/include/bloom.h} declares, read straight from its text so that the drift test needs neither
 * jextract nor libclang.
 *
 * <p>This is not a C parser. It understands the shapes that bloom.h uses (and that its style guide allows):
 * {@code BLOOM_API} function declarations, {@code typedef struct/union/enum}, function-pointer typedefs, scalar
 * typedefs and object-like {@code #define BLOOM_*} macros. Any top-level declaration it cannot classify lands in
 * {@link #unparsed()}, and the drift test fails on it, so that a new kind of declaration is never silently ignored.
 *
 * <pre>{@code
 * BloomHeader header = BloomHeader.parse(Files.readString(Path.of("native/include/bloom.h")));
 * header.functions().get("bloom_model_load").params().size(); // 4
 * }</pre>
 */
final class BloomHeader {

    /** A C type reduced to what decides its Java carrier in jextract's output. */
    record CType(String text) {
        boolean isPointer() {
            return text.contains("*") || text.contains("[");
        }

        /** The type name without qualifiers, e.g. "uint32_t" for "const uint32_t". */
        String baseName() {
            return text.replaceAll("\\b(const|volatile|struct|union|enum|restrict)\\b", " ")
                    .replaceAll("\\s+", " ").trim();
        }
    }

    record Param(String name, CType type) {}

    record Function(String name, CType returnType, List<Param> params, boolean variadic) {}

    record Field(String name, CType type) {}

    /** A struct or union with a body; {@code name} is the name jextract gives its class (the typedef name). */
    record Struct(String name, List<Field> fields) {}

    /** A {@code typedef R (*name)(params)}: jextract makes it a class with a nested {@code Function} interface. */
    record Callback(String name, CType returnType, List<Param> params) {}

    /** An enumerator or object-like macro; {@code value} is empty when it is not a plain integer. */
    record Constant(String name, Optional<Long> value, String origin) {}

    private final Map<String, Function> functions = new LinkedHashMap<>();
    private final Map<String, Struct> structs = new LinkedHashMap<>();
    private final Set<String> opaqueStructs = new LinkedHashSet<>();
    private final Map<String, Callback> callbacks = new LinkedHashMap<>();
    private final Map<String, CType> scalarTypedefs = new LinkedHashMap<>();
    private final Set<String> enumTypes = new LinkedHashSet<>();
    private final Map<String, Constant> constants = new LinkedHashMap<>();
    private final List<String> unparsed = new ArrayList<>();

    private BloomHeader() {}

    Map<String, Function> functions() {
        return functions;
    }

    Map<String, Struct> structs() {
        return structs;
    }

    Map<String, Callback> callbacks() {
        return callbacks;
    }

    /** Typedefs of plain scalars (e.g. {@code bloom_token}), which jextract emits as layout fields of bloom_h. */
    Map<String, CType> scalarTypedefs() {
        return scalarTypedefs;
    }

    Map<String, Constant> constants() {
        return constants;
    }

    List<String> unparsed() {
        return unparsed;
    }

    boolean isStruct(String typeName) {
        return structs.containsKey(typeName) || opaqueStructs.contains(typeName);
    }

    boolean isEnum(String typeName) {
        return enumTypes.contains(typeName);
    }

    boolean isCallback(String typeName) {
        return callbacks.containsKey(typeName);
    }

    Optional<CType> scalarTypedef(String typeName) {
        return Optional.ofNullable(scalarTypedefs.get(typeName));
    }

    // ------------------------------------------------------------------ parsing

    private static final Pattern DEFINE = Pattern.compile("^\\s*#\\s*define\\s+(\\w+)(\\()?\\s*(.*)$");
    private static final Pattern TYPEDEF_BODY =
            Pattern.compile("^typedef\\s+(struct|union|enum)\\s*(\\w+)?\\s*\\{(.*)}\\s*(\\w+)$", Pattern.DOTALL);
    private static final Pattern TYPEDEF_OPAQUE = Pattern.compile("^typedef\\s+(struct|union)\\s+(\\w+)\\s+(\\w+)$");
    private static final Pattern TYPEDEF_FUNCTION_POINTER =
            Pattern.compile("^typedef\\s+(.+?)\\(\\s*\\*\\s*(\\w+)\\s*\\)\\s*\\((.*)\\)$", Pattern.DOTALL);
    private static final Pattern TYPEDEF_SCALAR = Pattern.compile("^typedef\\s+([\\w\\s]+?)\\s+(\\w+)$");
    private static final Pattern TAGGED_BODY =
            Pattern.compile("^(struct|union|enum)\\s*(\\w+)?\\s*\\{(.*)}$", Pattern.DOTALL);
    private static final Pattern FUNCTION = Pattern.compile("^BLOOM_API\\s+(.+?)\\b(\\w+)\\s*\\((.*)\\)$", Pattern.DOTALL);
    private static final Pattern FIELD_FUNCTION_POINTER =
            Pattern.compile("^(.+?)\\(\\s*\\*\\s*(\\w+)\\s*\\)\\s*\\(.*\\)$", Pattern.DOTALL);
    private static final Pattern INTEGER = Pattern.compile("^([+-])?\\s*(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*$");

    static BloomHeader parse(String text) {
        BloomHeader header = new BloomHeader();
        String code = stripComments(text);
        StringBuilder declarations = new StringBuilder();
        for (String line : joinContinuations(code).split("\n")) {
            if (line.stripLeading().startsWith("#")) {
                header.parseDirective(line);
            } else {
                declarations.append(line).append('\n');
            }
        }
        // The C++ guard's `extern "C" {` and its closing brace are not declarations.
        String body = declarations.toString().replaceAll("extern\\s*\"C\"\\s*\\{", " ");
        for (String statement : topLevelStatements(body)) {
            header.parseStatement(statement);
        }
        return header;
    }

    private void parseDirective(String line) {
        Matcher m = DEFINE.matcher(line);
        if (!m.matches() || m.group(2) != null) {
            return; // #include, #if..., or a function-like macro (jextract binds none of those)
        }
        String name = m.group(1);
        String value = m.group(3).trim();
        // Only macros jextract can turn into constants: an empty one (include guard) or an attribute such as
        // BLOOM_API's __attribute__/__declspec has no value.
        if (!name.startsWith("BLOOM_") || value.isEmpty() || value.matches(".*\\b__\\w+.*")) {
            return;
        }
        constants.put(name, new Constant(name, integerValue(value, Map.of()), "#define " + name + " " + value));
    }

    private void parseStatement(String raw) {
        String s = raw.replaceAll("\\s+", " ").trim();
        if (s.isEmpty()) {
            return;
        }
        Matcher m;
        if ((m = TYPEDEF_BODY.matcher(s)).matches()) {
            String name = m.group(4);
            if (m.group(1).equals("enum")) {
                enumTypes.add(name);
                if (m.group(2) != null) {
                    enumTypes.add(m.group(2));
                }
                parseEnumerators(m.group(3), name);
            } else {
                structs.put(name, new Struct(name, parseFields(m.group(3), s)));
            }
        } else if ((m = TYPEDEF_OPAQUE.matcher(s)).matches()) {
            opaqueStructs.add(m.group(3));
            opaqueStructs.add(m.group(2));
        } else if ((m = TYPEDEF_FUNCTION_POINTER.matcher(s)).matches()) {
            String name = m.group(2);
            callbacks.put(name, new Callback(name, new CType(m.group(1).trim()), parseParams(m.group(3), s)));
        } else if ((m = TYPEDEF_SCALAR.matcher(s)).matches() && !s.matches("^typedef (struct|union|enum) .*")) {
            scalarTypedefs.put(m.group(2), new CType(m.group(1).trim()));
        } else if ((m = TAGGED_BODY.matcher(s)).matches()) {
            String tag = m.group(2);
            if (m.group(1).equals("enum")) {
                if (tag != null) {
                    enumTypes.add(tag);
                }
                parseEnumerators(m.group(3), tag == null ? "anonymous enum" : tag);
            } else if (tag != null) {
                structs.put(tag, new Struct(tag, parseFields(m.group(3), s)));
            } else {
                unparsed.add(s);
            }
        } else if ((m = FUNCTION.matcher(s)).matches()) {
            List<Param> params = parseParams(m.group(3), s);
            boolean variadic = !params.isEmpty() && params.getLast().name().equals("...");
            if (variadic) {
                params = params.subList(0, params.size() - 1);
            }
            String name = m.group(2);
            functions.put(name, new Function(name, new CType(m.group(1).trim()), List.copyOf(params), variadic));
        } else {
            unparsed.add(s);
        }
    }

    private void parseEnumerators(String body, String enumName) {
        Map<String, Long> known = new LinkedHashMap<>();
        for (Constant c : constants.values()) {
            c.value().ifPresent(v -> known.put(c.name(), v));
        }
        Optional<Long> next = Optional.of(0L);
        for (String item : splitTopLevel(body, ',')) {
            String entry = item.trim();
            if (entry.isEmpty()) {
                continue; // trailing comma
            }
            int eq = entry.indexOf('=');
            String name = (eq < 0 ? entry : entry.substring(0, eq)).trim();
            Optional<Long> value = eq < 0 ? next : integerValue(entry.substring(eq + 1).trim(), known);
            constants.put(name, new Constant(name, value, "enumerator of " + enumName));
            value.ifPresent(v -> known.put(name, v));
            next = value.map(v -> v + 1);
        }
    }

    private List<Field> parseFields(String body, String statement) {
        List<Field> fields = new ArrayList<>();
        for (String declaration : splitTopLevel(body, ';')) {
            String d = declaration.trim();
            if (d.isEmpty()) {
                continue;
            }
            if (d.contains("{")) {
                unparsed.add("nested struct/union in: " + statement);
                continue;
            }
            Matcher fp = FIELD_FUNCTION_POINTER.matcher(d);
            if (fp.matches()) {
                fields.add(new Field(fp.group(2), new CType(fp.group(1).trim() + " (*)()")));
                continue;
            }
            // "T a, *b, c[4]": the base type comes from the first declarator.
            List<String> declarators = splitTopLevel(d, ',');
            Declarator first = Declarator.of(declarators.getFirst());
            String baseType = first.typeText().replaceAll("\\*", "").trim();
            fields.add(new Field(first.name(), new CType(first.typeText())));
            for (String more : declarators.subList(1, declarators.size())) {
                Declarator extra = Declarator.of(baseType + " " + more.trim());
                fields.add(new Field(extra.name(), new CType(extra.typeText())));
            }
        }
        return fields;
    }

    private List<Param> parseParams(String list, String statement) {
        List<Param> params = new ArrayList<>();
        String trimmed = list.trim();
        if (trimmed.isEmpty() || trimmed.equals("void")) {
            return params;
        }
        int index = 0;
        for (String p : splitTopLevel(trimmed, ',')) {
            String param = p.trim();
            if (param.equals("...")) {
                params.add(new Param("...", new CType("...")));
            } else if (FIELD_FUNCTION_POINTER.matcher(param).matches()) {
                Matcher fp = FIELD_FUNCTION_POINTER.matcher(param);
                fp.matches();
                params.add(new Param(fp.group(2), new CType("void (*)()")));
            } else {
                Declarator d = Declarator.ofParam(param, index);
                params.add(new Param(d.name(), new CType(d.typeText())));
            }
            index++;
        }
        return params;
    }

    /** "const char * const * stop" → type "const char * const *", name "stop"; arrays keep "[]" in the type. */
    private record Declarator(String typeText, String name) {
        static Declarator of(String text) {
            String t = text.replaceAll(":\\s*\\d+$", "").trim(); // bit-field width
            String arrays = "";
            Matcher arr = Pattern.compile("^(.*?)((\\s*\\[[^]]*])+)$").matcher(t);
            if (arr.matches()) {
                t = arr.group(1).trim();
                arrays = arr.group(2).replaceAll("\\s+", "");
            }
            Matcher m = Pattern.compile("^(.*?)(\\w+)$", Pattern.DOTALL).matcher(t);
            if (!m.matches()) {
                throw new IllegalArgumentException("cannot find the declared name in '" + text + "'");
            }
            return new Declarator((m.group(1).trim() + " " + arrays).trim(), m.group(2));
        }

        /** Parameters may be unnamed ("const char *"); jextract then calls them x0, x1, ... */
        static Declarator ofParam(String text, int index) {
            String t = text.trim();
            String withoutArrays = t.replaceAll("(\\s*\\[[^]]*])+$", "");
            List<String> words = new ArrayList<>(List.of(withoutArrays.replace("*", " * ").trim().split("\\s+")));
            words.removeIf(w -> w.matches("const|volatile|restrict|struct|union|enum|signed|unsigned|short|long"));
            boolean named = words.size() >= 2 && !words.getLast().equals("*");
            return named ? of(t) : new Declarator(t, "x" + index);
        }
    }

    static Optional<Long> integerValue(String expression, Map<String, Long> known) {
        String e = expression.trim();
        while (e.startsWith("(") && e.endsWith(")")) {
            e = e.substring(1, e.length() - 1).trim();
        }
        if (known.containsKey(e)) {
            return Optional.of(known.get(e));
        }
        Matcher m = INTEGER.matcher(e);
        if (!m.matches()) {
            return Optional.empty();
        }
        String digits = m.group(2);
        long v = digits.startsWith("0x") || digits.startsWith("0X")
                ? Long.parseUnsignedLong(digits.substring(2), 16)
                : Long.parseLong(digits);
        return Optional.of("-".equals(m.group(1)) ? -v : v);
    }

    // ------------------------------------------------------------------ lexical helpers

    /** Removes comments, keeping string literals intact and line breaks in place (for #define lines). */
    static String stripComments(String text) {
        StringBuilder out = new StringBuilder(text.length());
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < text.length() && text.charAt(j) != c) {
                    j += text.charAt(j) == '\\' ? 2 : 1;
                }
                j = Math.min(j + 1, text.length());
                out.append(text, i, j);
                i = j;
            } else if (text.startsWith("/*", i)) {
                int end = text.indexOf("*/", i + 2);
                int stop = end < 0 ? text.length() : end + 2;
                text.substring(i, stop).chars().filter(ch -> ch == '\n').forEach(ch -> out.append('\n'));
                out.append(' ');
                i = stop;
            } else if (text.startsWith("//", i)) {
                int end = text.indexOf('\n', i);
                i = end < 0 ? text.length() : end;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    private static String joinContinuations(String code) {
        return code.replaceAll("\\\\\r?\n", " ");
    }

    /** Splits at ';' outside braces and parentheses; a stray '}' at depth 0 (end of extern "C") is dropped. */
    private static List<String> topLevelStatements(String body) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int depth = 0;
        for (char c : body.toCharArray()) {
            if (c == '{' || c == '(') {
                depth++;
            } else if (c == '}' || c == ')') {
                if (depth == 0) {
                    continue;
                }
                depth--;
            } else if (c == ';' && depth == 0) {
                out.add(current.toString());
                current.setLength(0);
                continue;
            }
            current.append(c);
        }
        if (!current.toString().isBlank()) {
            out.add(current.toString());
        }
        return out;
    }

    private static List<String> splitTopLevel(String text, char separator) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int depth = 0;
        for (char c : text.toCharArray()) {
            if (c == '{' || c == '(' || c == '[') {
                depth++;
            } else if (c == '}' || c == ')' || c == ']') {
                depth--;
            } else if (c == separator && depth == 0) {
                out.add(current.toString());
                current.setLength(0);
                continue;
            }
            current.append(c);
        }
        out.add(current.toString());
        return out;
    }
}
