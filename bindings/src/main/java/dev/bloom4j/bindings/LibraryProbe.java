package dev.bloom4j.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Function;

/**
 * A candidate libbloom.so opened on its own, outside the class loader, so that its ABI version can be read before
 * {@code System.load} makes it the library the bindings call (a loaded library can never be unloaded again).
 *
 * <p>The library is opened with the C library's {@code dlopen}, whose {@code dlerror} text says why a load failed
 * ("invalid ELF header", "version `GLIBCXX_3.4.32' not found", ...); {@link SymbolLookup#libraryLookup} only says
 * that it failed, so it is the fallback where {@code dlopen} cannot be found. Closing the probe after
 * {@code System.load} keeps the library mapped (the loader holds its own reference), so its static initialisers run
 * once.
 */
final class LibraryProbe implements AutoCloseable {

    /** Why a candidate was rejected; the message completes "&lt;place&gt;: ". */
    static final class Rejected extends Exception {
        private static final long serialVersionUID = 1L;

        Rejected(String message) {
            super(message, null, false, false);
        }
    }

    static final String ABI_SYMBOL = "bloom_abi_version";

    private static final Linker LINKER = Linker.nativeLinker();
    private static final int RTLD_NOW = 2; // <dlfcn.h>, the same on every Linux libc
    private static final Optional<Dl> DL = Dl.find();

    /** dlopen, dlsym, dlerror and dlclose from the C library, when the platform's default lookup has them. */
    private record Dl(MethodHandle dlopen, MethodHandle dlsym, MethodHandle dlerror, MethodHandle dlclose) {
        static Optional<Dl> find() {
            SymbolLookup libc = LINKER.defaultLookup();
            Optional<MemorySegment> open = libc.find("dlopen");
            Optional<MemorySegment> sym = libc.find("dlsym");
            Optional<MemorySegment> error = libc.find("dlerror");
            Optional<MemorySegment> close = libc.find("dlclose");
            if (open.isEmpty() || sym.isEmpty() || error.isEmpty() || close.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(new Dl(
                    LINKER.downcallHandle(open.get(),
                            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT)),
                    LINKER.downcallHandle(sym.get(),
                            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS)),
                    LINKER.downcallHandle(error.get(), FunctionDescriptor.of(ValueLayout.ADDRESS)),
                    LINKER.downcallHandle(close.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS))));
        }
    }

    private final MemorySegment dlHandle; // from dlopen, or null when libraryLookup was used
    private final Arena lookupArena;      // owns the libraryLookup handle, or null when dlopen was used
    private final MemorySegment abiFunction;

    private LibraryProbe(MemorySegment dlHandle, Arena lookupArena, MemorySegment abiFunction) {
        this.dlHandle = dlHandle;
        this.lookupArena = lookupArena;
        this.abiFunction = abiFunction;
    }

    /** Opens {@code library} and finds its {@code bloom_abi_version}; the caller closes the probe. */
    static LibraryProbe open(Path library) throws Rejected {
        return DL.isPresent() ? openWithDl(DL.get(), library) : openWithLookup(library);
    }

    /**
     * Opens a library that stays loaded for the rest of the process (the NVIDIA driver, say) and returns its symbol
     * lookup; {@link Rejected} says why the dynamic loader refused it.
     */
    static Function<String, Optional<MemorySegment>> openForGood(String name) throws Rejected {
        if (DL.isEmpty()) {
            try {
                return SymbolLookup.libraryLookup(name, Arena.global())::find;
            } catch (IllegalArgumentException e) {
                throw new Rejected("the dynamic loader refused " + name + ": " + e.getMessage());
            }
        }
        Dl dl = DL.get();
        MemorySegment handle;
        try (Arena arena = Arena.ofConfined()) {
            handle = (MemorySegment) dl.dlopen().invokeExact(arena.allocateFrom(name), RTLD_NOW);
            if (handle.equals(MemorySegment.NULL)) {
                throw new Rejected(dlerror(dl));
            }
        } catch (Rejected e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("calling dlopen failed", t);
        }
        return symbol -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment address = (MemorySegment) dl.dlsym().invokeExact(handle, arena.allocateFrom(symbol));
                return address.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(address);
            } catch (Throwable t) {
                throw new IllegalStateException("calling dlsym failed", t);
            }
        };
    }

    private static LibraryProbe openWithDl(Dl dl, Path library) throws Rejected {
        MemorySegment handle;
        MemorySegment function;
        try (Arena arena = Arena.ofConfined()) {
            handle = (MemorySegment) dl.dlopen().invokeExact(arena.allocateFrom(library.toString()), RTLD_NOW);
            if (handle.equals(MemorySegment.NULL)) {
                throw new Rejected("the dynamic loader refused it: " + dlerror(dl));
            }
            function = (MemorySegment) dl.dlsym().invokeExact(handle, arena.allocateFrom(ABI_SYMBOL));
        } catch (Rejected e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("calling dlopen/dlsym failed", t);
        }
        if (function.equals(MemorySegment.NULL)) {
            close(dl, handle);
            throw new Rejected("not a bloom4j library: it has no " + ABI_SYMBOL + " symbol");
        }
        return new LibraryProbe(handle, null, function);
    }

    private static LibraryProbe openWithLookup(Path library) throws Rejected {
        Arena arena = Arena.ofShared();
        try {
            SymbolLookup lookup = SymbolLookup.libraryLookup(library, arena);
            Optional<MemorySegment> function = lookup.find(ABI_SYMBOL);
            if (function.isEmpty()) {
                arena.close();
                throw new Rejected("not a bloom4j library: it has no " + ABI_SYMBOL + " symbol");
            }
            return new LibraryProbe(null, arena, function.get());
        } catch (IllegalArgumentException e) {
            arena.close();
            throw new Rejected("the dynamic loader refused it: " + e.getMessage());
        }
    }

    private static String dlerror(Dl dl) throws Throwable {
        MemorySegment text = (MemorySegment) dl.dlerror().invokeExact();
        // dlerror's text is NUL-terminated and of unknown length; reading stops at the NUL.
        return text.equals(MemorySegment.NULL) ? "(no error text)" : text.reinterpret(Integer.MAX_VALUE).getString(0);
    }

    private static void close(Dl dl, MemorySegment handle) {
        try {
            int ignored = (int) dl.dlclose().invokeExact(handle);
        } catch (Throwable t) {
            throw new IllegalStateException("calling dlclose failed", t);
        }
    }

    /** Calls the library's {@code uint32_t bloom_abi_version(void)}. */
    int abiVersion() {
        try {
            MethodHandle call = LINKER.downcallHandle(abiFunction, FunctionDescriptor.of(ValueLayout.JAVA_INT));
            return (int) call.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("calling " + ABI_SYMBOL + " failed", t);
        }
    }

    @Override
    public void close() {
        if (dlHandle != null) {
            close(DL.orElseThrow(), dlHandle);
        } else {
            lookupArena.close();
        }
    }
}
