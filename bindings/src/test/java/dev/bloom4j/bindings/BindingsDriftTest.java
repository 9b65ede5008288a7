package dev.bloom4j.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * Fails when the committed jextract bindings ({@code dev.bloom4j.bindings.internal}) no longer match
 * {@code native/include/bloom.h}, in either direction: a header declaration without a binding, a binding whose
 * declaration left the header, or a function, field or callback whose Java signature no longer fits the C one.
 *
 * <p>It needs neither jextract nor the native library: the header is read as text ({@link BloomHeader}) and the
 * bindings are inspected by reflection on classes loaded without initialisation, so no symbol is looked up. The one
 * exception is {@link #constantValuesMatchHeader()}, see there. The fix for any failure is
 * {@code bindings/regenerate-bindings.sh}.
 *
 * <p>Not covered: a reordering of struct fields that keeps their names and types (offsets are only known after the
 * generated layouts are initialised).
 */
class BindingsDriftTest {

    private static final String PACKAGE = "dev.bloom4j.bindings.internal";
    private static final String HEADER_CLASS = PACKAGE + ".bloom_h";
    private static final String FIX = "run bindings/regenerate-bindings.sh (needs jextract, see the script) and "
            + "commit the regenerated bindings";
    private static final Pattern FUNCTION_NAME = Pattern.compile("bloom_\\w+");
    private static final Pattern CONSTANT_NAME = Pattern.compile("BLOOM_\\w+");
    private static final Set<String> STRUCT_HELPERS =
            Set.of("layout", "sizeof", "allocate", "allocateArray", "asSlice", "reinterpret");

    // ------------------------------------------------------------------ the checks on the real header

    @Test
    void everyHeaderDeclarationHasABindingAndNoBindingOutlivesItsDeclaration() throws IOException {
        BloomHeader header = BloomHeader.parse(Files.readString(headerPath()));
        List<String> problems = check(header, Bindings.load());
        if (!problems.isEmpty()) {
            fail("The jextract bindings do not match " + headerPath() + " (" + problems.size() + " problems); "
                    + FIX + ":\n  " + String.join("\n  ", problems));
        }
    }

    /**
     * Compares the values of enumerators and integer macros. Reading a value runs bloom_h's static initialiser;
     * that only builds layouts and a {@code SymbolLookup} (jextract defers each symbol's lookup to a holder class
     * initialised on the first call), so this still needs no native library. It matters for BLOOM_ABI_VERSION,
     * which the loader compares with the library's bloom_abi_version().
     */
    @Test
    void constantValuesMatchHeader() throws IOException {
        BloomHeader header = BloomHeader.parse(Files.readString(headerPath()));
        List<String> problems = checkConstantValues(header.constants(), Bindings.load());
        if (!problems.isEmpty()) {
            fail("Constant values in the bindings differ from " + headerPath() + "; " + FIX + ":\n  "
                    + String.join("\n  ", problems));
        }
    }

    @Test
    void headerParserFindsTheDeclarationsItMustCheck() throws IOException {
        // Guards against a parser that silently finds nothing (which would make the drift check pass vacuously).
        BloomHeader header = BloomHeader.parse(Files.readString(headerPath()));
        assertTrue(header.functions().containsKey("bloom_abi_version"), "bloom_abi_version not parsed");
        assertTrue(header.constants().containsKey("BLOOM_ABI_VERSION"), "BLOOM_ABI_VERSION not parsed");
        assertTrue(header.constants().containsKey("BLOOM_OK"), "enumerator BLOOM_OK not parsed");
        assertFalse(header.structs().isEmpty(), "no struct parsed");
        assertFalse(header.callbacks().isEmpty(), "no callback typedef parsed");
        assertEquals(List.of(), header.unparsed(), "declarations the parser could not classify");
    }

    // ------------------------------------------------------------------ self-checks: the test can fail

    @Test
    void reportsAFunctionAddedToTheHeader() throws IOException {
        String text = Files.readString(headerPath())
                + "\nBLOOM_API int32_t bloom_drift_selfcheck_added(int32_t x);\n";
        assertReports(text, "missing binding for function bloom_drift_selfcheck_added");
    }

    @Test
    void reportsABindingWhoseFunctionLeftTheHeader() throws IOException {
        String text = Files.readString(headerPath());
        String removed = BloomHeader.parse(text).functions().keySet().iterator().next();
        String mutated = text.replaceFirst("(?m)^BLOOM_API[^;]*\\b" + removed + "\\s*\\([^;]*;", "");
        assertFalse(mutated.equals(text), "self-check could not remove " + removed + " from the header text");
        assertReports(mutated, "binding for function " + removed + " has no declaration");
    }

    @Test
    void reportsAFieldAddedToAStruct() throws IOException {
        String text = Files.readString(headerPath());
        String struct = BloomHeader.parse(text).structs().keySet().iterator().next();
        String mutated = text.replaceFirst("}\\s*" + struct + "\\s*;", "int32_t drift_selfcheck_field; } " + struct + ";");
        assertFalse(mutated.equals(text), "self-check could not add a field to " + struct);
        assertReports(mutated, "missing getter for field " + struct + ".drift_selfcheck_field");
    }

    @Test
    void reportsAChangedFunctionSignature() throws IOException {
        String text = Files.readString(headerPath());
        String function = BloomHeader.parse(text).functions().values().stream()
                .filter(f -> !f.params().isEmpty()).findFirst().orElseThrow().name();
        // Anchored on BLOOM_API so that a mention of the function in a comment is not what gets changed.
        String mutated = text.replaceFirst("(?m)^(BLOOM_API[^;]*\\b" + function + "\\s*\\()", "$1double drift_selfcheck, ");
        assertFalse(mutated.equals(text), "self-check could not change the parameters of " + function);
        assertReports(mutated, "function " + function + " changed");
    }

    @Test
    void reportsAConstantAddedToTheHeader() throws IOException {
        String text = Files.readString(headerPath()) + "\n#define BLOOM_DRIFT_SELFCHECK 7\n";
        assertReports(text, "missing binding for constant BLOOM_DRIFT_SELFCHECK");
    }

    @Test
    void reportsAChangedConstantValue() throws IOException {
        BloomHeader header = BloomHeader.parse(Files.readString(headerPath()));
        Map<String, BloomHeader.Constant> changed = new LinkedHashMap<>(header.constants());
        BloomHeader.Constant abi = changed.get("BLOOM_ABI_VERSION");
        changed.put(abi.name(), new BloomHeader.Constant(abi.name(), abi.value().map(v -> v + 1000), abi.origin()));
        List<String> problems = checkConstantValues(changed, Bindings.load());
        assertTrue(problems.stream().anyMatch(p -> p.contains("BLOOM_ABI_VERSION")),
                "a changed BLOOM_ABI_VERSION was not reported; problems: " + problems);
    }

    @Test
    void parserReadsTheShapesBloomHUses() {
        BloomHeader h = BloomHeader.parse("""
                #define BLOOM_A 0x10u
                #define BLOOM_F(x) (x)
                #define BLOOM_API __attribute__((visibility("default")))
                typedef struct bloom_thing bloom_thing;
                typedef int32_t bloom_id;
                typedef bool (*bloom_cb)(bloom_id id, const char * text, void * user_data);
                typedef enum bloom_kind { BLOOM_KIND_A = -2, BLOOM_KIND_B, BLOOM_KIND_C = BLOOM_A, } bloom_kind;
                typedef struct bloom_p {
                    const char * const * names;  /* ; in a comment */
                    float weights[4];
                    bloom_cb callback;
                    void (*raw)(int);
                } bloom_p;
                #ifdef __cplusplus
                extern "C" {
                #endif
                BLOOM_API bloom_p bloom_p_default(void);
                BLOOM_API const char * bloom_name(const bloom_thing * thing, int32_t);
                #ifdef __cplusplus
                }
                #endif
                """);
        assertEquals(List.of(), h.unparsed());
        assertEquals(Set.of("BLOOM_A", "BLOOM_KIND_A", "BLOOM_KIND_B", "BLOOM_KIND_C"), h.constants().keySet());
        assertEquals(Optional.of(16L), h.constants().get("BLOOM_A").value());
        assertEquals(Optional.of(-1L), h.constants().get("BLOOM_KIND_B").value());
        assertEquals(Optional.of(16L), h.constants().get("BLOOM_KIND_C").value());
        assertEquals(List.of("names", "weights", "callback", "raw"),
                h.structs().get("bloom_p").fields().stream().map(BloomHeader.Field::name).toList());
        assertEquals(List.of("thing", "x1"),
                h.functions().get("bloom_name").params().stream().map(BloomHeader.Param::name).toList());
        assertTrue(h.isStruct("bloom_thing"));
        assertTrue(h.isEnum("bloom_kind"));
        assertEquals(3, h.callbacks().get("bloom_cb").params().size());
        assertEquals(Set.of("bloom_id"), h.scalarTypedefs().keySet());
    }

    /** The mutated header must add exactly one problem to those of the real header (normally none). */
    private static void assertReports(String headerText, String expected) {
        Bindings bindings = Bindings.load();
        List<String> baseline;
        try {
            baseline = check(BloomHeader.parse(Files.readString(headerPath())), bindings);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        List<String> added = new ArrayList<>(check(BloomHeader.parse(headerText), bindings));
        added.removeAll(baseline);
        assertEquals(1, added.size(), "expected exactly one new problem containing '" + expected + "', got: " + added);
        assertTrue(added.getFirst().contains(expected),
                "expected a problem containing '" + expected + "', got: " + added);
    }

    // ------------------------------------------------------------------ the checker

    static List<String> check(BloomHeader header, Bindings bindings) {
        List<String> problems = new ArrayList<>();
        header.unparsed().forEach(s -> problems.add("bloom.h declaration the drift test cannot read (extend "
                + "BloomHeader): " + s));
        if (header.functions().isEmpty()) {
            problems.add("no BLOOM_API function found in bloom.h; the header parser is broken");
        }
        checkFunctions(header, bindings, problems);
        checkConstants(header, bindings, problems);
        checkScalarTypedefs(header, bindings, problems);
        checkStructs(header, bindings, problems);
        checkCallbacks(header, bindings, problems);
        checkNoStrayClasses(header, bindings, problems);
        return problems;
    }

    private static void checkFunctions(BloomHeader header, Bindings b, List<String> problems) {
        for (BloomHeader.Function f : header.functions().values()) {
            if (f.variadic()) {
                // jextract binds a variadic function as a nested invoker class, not as a method.
                if (!b.headerMemberClasses().containsKey(f.name())) {
                    problems.add("missing binding for function " + f.name() + " (variadic: a nested class of bloom_h)");
                }
                continue;
            }
            List<Method> candidates = b.headerMethods().getOrDefault(f.name(), List.of());
            if (candidates.isEmpty()) {
                problems.add("missing binding for function " + f.name());
                continue;
            }
            Optional<Signature> expected = expectedSignature(header, f);
            if (expected.isEmpty()) {
                problems.add("function " + f.name() + " uses a C type the drift test cannot map: " + f);
                continue;
            }
            if (candidates.stream().map(Signature::of).noneMatch(expected.get()::equals)) {
                problems.add("function " + f.name() + " changed: bloom.h means " + expected.get()
                        + ", the bindings have " + candidates.stream().map(Signature::of).toList());
            }
        }
        for (String name : b.headerMethods().keySet()) {
            if (FUNCTION_NAME.matcher(name).matches() && !header.functions().containsKey(name)) {
                problems.add("binding for function " + name + " has no declaration in bloom.h");
            }
        }
        for (String name : b.headerMemberClasses().keySet()) {
            BloomHeader.Function f = header.functions().get(name);
            if (FUNCTION_NAME.matcher(name).matches() && (f == null || !f.variadic())) {
                problems.add("binding for function " + name + " has no declaration in bloom.h (nested class)");
            }
        }
    }

    private static Optional<Signature> expectedSignature(BloomHeader header, BloomHeader.Function f) {
        Optional<Class<?>> ret = javaType(header, f.returnType());
        List<Class<?>> params = new ArrayList<>();
        // A struct returned by value is written into memory from an allocator jextract puts first.
        if (!f.returnType().isPointer() && header.isStruct(f.returnType().baseName())) {
            params.add(SegmentAllocator.class);
        }
        for (BloomHeader.Param p : f.params()) {
            Optional<Class<?>> t = javaType(header, p.type());
            if (t.isEmpty()) {
                return Optional.empty();
            }
            params.add(t.get());
        }
        return ret.map(r -> new Signature(r, params));
    }

    private static void checkConstants(BloomHeader header, Bindings b, List<String> problems) {
        for (String name : header.constants().keySet()) {
            boolean present = b.headerMethods().getOrDefault(name, List.of()).stream()
                    .anyMatch(m -> m.getParameterCount() == 0);
            if (!present) {
                problems.add("missing binding for constant " + name + " (" + header.constants().get(name).origin() + ")");
            }
        }
        for (String name : b.headerMethods().keySet()) {
            if (CONSTANT_NAME.matcher(name).matches() && !header.constants().containsKey(name)) {
                problems.add("binding for constant " + name + " has no enumerator or #define in bloom.h");
            }
        }
    }

    static List<String> checkConstantValues(Map<String, BloomHeader.Constant> constants, Bindings b) {
        List<String> problems = new ArrayList<>();
        for (BloomHeader.Constant c : constants.values()) {
            if (c.value().isEmpty()) {
                continue; // not a plain integer (a string macro, an expression): presence is checked elsewhere
            }
            Optional<Method> accessor = b.headerMethods().getOrDefault(c.name(), List.of()).stream()
                    .filter(m -> m.getParameterCount() == 0).findFirst();
            if (accessor.isEmpty()) {
                problems.add("missing binding for constant " + c.name());
                continue;
            }
            Object actual;
            try {
                actual = accessor.get().invoke(null);
            } catch (IllegalAccessException | InvocationTargetException e) {
                problems.add("reading constant " + c.name() + " failed: " + e);
                continue;
            }
            if (!(actual instanceof Number n) || n.longValue() != c.value().get()) {
                problems.add("constant " + c.name() + " is " + actual + " in the bindings but " + c.value().get()
                        + " in bloom.h (" + c.origin() + ")");
            }
        }
        return problems;
    }

    private static void checkScalarTypedefs(BloomHeader header, Bindings b, List<String> problems) {
        for (String name : header.scalarTypedefs().keySet()) {
            if (!b.headerFields().contains(name)) {
                problems.add("missing binding for typedef " + name + " (a layout field of bloom_h)");
            }
        }
        for (String name : b.headerFields()) {
            if (FUNCTION_NAME.matcher(name).matches() && !header.scalarTypedefs().containsKey(name)) {
                problems.add("binding for typedef " + name + " has no typedef in bloom.h");
            }
        }
    }

    private static void checkStructs(BloomHeader header, Bindings b, List<String> problems) {
        for (BloomHeader.Struct s : header.structs().values()) {
            Class<?> cls = b.topLevelClasses().get(s.name());
            if (cls == null) {
                problems.add("missing class for struct " + s.name());
                continue;
            }
            Map<String, List<Method>> methods = publicStaticMethods(cls);
            for (BloomHeader.Field field : s.fields()) {
                Optional<Method> getter = methods.getOrDefault(field.name(), List.of()).stream()
                        .filter(m -> Arrays.equals(m.getParameterTypes(), new Class<?>[] {MemorySegment.class}))
                        .findFirst();
                if (getter.isEmpty()) {
                    problems.add("missing getter for field " + s.name() + "." + field.name());
                    continue;
                }
                Optional<Class<?>> expected = javaType(header, field.type());
                if (expected.isEmpty()) {
                    problems.add("field " + s.name() + "." + field.name() + " has a C type the drift test cannot "
                            + "map: " + field.type().text());
                } else if (getter.get().getReturnType() != expected.get()) {
                    problems.add("field " + s.name() + "." + field.name() + " changed: bloom.h means "
                            + expected.get().getSimpleName() + ", the getter returns "
                            + getter.get().getReturnType().getSimpleName());
                }
            }
            // Every field jextract generated has a NAME$offset() accessor; none may be missing from the header.
            Set<String> headerFields = s.fields().stream().map(BloomHeader.Field::name).collect(Collectors.toSet());
            for (String name : methods.keySet()) {
                if (name.endsWith("$offset")) {
                    String field = name.substring(0, name.length() - "$offset".length());
                    if (!headerFields.contains(field)) {
                        problems.add("binding for field " + s.name() + "." + field + " has no field in bloom.h");
                    }
                }
            }
        }
    }

    private static void checkCallbacks(BloomHeader header, Bindings b, List<String> problems) {
        for (BloomHeader.Callback cb : header.callbacks().values()) {
            Class<?> cls = b.topLevelClasses().get(cb.name());
            if (cls == null) {
                problems.add("missing class for callback typedef " + cb.name());
                continue;
            }
            Optional<Class<?>> fi = Arrays.stream(cls.getDeclaredClasses())
                    .filter(c -> c.getSimpleName().equals("Function") && c.isInterface()).findFirst();
            Optional<Method> apply = fi.flatMap(c -> Arrays.stream(c.getMethods())
                    .filter(m -> m.getName().equals("apply")).findFirst());
            if (apply.isEmpty()) {
                problems.add("callback class " + cb.name() + " has no Function.apply");
                continue;
            }
            boolean hasAllocate = publicStaticMethods(cls).getOrDefault("allocate", List.of()).stream()
                    .anyMatch(m -> Arrays.equals(m.getParameterTypes(), new Class<?>[] {fi.get(), Arena.class}));
            if (!hasAllocate) {
                problems.add("callback class " + cb.name() + " has no allocate(Function, Arena) for upcall stubs");
            }
            Optional<Class<?>> ret = javaType(header, cb.returnType());
            List<Class<?>> params = new ArrayList<>();
            for (BloomHeader.Param p : cb.params()) {
                javaType(header, p.type()).ifPresent(params::add);
            }
            if (ret.isEmpty() || params.size() != cb.params().size()) {
                problems.add("callback " + cb.name() + " uses a C type the drift test cannot map: " + cb);
                continue;
            }
            Signature expected = new Signature(ret.get(), params);
            if (!expected.equals(Signature.of(apply.get()))) {
                problems.add("callback " + cb.name() + " changed: bloom.h means " + expected
                        + ", the bindings have " + Signature.of(apply.get()));
            }
        }
    }

    private static void checkNoStrayClasses(BloomHeader header, Bindings b, List<String> problems) {
        for (String name : b.topLevelClasses().keySet()) {
            boolean headerPart = b.headerChain().stream().anyMatch(c -> c.getSimpleName().equals(name))
                    || name.equals("bloom_h$shared");
            if (!headerPart && !header.structs().containsKey(name) && !header.callbacks().containsKey(name)) {
                problems.add("generated class " + PACKAGE + "." + name + " has no struct or callback typedef in "
                        + "bloom.h");
            }
        }
    }

    /** The Java carrier jextract uses for a C type on Linux x86-64 (LP64), or empty for a type not listed. */
    static Optional<Class<?>> javaType(BloomHeader header, BloomHeader.CType type) {
        if (type.isPointer()) {
            return Optional.of(MemorySegment.class);
        }
        String base = type.baseName();
        Class<?> primitive = switch (base) {
            case "void" -> void.class;
            case "bool", "_Bool" -> boolean.class;
            case "char", "signed char", "unsigned char", "int8_t", "uint8_t" -> byte.class;
            case "short", "short int", "unsigned short", "unsigned short int", "int16_t", "uint16_t" -> short.class;
            case "int", "signed", "signed int", "unsigned", "unsigned int", "int32_t", "uint32_t" -> int.class;
            case "long", "long int", "unsigned long", "unsigned long int", "long long", "long long int",
                    "unsigned long long", "unsigned long long int", "int64_t", "uint64_t", "size_t", "ssize_t",
                    "ptrdiff_t", "intptr_t", "uintptr_t" -> long.class;
            case "float" -> float.class;
            case "double" -> double.class;
            default -> null;
        };
        if (primitive != null) {
            return Optional.of(primitive);
        }
        if (header.isEnum(base)) {
            return Optional.of(int.class);
        }
        if (header.isStruct(base) || header.isCallback(base)) {
            return Optional.of(MemorySegment.class);
        }
        return header.scalarTypedef(base).flatMap(t -> javaType(header, t));
    }

    record Signature(Class<?> returnType, List<Class<?>> params) {
        static Signature of(Method m) {
            return new Signature(m.getReturnType(), List.of(m.getParameterTypes()));
        }

        @Override
        public String toString() {
            return params.stream().map(Class::getSimpleName).collect(Collectors.joining(", ", "(", ")"))
                    + " -> " + returnType.getSimpleName();
        }
    }

    private static Map<String, List<Method>> publicStaticMethods(Class<?> cls) {
        Map<String, List<Method>> out = new LinkedHashMap<>();
        for (Method m : cls.getDeclaredMethods()) {
            int mod = m.getModifiers();
            if (Modifier.isPublic(mod) && Modifier.isStatic(mod) && !m.isSynthetic()) {
                out.computeIfAbsent(m.getName(), k -> new ArrayList<>()).add(m);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ the bindings, seen by reflection

    /**
     * The generated package as loaded classes, none of them initialised.
     *
     * @param headerChain       bloom_h and the classes it extends (jextract splits big headers into bloom_h_1, ...)
     * @param headerMethods     public static methods declared anywhere in that chain, by name
     * @param headerFields      public static fields declared in that chain
     * @param headerMemberClasses public nested classes of that chain, by simple name
     * @param topLevelClasses   every top-level class of the package, by simple name
     */
    record Bindings(List<Class<?>> headerChain, Map<String, List<Method>> headerMethods, Set<String> headerFields,
                    Map<String, Class<?>> headerMemberClasses, Map<String, Class<?>> topLevelClasses) {

        static Bindings load() {
            ClassLoader loader = BindingsDriftTest.class.getClassLoader();
            Class<?> bloomH;
            try {
                bloomH = Class.forName(HEADER_CLASS, false, loader);
            } catch (ClassNotFoundException e) {
                throw new AssertionError(HEADER_CLASS + " is not on the class path; " + FIX, e);
            }
            List<Class<?>> chain = new ArrayList<>();
            Map<String, List<Method>> methods = new LinkedHashMap<>();
            Set<String> fields = new TreeSet<>();
            Map<String, Class<?>> members = new LinkedHashMap<>();
            for (Class<?> c = bloomH; c != null && c != Object.class; c = c.getSuperclass()) {
                chain.add(c);
                publicStaticMethods(c).forEach((k, v) -> methods.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
                Arrays.stream(c.getDeclaredFields())
                        .filter(f -> Modifier.isPublic(f.getModifiers()) && Modifier.isStatic(f.getModifiers()))
                        .forEach(f -> fields.add(f.getName()));
                Arrays.stream(c.getDeclaredClasses())
                        .filter(m -> Modifier.isPublic(m.getModifiers()))
                        .forEach(m -> members.put(m.getSimpleName(), m));
            }
            Map<String, Class<?>> topLevel = new LinkedHashMap<>();
            for (String binaryName : classNamesInPackage(bloomH)) {
                try {
                    Class<?> c = Class.forName(binaryName, false, loader);
                    if (!c.isMemberClass() && !c.isAnonymousClass() && !c.isLocalClass() && !c.isSynthetic()) {
                        topLevel.put(binaryName.substring(PACKAGE.length() + 1), c);
                    }
                } catch (ClassNotFoundException e) {
                    throw new AssertionError("listed but not loadable: " + binaryName, e);
                }
            }
            return new Bindings(chain, methods, fields, members, topLevel);
        }

        /** Class names next to bloom_h, whether the package sits in a directory (target/classes) or a jar. */
        private static List<String> classNamesInPackage(Class<?> anchor) {
            String dir = PACKAGE.replace('.', '/');
            try {
                Path location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
                List<String> entries;
                if (Files.isDirectory(location)) {
                    try (Stream<Path> files = Files.list(location.resolve(dir))) {
                        entries = files.map(p -> dir + "/" + p.getFileName()).toList();
                    }
                } else {
                    try (JarFile jar = new JarFile(location.toFile())) {
                        entries = jar.stream().map(e -> e.getName())
                                .filter(n -> n.startsWith(dir + "/") && n.indexOf('/', dir.length() + 1) < 0)
                                .toList();
                    }
                }
                return entries.stream().filter(n -> n.endsWith(".class") && !n.endsWith("module-info.class"))
                        .map(n -> n.substring(0, n.length() - ".class".length()).replace('/', '.'))
                        .sorted().toList();
            } catch (IOException | URISyntaxException e) {
                throw new AssertionError("cannot list the classes of " + PACKAGE, e);
            }
        }
    }

    // ------------------------------------------------------------------ locating bloom.h

    /** Surefire runs in the module directory (bindings/); an IDE may run in the repository root. */
    static Path headerPath() {
        Path cwd = Path.of(System.getProperty("user.dir"));
        List<Path> candidates = List.of(
                cwd.resolve("../native/include/bloom.h").normalize(),
                cwd.resolve("native/include/bloom.h").normalize());
        return candidates.stream().filter(Files::isRegularFile).findFirst().orElseThrow(() -> new AssertionError(
                "bloom.h not found; looked at " + candidates + " (working directory " + cwd + ")"));
    }
}
