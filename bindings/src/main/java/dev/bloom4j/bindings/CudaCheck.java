package dev.bloom4j.bindings;

import java.io.IOException;
import java.io.StringReader;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Whether the CUDA variant of libbloom.so (the {@code bloom4j-natives-cuda} artifact) can use a GPU on this machine,
 * asked of the NVIDIA driver itself ({@code libcuda.so.1}, opened through FFM) before the variant is loaded. A loaded
 * library cannot be unloaded again, and a CUDA build that finds no GPU runs on its own x86-64-v3 CPU code, slower
 * than the CPU variant this CPU would pick: so without a usable GPU the loader skips it.
 *
 * <p>What the build needs comes from {@value #PROPERTIES_FILE} beside it in the jar (written by CMake, see
 * cmake/cuda.cmake):
 * <ul>
 *   <li>{@code cuda.version}: the CUDA toolkit it was compiled with; its runtime (libcudart.so.13 for 13.x) needs a
 *       driver for that major version or later;</li>
 *   <li>{@code cuda.architectures}: CMake's CUDA_ARCHITECTURES, e.g. {@code 80;90}. {@code 90} is machine code for
 *       compute capability 9.x plus PTX that the driver compiles for any newer GPU; {@code 90-real} machine code
 *       only; {@code 90-virtual} PTX only; {@code 90a} machine code for exactly 9.0. {@code all}, {@code native} and
 *       the like are not checked.</li>
 * </ul>
 * A missing file or key leaves that requirement unchecked.
 */
final class CudaCheck {

    static final String PROPERTIES_FILE = "cuda.properties";

    private CudaCheck() {
    }

    /** One entry of CUDA_ARCHITECTURES: machine code (SASS) and/or PTX for compute capability major.minor. */
    record Architecture(int major, int minor, boolean sass, boolean ptx, boolean exact) {
        private static final Pattern FORM = Pattern.compile("(\\d+)([af]?)(-real|-virtual)?");

        /** The entry's form, or empty for one this check does not understand ({@code all}, {@code native}, ...). */
        static Optional<Architecture> parse(String entry) {
            Matcher m = FORM.matcher(entry.strip());
            if (!m.matches()) {
                return Optional.empty();
            }
            int number = Integer.parseInt(m.group(1));
            boolean specific = m.group(2).equals("a");      // sm_90a: that GPU only, no PTX for others
            String kind = m.group(3) == null ? "" : m.group(3);
            boolean sass = !kind.equals("-virtual");
            boolean ptx = !kind.equals("-real") && !specific;
            return Optional.of(new Architecture(number / 10, number % 10, sass, ptx, specific));
        }

        /** Whether a GPU of compute capability major.minor runs this code (PTX through the driver's compiler). */
        boolean runsOn(int gpuMajor, int gpuMinor) {
            int gpu = gpuMajor * 10 + gpuMinor;
            int self = major * 10 + minor;
            if (exact) {
                return gpu == self;
            }
            return (sass && gpuMajor == major && gpuMinor >= minor) || (ptx && gpu >= self);
        }

        @Override
        public String toString() {
            return major + "." + minor;
        }
    }

    /**
     * What a CUDA build needs.
     *
     * @param cudaMajor     the major version of the CUDA toolkit it was built with; empty when unknown
     * @param architectures the architectures it has code for; empty when unknown (not checked)
     * @param declared      cuda.architectures as written, for messages
     */
    record Requirements(Optional<Integer> cudaMajor, List<Architecture> architectures, String declared) {
        Requirements {
            Objects.requireNonNull(cudaMajor, "cudaMajor");
            architectures = List.copyOf(architectures);
            Objects.requireNonNull(declared, "declared");
        }

        static final Requirements UNKNOWN = new Requirements(Optional.empty(), List.of(), "");

        /** Reads {@value #PROPERTIES_FILE}'s text; a key that is missing or unreadable is not checked. */
        static Requirements parse(String text) {
            Properties p = new Properties();
            try {
                p.load(new StringReader(text));
            } catch (IOException | IllegalArgumentException e) {
                return UNKNOWN;
            }
            Optional<Integer> major = Optional.ofNullable(p.getProperty("cuda.version"))
                    .map(v -> v.strip().split("\\.")[0])
                    .filter(v -> v.matches("\\d{1,3}"))
                    .map(Integer::parseInt);
            String declared = p.getProperty("cuda.architectures", "").strip();
            List<Architecture> archs = new ArrayList<>();
            for (String entry : declared.split("[;,]")) {
                Optional<Architecture> a = Architecture.parse(entry);
                if (a.isEmpty()) {
                    // One entry not understood ("all", "native"): the build may run anywhere, so check nothing.
                    archs.clear();
                    break;
                }
                archs.add(a.get());
            }
            return new Requirements(major, archs, declared);
        }
    }

    /** A GPU as the driver reports it. */
    record Device(int ordinal, String name, int major, int minor) {
        @Override
        public String toString() {
            return "GPU " + ordinal + " " + name + " (compute capability " + major + "." + minor + ")";
        }
    }

    /**
     * What the NVIDIA driver said.
     *
     * @param unavailable   why libcuda.so.1 could not be opened (no driver); empty when it was
     * @param initError     cuInit's CUresult (0: success)
     * @param initErrorName its name from cuGetErrorName, e.g. {@code CUDA_ERROR_NO_DEVICE}
     * @param driverVersion cuDriverGetVersion: 1000 * major + 10 * minor, e.g. 13000 for CUDA 13.0
     * @param devices       the GPUs the driver lists (after CUDA_VISIBLE_DEVICES)
     */
    record DriverState(Optional<String> unavailable, int initError, String initErrorName, int driverVersion,
                       List<Device> devices) {
        DriverState {
            Objects.requireNonNull(unavailable, "unavailable");
            Objects.requireNonNull(initErrorName, "initErrorName");
            devices = List.copyOf(devices);
        }

        static DriverState noDriver(String why) {
            return new DriverState(Optional.of(why), 0, "", 0, List.of());
        }
    }

    /** Why a build with these requirements cannot use a GPU in this driver state; empty when it can. */
    static Optional<String> whyUnusable(Requirements needs, DriverState driver) {
        if (driver.unavailable().isPresent()) {
            return Optional.of("no NVIDIA driver: " + driver.unavailable().get());
        }
        if (driver.initError() != 0) {
            return Optional.of("the NVIDIA driver's cuInit failed with " + driver.initErrorName() + " ("
                    + driver.initError() + ")" + (driver.initError() == CUDA_ERROR_NO_DEVICE
                    ? ": no GPU is visible (CUDA_VISIBLE_DEVICES, container device options)" : ""));
        }
        if (needs.cudaMajor().isPresent() && driver.driverVersion() / 1000 < needs.cudaMajor().get()) {
            return Optional.of("the NVIDIA driver supports CUDA " + driver.driverVersion() / 1000 + "."
                    + driver.driverVersion() % 1000 / 10 + ", this build needs CUDA " + needs.cudaMajor().get()
                    + ".0 or later (update the driver)");
        }
        if (driver.devices().isEmpty()) {
            return Optional.of("the NVIDIA driver lists no GPU");
        }
        if (needs.architectures().isEmpty()
                || driver.devices().stream().anyMatch(d -> needs.architectures().stream()
                .anyMatch(a -> a.runsOn(d.major(), d.minor())))) {
            return Optional.empty();
        }
        return Optional.of("no GPU here can run this build's code (" + String.join(", ",
                driver.devices().stream().map(Device::toString).toList()) + "; the build has code for compute"
                + " capability " + String.join(", ", needs.architectures().stream().map(Object::toString).toList())
                + ", cuda.architectures=" + needs.declared() + ")");
    }

    /** The CUDA build's verdict for the resolver: its {@value #PROPERTIES_FILE} text (if any) to a reason. */
    static Function<Optional<String>, Optional<String>> againstDriver() {
        return text -> whyUnusable(text.map(Requirements::parse).orElse(Requirements.UNKNOWN), queryDriver());
    }

    private static final int CUDA_ERROR_NO_DEVICE = 100;
    private static final int ATTRIBUTE_CC_MAJOR = 75;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    private static final int ATTRIBUTE_CC_MINOR = 76;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

    /**
     * Asks libcuda.so.1: cuInit, cuDriverGetVersion, then each device's name and compute capability. The driver
     * library stays loaded (the CUDA runtime would load it again; unloading an initialised driver is not safe).
     */
    static DriverState queryDriver() {
        Function<String, Optional<MemorySegment>> symbols;
        try {
            symbols = LibraryProbe.openForGood("libcuda.so.1");
        } catch (LibraryProbe.Rejected e) {
            return DriverState.noDriver(e.getMessage());
        }
        Linker linker = Linker.nativeLinker();
        Function<String, MethodHandle> function = name -> symbols.apply(name)
                .map(address -> linker.downcallHandle(address, intResult(name)))
                .orElseThrow(() -> new IllegalStateException("libcuda.so.1 has no " + name));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            int init = (int) function.apply("cuInit").invokeExact(0);
            if (init != 0) {
                return new DriverState(Optional.empty(), init, errorName(symbols, init, arena), 0, List.of());
            }
            check((int) function.apply("cuDriverGetVersion").invokeExact(out), "cuDriverGetVersion");
            int version = out.get(ValueLayout.JAVA_INT, 0);
            check((int) function.apply("cuDeviceGetCount").invokeExact(out), "cuDeviceGetCount");
            int count = out.get(ValueLayout.JAVA_INT, 0);
            MethodHandle get = function.apply("cuDeviceGet");
            MethodHandle attribute = function.apply("cuDeviceGetAttribute");
            MethodHandle name = function.apply("cuDeviceGetName");
            MemorySegment text = arena.allocate(256);
            List<Device> devices = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                check((int) get.invokeExact(out, i), "cuDeviceGet");
                int device = out.get(ValueLayout.JAVA_INT, 0);
                check((int) attribute.invokeExact(out, ATTRIBUTE_CC_MAJOR, device), "cuDeviceGetAttribute");
                int major = out.get(ValueLayout.JAVA_INT, 0);
                check((int) attribute.invokeExact(out, ATTRIBUTE_CC_MINOR, device), "cuDeviceGetAttribute");
                int minor = out.get(ValueLayout.JAVA_INT, 0);
                check((int) name.invokeExact(text, (int) text.byteSize(), device), "cuDeviceGetName");
                devices.add(new Device(i, text.getString(0), major, minor));
            }
            return new DriverState(Optional.empty(), 0, "", version, devices);
        } catch (DriverCallFailed e) {
            return DriverState.noDriver(e.getMessage());
        } catch (RuntimeException e) {
            return DriverState.noDriver("libcuda.so.1 could not be queried (" + e.getMessage() + ")");
        } catch (Throwable t) {
            throw new IllegalStateException("calling libcuda.so.1 failed", t);
        }
    }

    private static final class DriverCallFailed extends Exception {
        private static final long serialVersionUID = 1L;

        DriverCallFailed(String message) {
            super(message, null, false, false);
        }
    }

    private static void check(int result, String call) throws DriverCallFailed {
        if (result != 0) {
            throw new DriverCallFailed("libcuda.so.1's " + call + " failed with CUresult " + result);
        }
    }

    /** Every driver call used here returns a CUresult (int); the arguments are pointers and ints. */
    private static FunctionDescriptor intResult(String name) {
        return switch (name) {
            case "cuInit" -> FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
            case "cuDriverGetVersion", "cuDeviceGetCount" ->
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS);
            case "cuDeviceGet" -> FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT);
            case "cuDeviceGetAttribute", "cuDeviceGetName" ->
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT);
            case "cuGetErrorName" -> FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS);
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** cuGetErrorName's text for a CUresult, or {@code CUresult <n>}. */
    private static String errorName(Function<String, Optional<MemorySegment>> symbols, int result, Arena arena) {
        Optional<MemorySegment> address = symbols.apply("cuGetErrorName");
        if (address.isEmpty()) {
            return "CUresult " + result;
        }
        try {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int status = (int) Linker.nativeLinker().downcallHandle(address.get(), intResult("cuGetErrorName"))
                    .invokeExact(result, out);
            MemorySegment text = out.get(ValueLayout.ADDRESS, 0);
            return status != 0 || text.equals(MemorySegment.NULL) ? "CUresult " + result
                    : text.reinterpret(Integer.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            return "CUresult " + result;
        }
    }
}
