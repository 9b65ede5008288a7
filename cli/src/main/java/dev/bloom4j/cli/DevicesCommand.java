package dev.bloom4j.cli;

import dev.bloom4j.BloomRuntime;
import dev.bloom4j.Device;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code bloom devices}: the compute devices the native library can use. */
@Command(
        name = "devices",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "List the compute devices the native library can use: the GPUs of a CUDA-enabled library (none in a "
                    + "CPU-only build, or without a GPU or driver), then the CPU, then the devices of the --rpc "
                    + "servers (RPC0, RPC1, ..., described by their host:port). --main-gpu and --tensor-split count "
                    + "the GPU lines from 0 (the RPC devices are GPU lines).",
            ""},
        footer = {"", "Examples:", "  bloom devices --json", "  bloom devices --rpc 10.0.0.2:50052,10.0.0.3:50052"})
final class DevicesCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Option(names = "--json", description = "Print one JSON object {\"devices\": [{\"index\", \"name\", "
            + "\"description\", \"type\", \"memory_free\", \"memory_total\"}, ...]} instead of a table.")
    boolean json;

    @Option(names = "--rpc", paramLabel = "HOST:PORT", split = ",",
            description = "ggml RPC servers (`bloom rpc-server`) to connect to and list with their free memory.")
    List<String> rpc = new ArrayList<>();

    @Option(names = "--rpc-timeout", paramLabel = "MS",
            description = "How long to wait for each server, in milliseconds. Default: ${DEFAULT-VALUE}.")
    long rpcTimeoutMs = 5000;

    @Override
    public Integer call() {
        for (String server : rpc) {
            BloomRuntime.addRpcServer(server, java.time.Duration.ofMillis(rpcTimeoutMs));
        }
        List<Device> devices = BloomRuntime.devices();
        if (json) {
            List<Map<String, Object>> list = new ArrayList<>();
            for (Device d : devices) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("index", d.index());
                o.put("name", d.name());
                o.put("description", d.description());
                o.put("type", d.type().name().toLowerCase(java.util.Locale.ROOT));
                o.put("memory_free", d.memoryFree());
                o.put("memory_total", d.memoryTotal());
                list.add(o);
            }
            Json.print(main.out, Map.of("devices", list));
            return 0;
        }
        for (Device d : devices) {
            main.out.printf("%d  %-5s  %-8s  %9.1f / %.1f GiB free  %s%n", d.index(), d.type(), d.name(),
                    d.memoryFree() / 1073741824.0, d.memoryTotal() / 1073741824.0, d.description());
        }
        return 0;
    }
}
