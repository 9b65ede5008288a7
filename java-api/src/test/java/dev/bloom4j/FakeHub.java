package dev.bloom4j;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A Hugging Face hub on loopback, answering the endpoints huggingface_hub and bloom4j use the way huggingface.co
 * does: {@code GET /api/models/{repo}[/revision/{rev}]} (JSON with {@code sha} and {@code siblings}),
 * {@code HEAD}/{@code GET /{repo}/resolve/{rev}/{file}} (a git file: 200 with its git blob hash as ETag; an LFS file,
 * here *.safetensors and *.gguf: 302 to a content address with {@code X-Linked-Etag} = its sha256 and
 * {@code X-Linked-Size}; both with {@code X-Repo-Commit}), and {@code GET /cdn/{sha256}} honouring
 * {@code Range: bytes=N-} with 206. Errors carry {@code X-Error-Code} as the hub's do.
 *
 * <p>Faults for the tests: cut the next content download after some bytes, corrupt the next one, ignore ranges, hold
 * content downloads until a number of HEAD requests for a file have arrived.
 */
final class FakeHub implements AutoCloseable {

    record Request(String method, String path, String range, String authorization) {}

    private record Repo(String token, Map<String, String> refs, Map<String, Map<String, byte[]>> commits) {}

    private final HttpServer server;
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, byte[]> content = new ConcurrentHashMap<>();
    private final Map<String, String> renamed = new ConcurrentHashMap<>();
    final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger commitCounter = new AtomicInteger();

    volatile long cutNextContentAfter = -1;
    volatile boolean corruptNextContent;
    volatile boolean ignoreRanges;
    private volatile String gatedFile;
    private volatile CountDownLatch gate;

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext("/", this::handle);
        server.start();
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    /** Publishes every file under {@code directory} as one new commit of {@code repo} on branch main. */
    String publish(String repo, Path directory) {
        return publish(repo, directory, "main", null);
    }

    /** Publishes a directory as a new commit on {@code branch}; {@code token} non-null makes the repo gated. */
    String publish(String repo, Path directory, String branch, String token) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (Stream<Path> walk = Files.walk(directory)) {
            for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                files.put(directory.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return publish(repo, files, branch, token);
    }

    String publish(String repo, Map<String, byte[]> files, String branch, String token) {
        String commit = hex(digest("SHA-1", (repo + "#" + commitCounter.incrementAndGet()).getBytes(StandardCharsets.UTF_8)));
        Repo r = repos.computeIfAbsent(repo, k -> new Repo(token, new ConcurrentHashMap<>(), new ConcurrentHashMap<>()));
        r.commits.put(commit, new LinkedHashMap<>(files));
        r.refs.put(branch, commit);
        for (byte[] bytes : files.values()) {
            content.put(hex(digest("SHA-256", bytes)), bytes);
        }
        return commit;
    }

    /** Makes {@code oldId} a renamed repository: the hub answers 307 with a relative Location to {@code newId}. */
    void rename(String oldId, String newId) {
        renamed.put(oldId, newId);
    }

    /** Holds every content download of {@code file} until {@code heads} HEAD requests for it have arrived. */
    void gate(String file, int heads) {
        gate = new CountDownLatch(heads);
        gatedFile = file;
    }

    /** Requests whose path starts with {@code prefix} and whose method is {@code method}. */
    List<Request> requests(String method, String prefix) {
        synchronized (requests) {
            return requests.stream().filter(r -> r.method.equals(method) && r.path.startsWith(prefix)).toList();
        }
    }

    static boolean isLfs(String file) {
        return file.endsWith(".safetensors") || file.endsWith(".gguf");
    }

    static String sha256(byte[] bytes) {
        return hex(digest("SHA-256", bytes));
    }

    /** git's object name for a file: sha1 of "blob {size}\0" and the contents. */
    static String gitBlobHash(byte[] bytes) {
        byte[] header = ("blob " + bytes.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[header.length + bytes.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(bytes, 0, all, header.length, bytes.length);
        return hex(digest("SHA-1", all));
    }

    @Override
    public void close() {
        CountDownLatch g = gate;
        if (g != null) {
            while (g.getCount() > 0) {
                g.countDown();
            }
        }
        server.stop(0);
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }

    // ------------------------------------------------------------------------------------------ handling

    private void handle(HttpExchange ex) throws IOException {
        String path = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8);
        requests.add(new Request(ex.getRequestMethod(), path, ex.getRequestHeaders().getFirst("Range"),
                ex.getRequestHeaders().getFirst("Authorization")));
        try (ex) {
            if (path.startsWith("/api/models/")) {
                modelInfo(ex, path.substring("/api/models/".length()));
            } else if (path.startsWith("/cdn/")) {
                content(ex, path.substring("/cdn/".length()));
            } else if (path.contains("/resolve/")) {
                resolve(ex, path);
            } else {
                error(ex, 404, "EntryNotFound", "no route");
            }
        } catch (IOException e) {
            // a cut connection, as intended
        }
    }

    private void modelInfo(HttpExchange ex, String rest) throws IOException {
        String[] parts = rest.split("/", 4); // org, name, ["revision", rev]
        if (parts.length < 2) {
            error(ex, 404, "RepoNotFound", "Repository not found");
            return;
        }
        String repoId = parts[0] + "/" + parts[1];
        if (redirected(ex, repoId, "/api/models/" + rest)) {
            return;
        }
        String revision = parts.length == 4 && parts[2].equals("revision") ? parts[3] : "main";
        Repo repo = access(ex, repoId);
        if (repo == null) {
            return;
        }
        String commit = commitOf(repo, revision);
        if (commit == null) {
            error(ex, 404, "RevisionNotFound", "Invalid rev id: " + revision);
            return;
        }
        StringBuilder json = new StringBuilder("{\"id\":\"" + repoId + "\",\"modelId\":\"" + repoId + "\",\"sha\":\""
                + commit + "\",\"private\":false,\"siblings\":[");
        boolean first = true;
        for (String file : repo.commits.get(commit).keySet()) {
            json.append(first ? "" : ",").append("{\"rfilename\":\"").append(file).append("\"}");
            first = false;
        }
        json.append("]}");
        send(ex, 200, json.toString().getBytes(StandardCharsets.UTF_8), "application/json");
    }

    private void resolve(HttpExchange ex, String path) throws IOException {
        int at = path.indexOf("/resolve/");
        String repoId = path.substring(1, at);
        String[] revAndFile = path.substring(at + "/resolve/".length()).split("/", 2);
        if (redirected(ex, repoId, path)) {
            return;
        }
        Repo repo = access(ex, repoId);
        if (repo == null) {
            return;
        }
        String commit = commitOf(repo, revAndFile[0]);
        if (commit == null) {
            error(ex, 404, "RevisionNotFound", "Invalid rev id: " + revAndFile[0]);
            return;
        }
        String file = revAndFile.length > 1 ? revAndFile[1] : "";
        byte[] bytes = repo.commits.get(commit).get(file);
        if (bytes == null) {
            error(ex, 404, "EntryNotFound", file + " does not exist on \"" + revAndFile[0] + "\"");
            return;
        }
        Headers h = ex.getResponseHeaders();
        h.set("X-Repo-Commit", commit);
        boolean head = ex.getRequestMethod().equals("HEAD");
        if (isLfs(file)) {
            String sha = sha256(bytes);
            if (head && file.equals(gatedFile) && gate != null) {
                gate.countDown();
            }
            h.set("X-Linked-Etag", "\"" + sha + "\"");
            h.set("X-Linked-Size", Long.toString(bytes.length));
            h.set("ETag", "\"" + gitBlobHash(("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha)
                    .getBytes(StandardCharsets.UTF_8)) + "\"");
            h.set("Location", endpoint() + "/cdn/" + sha);
            ex.sendResponseHeaders(302, -1);
            return;
        }
        h.set("ETag", "W/\"" + gitBlobHash(bytes) + "\"");
        if (head) {
            h.set("Content-Length", Long.toString(bytes.length));
            ex.sendResponseHeaders(200, -1);
        } else {
            send(ex, 200, bytes, "application/octet-stream");
        }
    }

    private void content(HttpExchange ex, String sha) throws IOException {
        byte[] bytes = content.get(sha);
        if (bytes == null) {
            error(ex, 404, null, "no such object");
            return;
        }
        CountDownLatch g = gate;
        String gated = gatedFile;
        if (g != null && gated != null && isContentOf(gated, sha)) {
            try {
                g.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        long from = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && !ignoreRanges && range.startsWith("bytes=") && range.endsWith("-")) {
            from = Long.parseLong(range.substring(6, range.length() - 1));
        }
        if (from >= bytes.length && from > 0) {
            ex.getResponseHeaders().set("Content-Range", "bytes */" + bytes.length);
            ex.sendResponseHeaders(416, -1);
            return;
        }
        byte[] body = java.util.Arrays.copyOfRange(bytes, (int) from, bytes.length);
        if (corruptNextContent) {
            corruptNextContent = false;
            body[body.length / 2] ^= 0x5a;
        }
        if (from > 0) {
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (bytes.length - 1) + "/" + bytes.length);
        }
        ex.getResponseHeaders().set("Content-Type", "application/octet-stream");
        ex.sendResponseHeaders(from > 0 ? 206 : 200, body.length);
        long cut = cutNextContentAfter;
        OutputStream out = ex.getResponseBody();
        if (cut >= 0 && cut < body.length) {
            cutNextContentAfter = -1;
            out.write(body, 0, (int) cut);
            out.flush();
            // Closing short of the declared length makes the server drop the connection mid-body.
            return;
        }
        out.write(body);
    }

    private boolean isContentOf(String file, String sha) {
        for (Repo r : repos.values()) {
            for (Map<String, byte[]> files : r.commits.values()) {
                byte[] b = files.get(file);
                if (b != null && sha256(b).equals(sha)) {
                    return true;
                }
            }
        }
        return false;
    }

    private boolean redirected(HttpExchange ex, String repoId, String path) throws IOException {
        String target = renamed.get(repoId);
        if (target == null) {
            return false;
        }
        ex.getResponseHeaders().set("Location", path.replaceFirst(java.util.regex.Pattern.quote(repoId), target));
        ex.sendResponseHeaders(307, -1);
        return true;
    }

    /** The repo if the request may see it; otherwise answers 401/403/404 as the hub does and returns null. */
    private Repo access(HttpExchange ex, String repoId) throws IOException {
        Repo repo = repos.get(repoId);
        if (repo == null) {
            error(ex, 404, "RepoNotFound", "Repository not found");
            return null;
        }
        if (repo.token != null) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            if (auth == null) {
                error(ex, 401, "GatedRepo", "Access to model " + repoId + " is restricted. You must have access to it "
                        + "and be authenticated to access it. Please log in.");
                return null;
            }
            if (!auth.equals("Bearer " + repo.token)) {
                error(ex, 403, "GatedRepo", "Access to model " + repoId + " is restricted and you are not in the "
                        + "authorized list.");
                return null;
            }
        }
        return repo;
    }

    private static String commitOf(Repo repo, String revision) {
        if (repo.commits.containsKey(revision)) {
            return revision;
        }
        return repo.refs.get(revision);
    }

    private static void error(HttpExchange ex, int status, String code, String message) throws IOException {
        if (code != null) {
            ex.getResponseHeaders().set("X-Error-Code", code);
        }
        ex.getResponseHeaders().set("X-Error-Message", message);
        byte[] body = ("{\"error\":\"" + message.replace("\"", "'") + "\"}").getBytes(StandardCharsets.UTF_8);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
        } else {
            send(ex, status, body, "application/json");
        }
    }

    private static void send(HttpExchange ex, int status, byte[] body, String type) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        ex.getResponseBody().write(body);
    }

    private static byte[] digest(String algorithm, byte[] bytes) {
        try {
            return MessageDigest.getInstance(algorithm).digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }
}
