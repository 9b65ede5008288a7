package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.ModelInfo;
import dev.bloom4j.RemoteDeviceException;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models spread over hosts, on loopback: two {@code bloom rpc-server} processes (and a third that a test kills)
 * serve their CPU; a model split over this process's CPU and both servers must compute the local logits and greedy
 * ids, and servers that are absent or lost must fail the call that needs them, naming them, without ending the JVM.
 */
class RpcServerTest {

    private static final int LAYERS = 4;
    private static final int[] PROMPT = {1, 17, 250, 999, 3, 42, 511, 77, 600, 5};

    @TempDir
    static Path temp;

    static Path model;
    static final List<Process> servers = new ArrayList<>();
    static String a;
    static String b;

    @BeforeAll
    static void start() throws Exception {
        model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, LAYERS).withSequenceLength(256)).seed(23).build()
                .writeTo(temp.resolve("tiny"));
        a = startServer();
        b = startServer();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        for (Process p : servers) {
            p.destroyForcibly();
            p.waitFor();
        }
    }

    /** Starts {@code bloom rpc-server} in a JVM of its own on a free port; returns its host:port once it listens. */
    static String startServer() throws Exception {
        int port = freePort();
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "rpc-server", "--port",
                String.valueOf(port), "--threads", "1")
                .redirectErrorStream(true)
                .redirectOutput(temp.resolve("rpc-server-" + port + ".log").toFile())
                .start();
        servers.add(p);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return "127.0.0.1:" + port;
            } catch (IOException notYet) {
                assertTrue(p.isAlive(), "rpc-server on port " + port + " exited");
                assertTrue(System.nanoTime() < deadline, "rpc-server on port " + port + " did not come up");
                Thread.sleep(50);
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    record Run(float[][] logits, int[] greedy) {}

    static Run runModel(BloomModel m) {
        try (BloomSession s = m.newSession()) {
            s.evaluate(PROMPT, true);
            float[][] logits = s.logitsAll();
            s.clear();
            int[] greedy = s.generate(PROMPT, GenerationConfig.greedy().maxTokens(8).ignoreEos(true),
                    (id, text) -> true).ids();
            return new Run(logits, greedy);
        }
    }

    @Test
    void aModelSplitOverTheLocalCpuAndTwoHostsComputesTheLocalLogits() {
        Run local;
        try (BloomModel m = BloomModel.load(model, LoadOptions.builder().gpuLayers(0).build())) {
            local = runModel(m);
        }
        // Blocks 0-1 here, block 2 on the first server, block 3 on the second; the output layer here.
        LoadOptions split = LoadOptions.builder().rpcServers(a, b).splitMode(LoadOptions.SplitMode.LAYER)
                .gpuLayers(2).tensorSplit(1, 1).build();
        try (BloomModel m = BloomModel.load(model, split)) {
            ModelInfo info = m.info();
            assertEquals(2, info.gpuLayers());
            Run remote = runModel(m);
            double range = 0;
            double worst = 0;
            for (int t = 0; t < PROMPT.length; t++) {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int v = 0; v < local.logits()[t].length; v++) {
                    min = Math.min(min, local.logits()[t][v]);
                    max = Math.max(max, local.logits()[t][v]);
                    worst = Math.max(worst, Math.abs(local.logits()[t][v] - remote.logits()[t][v]));
                }
                range = Math.max(range, max - min);
            }
            assertTrue(range > 0);
            assertTrue(worst <= 1e-5 * range, "logits differ by " + worst + " of a range of " + range);
            assertArrayEquals(local.greedy(), remote.greedy());
        }
    }

    @Test
    void theCliTakesRpcServersAndListsTheirDevices() {
        MainTest.Result devices = run("devices", "--rpc", a + "," + b);
        assertEquals(0, devices.status(), devices.err());
        assertTrue(devices.out().contains(a) && devices.out().contains(b), devices.out());
        assertTrue(devices.out().contains("RPC"), devices.out());

        String[] common = {"--model", model.toString(), "--prompt", "Hello there", "--max-tokens", "6",
            "--ignore-eos", "--threads", "1"};
        MainTest.Result local = run(concat(new String[] {"generate", "--gpu-layers", "0"}, common));
        MainTest.Result split = run(concat(new String[] {"generate", "--rpc", a + "," + b, "--split-mode", "layer",
            "--gpu-layers", "3", "--tensor-split", "1,2"}, common));
        assertEquals(0, local.status(), local.err());
        assertEquals(0, split.status(), split.err());
        assertEquals(local.out(), split.out());
    }

    @Test
    void anUnreachableHostFailsTheLoadNamingIt() throws Exception {
        String nobody = "127.0.0.1:" + freePort();
        long t0 = System.nanoTime();
        RemoteDeviceException e = assertThrows(RemoteDeviceException.class, () -> BloomModel.load(model,
                LoadOptions.builder().rpcServers(a, nobody).splitMode(LoadOptions.SplitMode.LAYER).build()));
        assertTrue(e.getMessage().contains(nobody), e.getMessage());
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());

        MainTest.Result cli = run("generate", "--model", model.toString(), "--rpc", nobody, "--prompt", "Hi",
                "--max-tokens", "2");
        assertEquals(1, cli.status());
        assertTrue(cli.err().contains("cannot reach RPC server " + nobody), cli.err());
    }

    @Test
    void aHostLostMidGenerationFailsThatCallAndTheJvmGoesOn() throws Exception {
        String doomed = startServer();
        Process server = servers.get(servers.size() - 1);
        BloomModel m = BloomModel.load(model, LoadOptions.builder().rpcServers(doomed).build());
        BloomSession s = m.newSession();
        RemoteDeviceException e = assertThrows(RemoteDeviceException.class, () -> s.generate(PROMPT,
                GenerationConfig.greedy().maxTokens(20).ignoreEos(true), (id, text) -> {
                    server.destroyForcibly();
                    try {
                        server.waitFor();
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                    }
                    return true;
                }));
        assertTrue(e.getMessage().contains(doomed), e.getMessage());
        // Every later call fails at once; closing returns (leaking what lived on the lost host).
        long t0 = System.nanoTime();
        RemoteDeviceException again = assertThrows(RemoteDeviceException.class, () -> s.evaluate(new int[] {5}));
        assertTrue(again.getMessage().contains(doomed), again.getMessage());
        s.close();
        m.close();
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos());
        RemoteDeviceException reload = assertThrows(RemoteDeviceException.class,
                () -> BloomModel.load(model, LoadOptions.builder().rpcServers(doomed).build()));
        assertTrue(reload.getMessage().contains("lost earlier"), reload.getMessage());
        // The other servers still serve this JVM.
        try (BloomModel other = BloomModel.load(model, LoadOptions.builder().rpcServers(a)
                .splitMode(LoadOptions.SplitMode.LAYER).build())) {
            assertEquals(8, runModel(other).greedy().length);
        }
    }

    @Test
    void badRpcOptionsAreRefusedNamingThem() {
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().rpcServers("localhost").build());
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().rpcServers(a, a).build());
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().rpcServers(a)
                .splitMode(LoadOptions.SplitMode.ROW).build());
        assertThrows(IllegalArgumentException.class, () -> LoadOptions.builder().tensorSplit(1, -1).build());
        MainTest.Result r = run("rpc-server", "--port", "0");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("--port"), r.err());
    }

    private static String[] concat(String[] head, String[] tail) {
        List<String> all = new ArrayList<>(List.of(head));
        all.addAll(List.of(tail));
        return all.toArray(String[]::new);
    }
}
