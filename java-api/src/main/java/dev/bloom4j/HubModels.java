package dev.bloom4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Models by name: resolves {@code org/name[@revision][:quantization]} to a checkpoint directory or GGUF file in the
 * Hugging Face hub cache, downloading what is missing into the same layout Python's {@code huggingface_hub} uses,
 * so {@code transformers} finds those files afterwards and bloom4j finds what {@code transformers} fetched.
 * {@snippet :
 * HubModels hub = HubModels.fromEnvironment();                        // HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, ...
 * Path dir = hub.resolve("bigscience/bloom-560m");                    // .../snapshots/<commit>
 * Path gguf = hub.resolve("someone/bloom-560m-GGUF:q8_0");            // .../snapshots/<commit>/bloom-560m-Q8_0.gguf
 * try (var model = BloomModel.load(dir)) {
 *     // ...
 * }
 * }
 *
 * <p><b>Cache layout</b> (that of huggingface_hub): {@code <cache>/models--org--name/} holds {@code refs/<revision>}
 * (the commit hash, as text), {@code blobs/<etag>} (the file contents, named by the sha256 of an LFS file or the git
 * hash of another) and {@code snapshots/<commit>/<path>}, a relative symbolic link to the blob. A download is written
 * to {@code blobs/<etag>.incomplete}, resumed from there with an HTTP {@code Range}, checked (the sha256 of an LFS
 * file against its ETag, the git hash of another) and renamed into place atomically. A lock file in
 * {@code <cache>/.locks/models--org--name/} keeps two processes from fetching one blob twice.
 *
 * <p><b>Which files.</b> A safetensors checkpoint: {@code config.json}, {@code tokenizer.json},
 * {@code tokenizer_config.json} when present, and {@code model.safetensors} or {@code model.safetensors.index.json}
 * with its shards; never {@code pytorch_model.bin} and the like. With a quantization, or in a repository of GGUF
 * files only, one GGUF file: the one whose quantization label is the tag (case-insensitive), else the one whose name
 * contains it; without a tag, Q4_K_M as llama.cpp picks, else the first present of Q4_K_S, Q5_K_M, Q4_0, Q5_0,
 * Q6_K, Q8_0, F16, BF16, F32, else the first GGUF file by name.
 *
 * <p><b>Online and offline.</b> Online, every resolve asks the hub which commit the revision is (one request) and
 * fetches only files the snapshot lacks; if the hub cannot be reached, a snapshot the cache already holds completely
 * is used, with a warning on the {@link System.Logger} {@code dev.bloom4j.hub}. Offline ({@link HubConfig#offline()},
 * {@code HF_HUB_OFFLINE=1}) nothing is opened: names resolve from {@code refs/} and {@code snapshots/} alone.
 *
 * <p>Thread-safe; several threads and processes may resolve and download at once.
 */
public final class HubModels {

    private static final System.Logger LOG = System.getLogger("dev.bloom4j.hub");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final String INCOMPLETE = ".incomplete";
    private static final int NETWORK_RETRIES = 3;
    private static final int BUFFER = 1 << 16;

    /** FileChannel locks are per process: threads of this one queue here before taking the file lock. */
    private static final ConcurrentHashMap<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();

    private final HubConfig config;
    private final HubClient client;

    private HubModels(HubConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.client = new HubClient(config);
    }

    /** The hub as this process's environment configures it ({@link HubConfig#fromEnvironment()}). */
    public static HubModels fromEnvironment() {
        return new HubModels(HubConfig.fromEnvironment());
    }

    /** The hub with this configuration. */
    public static HubModels of(HubConfig config) {
        return new HubModels(config);
    }

    /** The configuration in use. */
    public HubConfig config() {
        return config;
    }

    /**
     * Whether {@code model} is read as a hub name rather than a path when no file or directory of that name exists:
     * it contains a {@code '/'} and does not start as a path does ({@code /}, {@code .}, {@code ~}, a drive letter,
     * a backslash anywhere).
     */
    public static boolean isHubName(String model) {
        Objects.requireNonNull(model, "model");
        String m = model.strip();
        return m.contains("/") && !m.startsWith("/") && !m.startsWith(".") && !m.startsWith("~")
                && !m.contains("\\") && !m.matches("^[A-Za-z]:.*");
    }

    /**
     * A local path when {@code model} names an existing file or directory, else the checkpoint directory or GGUF file
     * of hub name {@code model} ({@link HubName#parse}), downloaded first when the cache lacks it.
     *
     * @throws IllegalArgumentException {@code model} is neither an existing path nor a valid hub name
     * @throws ModelNotFoundException   no such path, repository, revision or file; offline and not cached
     * @throws ModelDownloadException   access refused (HTTP 401/403), network failure, a hub error, a bad checksum
     * @throws ModelFormatException     the repository has no weights bloom4j can read, or only a split GGUF
     */
    public Path resolve(String model) {
        return resolve(model, null);
    }

    /** {@link #resolve(String)}, reporting downloads to {@code listener} ({@code null} for none). */
    public Path resolve(String model, DownloadListener listener) {
        Objects.requireNonNull(model, "model");
        Path path = null;
        try {
            path = Path.of(model);
        } catch (InvalidPathException ignored) {
            // not a path on this system: only a hub name can be meant
        }
        if (path != null && Files.exists(path)) {
            return path;
        }
        if (!isHubName(model)) {
            throw HubFiles.notFound("model not found: " + model + " (no such file or directory; a hub model is named "
                    + "org/name[@revision][:quantization], e.g. bigscience/bloom-560m)");
        }
        HubName name;
        try {
            name = HubName.parse(model);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + "; nor is there a file or directory " + model, e);
        }
        try {
            return download(name, listener, false);
        } catch (ModelNotFoundException | ModelDownloadException e) {
            // A mistyped relative path reads as a hub name: say that it is not a local path either.
            if (path == null) {
                throw e;
            }
            String message = e.getMessage() + " (and there is no file or directory " + path.toAbsolutePath() + ")";
            throw e instanceof ModelDownloadException d ? new ModelDownloadException(message, d.httpStatus(), e)
                    : HubFiles.notFound(message);
        }
    }

    /**
     * The checkpoint directory or GGUF file of {@code name} in the cache, downloading what is missing. With
     * {@code verify}, files already cached are checked against their blob names (sha256 or git hash) and fetched
     * again if they do not match; without it, a cached file is trusted, as huggingface_hub trusts it.
     *
     * @return {@code snapshots/<commit>} for a checkpoint, {@code snapshots/<commit>/<file>.gguf} for a GGUF file
     * @throws ModelNotFoundException  no such repository, revision or file; offline and not cached
     * @throws ModelDownloadException  access refused (HTTP 401/403), network failure, a hub error, a bad checksum
     * @throws ModelFormatException    the repository has no weights bloom4j can read, or only a split GGUF
     */
    public Path download(HubName name, DownloadListener listener, boolean verify) {
        Objects.requireNonNull(name, "name");
        Path repo = repoDirectory(name);
        if (config.offline()) {
            return fromCache(name, repo, verify, "HF_HUB_OFFLINE is set");
        }
        HubClient.RepoInfo info;
        try {
            info = client.repoInfo(name);
        } catch (ModelDownloadException e) {
            if (e.httpStatus() != 0) {
                throw e;
            }
            try {
                Path cached = fromCache(name, repo, verify, "the hub cannot be reached");
                LOG.log(System.Logger.Level.WARNING, "{0}; using the cached snapshot {1}", e.getMessage(), cached);
                return cached;
            } catch (BloomException notCached) {
                e.addSuppressed(notCached);
                throw e;
            }
        }
        try {
            HubFiles.Plan plan = HubFiles.plan(name, info.files(), "on the hub");
            Files.createDirectories(repo);
            if (!name.isCommit()) {
                writeRef(repo, name.revision(), info.commit());
            }
            Path snapshot = repo.resolve("snapshots").resolve(info.commit());
            for (String file : plan.files()) {
                fetch(name, info.commit(), snapshot, file, listener, verify);
            }
            if (plan instanceof HubFiles.Checkpoint c && c.sharded()) {
                for (String shard : shards(name, snapshot)) {
                    if (!info.files().contains(shard)) {
                        throw HubFiles.notFound(name + ": " + HubFiles.SAFETENSORS_INDEX + " names shard " + shard
                                + ", which " + name.repository() + " does not hold on the hub");
                    }
                    fetch(name, info.commit(), snapshot, shard, listener, verify);
                }
            }
            return plan instanceof HubFiles.Gguf g ? snapshot.resolve(g.file()) : snapshot;
        } catch (IOException e) {
            throw cacheFailure(name, e);
        }
    }

    /**
     * Every revision the cache holds, of any repository (models only, not datasets or spaces), sorted by name then
     * commit. Reads the cache only; an empty list when it does not exist.
     */
    public List<CachedModel> cached() {
        Path cache = config.cacheDirectory();
        List<CachedModel> out = new ArrayList<>();
        if (!Files.isDirectory(cache)) {
            return out;
        }
        try (DirectoryStream<Path> repos = Files.newDirectoryStream(cache, "models--*")) {
            List<Path> sorted = new ArrayList<>();
            repos.forEach(sorted::add);
            sorted.sort(null);
            for (Path repo : sorted) {
                String repository = repo.getFileName().toString().substring("models--".length())
                        .replaceFirst("--", "/");
                Map<String, List<String>> refsByCommit = refs(repo);
                Path snapshots = repo.resolve("snapshots");
                if (!Files.isDirectory(snapshots)) {
                    continue;
                }
                try (Stream<Path> commits = Files.list(snapshots)) {
                    for (Path snapshot : commits.filter(Files::isDirectory).sorted().toList()) {
                        out.add(describe(repository, snapshot, refsByCommit));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the hub cache " + cache + ": " + e.getMessage(), e);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------ cache reading

    private Path repoDirectory(HubName name) {
        return config.cacheDirectory().resolve(name.cacheFolderName());
    }

    /** Resolves from refs/ and snapshots/ alone; {@code why} says why the network is not used. */
    private Path fromCache(HubName name, Path repo, boolean verify, String why) {
        String hint = " (" + why + "; fetch it with `bloom download " + name + "` while online)";
        String commit = name.revision();
        if (!name.isCommit()) {
            Path ref = repo.resolve("refs").resolve(name.revision());
            if (!Files.isRegularFile(ref)) {
                throw HubFiles.notFound(name + ": the hub cache " + config.cacheDirectory() + " holds no revision '"
                        + name.revision() + "' of " + name.repository() + ": no " + ref + hint);
            }
            try {
                commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw cacheFailure(name, e);
            }
        }
        Path snapshot = repo.resolve("snapshots").resolve(commit);
        if (!Files.isDirectory(snapshot)) {
            throw HubFiles.notFound(name + ": the hub cache holds no snapshot " + snapshot + hint);
        }
        List<String> files = snapshotFiles(snapshot);
        HubFiles.Plan plan = HubFiles.plan(name, files, "in the cache" + hint);
        List<String> needed = new ArrayList<>(plan.files());
        if (plan instanceof HubFiles.Checkpoint c && c.sharded()) {
            needed.addAll(shards(name, snapshot));
        }
        List<String> missing = needed.stream().filter(f -> !files.contains(f)).toList();
        if (!missing.isEmpty()) {
            throw HubFiles.notFound(name + ": the cached snapshot " + snapshot + " lacks " + String.join(", ", missing)
                    + hint);
        }
        if (verify) {
            for (String file : needed) {
                Path blob = blobOf(snapshot.resolve(file));
                if (!matchesName(blob)) {
                    throw new ModelDownloadException(name + ": cached " + file + " (" + blob + ") does not match its "
                            + "checksum and cannot be fetched again" + hint, 0, null);
                }
            }
        }
        return plan instanceof HubFiles.Gguf g ? snapshot.resolve(g.file()) : snapshot;
    }

    /** Files of a snapshot whose links resolve, as repository paths with '/'. */
    private static List<String> snapshotFiles(Path snapshot) {
        try (Stream<Path> walk = Files.walk(snapshot)) {
            return walk.filter(Files::isRegularFile) // follows the links: a dangling one is not a file
                    .map(p -> snapshot.relativize(p).toString().replace('\\', '/')).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the cached snapshot " + snapshot + ": " + e.getMessage(), e);
        }
    }

    /** The distinct shard files the snapshot's safetensors index names, in first-use order. */
    private static List<String> shards(HubName name, Path snapshot) {
        Path index = snapshot.resolve(HubFiles.SAFETENSORS_INDEX);
        try {
            JsonNode map = JSON.readTree(index.toFile()).path("weight_map");
            Set<String> shards = new LinkedHashSet<>();
            map.properties().forEach(e -> shards.add(e.getValue().asText()));
            if (shards.isEmpty()) {
                throw Native.exception(BloomStatus.FORMAT, name + ": " + HubFiles.SAFETENSORS_INDEX
                        + " has no weight_map entries (" + index + ")", "", null);
            }
            for (String shard : shards) {
                if (shard.isEmpty() || shard.startsWith("/") || shard.contains("..") || shard.contains("\\")) {
                    throw Native.exception(BloomStatus.FORMAT, name + ": " + HubFiles.SAFETENSORS_INDEX
                            + " names a shard outside the repository: '" + shard + "'", "", null);
                }
            }
            return List.copyOf(shards);
        } catch (IOException e) {
            throw Native.exception(BloomStatus.FORMAT, name + ": cannot read " + index + ": " + e.getMessage(), "", e);
        }
    }

    private static Map<String, List<String>> refs(Path repo) throws IOException {
        Map<String, List<String>> byCommit = new LinkedHashMap<>();
        Path refs = repo.resolve("refs");
        if (!Files.isDirectory(refs)) {
            return byCommit;
        }
        try (Stream<Path> walk = Files.walk(refs)) {
            for (Path ref : walk.filter(Files::isRegularFile).sorted().toList()) {
                String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
                byCommit.computeIfAbsent(commit, k -> new ArrayList<>())
                        .add(refs.relativize(ref).toString().replace('\\', '/'));
            }
        }
        return byCommit;
    }

    private static CachedModel describe(String repository, Path snapshot, Map<String, List<String>> refsByCommit)
            throws IOException {
        List<String> files = snapshotFiles(snapshot);
        Set<Path> blobs = new LinkedHashSet<>();
        for (String f : files) {
            blobs.add(snapshot.resolve(f).toRealPath());
        }
        long size = 0;
        for (Path blob : blobs) {
            size += Files.size(blob);
        }
        Set<String> quantizations = new TreeSet<>();
        boolean gguf = false;
        for (String f : files) {
            if (f.toLowerCase(java.util.Locale.ROOT).endsWith(".gguf")) {
                gguf = true;
                String q = HubFiles.quantizationOf(f);
                if (q != null) {
                    quantizations.add(q);
                }
            }
        }
        boolean safetensors = files.contains(HubFiles.CONFIG)
                && (files.contains(HubFiles.SAFETENSORS) || files.contains(HubFiles.SAFETENSORS_INDEX));
        String format = safetensors ? "safetensors" : gguf ? "gguf" : "other";
        String commit = snapshot.getFileName().toString();
        return new CachedModel(repository, commit, refsByCommit.getOrDefault(commit, List.of()), size, format,
                List.copyOf(quantizations), snapshot);
    }

    // ------------------------------------------------------------------------------------------ cache writing

    /** Writes {@code refs/<revision>} (the commit, no newline, as huggingface_hub writes it) when it changed. */
    private static void writeRef(Path repo, String revision, String commit) throws IOException {
        Path ref = repo.resolve("refs").resolve(revision);
        if (Files.isRegularFile(ref) && Files.readString(ref, StandardCharsets.UTF_8).strip().equals(commit)) {
            return;
        }
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), ".ref-", ".tmp");
        try {
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);
            move(tmp, ref);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Makes {@code snapshot/file} a link to its blob, fetching the blob first if the cache lacks it. */
    private void fetch(HubName name, String commit, Path snapshot, String file, DownloadListener listener,
                       boolean verify) throws IOException {
        Path link = snapshot.resolve(file);
        if (file.startsWith("/") || file.contains("\\") || List.of(file.split("/")).contains("..")) {
            throw HubFiles.notFound(name + ": the hub lists a file outside the repository: '" + file + "'");
        }
        if (Files.isRegularFile(link) && (!verify || matchesName(blobOf(link)))) {
            return; // a snapshot's files never change: its commit names them
        }
        HubClient.FileInfo info = client.fileInfo(name, commit, file);
        Path blobs = repoDirectory(name).resolve("blobs");
        Path blob = blobs.resolve(info.etag());
        Files.createDirectories(blobs);
        Path lockFile = config.cacheDirectory().resolve(".locks").resolve(name.cacheFolderName())
                .resolve(info.etag() + ".lock");
        Files.createDirectories(lockFile.getParent());
        ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(lockFile.toAbsolutePath().normalize(),
                k -> new ReentrantLock());
        local.lock();
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            channel.lock(); // blocks until other processes let go; released when the channel closes
            // Whoever held the lock before may have fetched it meanwhile.
            if (Files.isRegularFile(blob) && verify && !matchesName(blob)) {
                LOG.log(System.Logger.Level.WARNING, "{0}: cached {1} ({2}) does not match its checksum; fetching it "
                        + "again", name, file, blob);
                Files.delete(blob);
            }
            if (!Files.isRegularFile(blob)) {
                downloadBlob(name, file, info, blob, listener);
            }
        } finally {
            local.unlock();
        }
        link(link, blob);
    }

    /**
     * Fetches one blob into {@code blob.incomplete}, resuming what is there, checks it and renames it into place.
     * Retries a broken connection (resuming) {@value #NETWORK_RETRIES} times and a checksum mismatch once.
     */
    private void downloadBlob(HubName name, String file, HubClient.FileInfo info, Path blob, DownloadListener listener)
            throws IOException {
        Path part = blob.resolveSibling(blob.getFileName() + INCOMPLETE);
        int networkFailures = 0;
        int checksumFailures = 0;
        while (true) {
            long have = Files.isRegularFile(part) ? Files.size(part) : 0;
            if (info.size() >= 0 && have > info.size()) {
                Files.delete(part); // longer than the file: not a prefix of it
                have = 0;
            }
            Checksum checksum = Checksum.forEtag(info.etag(), info.size());
            try {
                if (have > 0 && have == info.size()) {
                    checksum.update(part); // complete but not renamed: a process stopped between the two
                } else {
                    have = receive(name, file, info, part, have, checksum, listener);
                }
            } catch (ModelDownloadException e) {
                if (e.httpStatus() != 0 || ++networkFailures > NETWORK_RETRIES) {
                    throw e;
                }
                LOG.log(System.Logger.Level.WARNING, "{0}; retrying ({1} of {2})", e.getMessage(), networkFailures,
                        NETWORK_RETRIES);
                pause(networkFailures);
                continue;
            }
            if (info.size() >= 0 && have != info.size()) {
                if (++networkFailures > NETWORK_RETRIES) {
                    throw new ModelDownloadException(name + ": " + file + " ended after " + have + " of "
                            + info.size() + " bytes " + NETWORK_RETRIES + " times; the part is kept in " + part
                            + " and the next attempt resumes it", 0, null);
                }
                continue;
            }
            if (!checksum.matches()) {
                Files.deleteIfExists(part);
                if (++checksumFailures > 1) {
                    throw new ModelDownloadException(name + ": " + file + " arrived corrupt twice: its " + checksum
                            + " is " + checksum.actual() + ", the hub's ETag says " + info.etag(), 0, null);
                }
                LOG.log(System.Logger.Level.WARNING, "{0}: {1} arrived corrupt ({2} {3}, expected {4}); fetching it "
                        + "again", name, file, checksum, checksum.actual(), info.etag());
                continue;
            }
            move(part, blob);
            return;
        }
    }

    /**
     * One GET: appends to {@code part} from byte {@code have} (or rewrites it when the server ignores the range),
     * feeding {@code checksum}. Returns the part's length afterwards. A broken connection is a
     * {@link ModelDownloadException} with status 0; the bytes received stay in the part.
     */
    private long receive(HubName name, String file, HubClient.FileInfo info, Path part, long have, Checksum checksum,
                         DownloadListener listener) throws IOException {
        HttpResponse<InputStream> response = client.download(name, file, info.location(), have);
        String expectedRange = "bytes " + have + "-";
        boolean append = response.statusCode() == 206 && have > 0
                && response.headers().firstValue("Content-Range").map(r -> r.startsWith(expectedRange))
                        .orElse(false);
        if (response.statusCode() == 206 && !append) {
            HubClient.closeQuietly(response.body()); // a range we did not ask for: start over without one
            Files.deleteIfExists(part);
            throw new ModelDownloadException(name + ": the hub answered a request for " + file + " from byte " + have
                    + " with another range (" + response.headers().firstValue("Content-Range").orElse("none")
                    + ")", 0, null);
        }
        if (append) {
            checksum.update(part);
        } else {
            have = 0; // 200: the whole file again
        }
        long done = have;
        try (InputStream in = response.body();
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            if (listener != null) {
                listener.onProgress(file, done, info.size());
            }
            byte[] buffer = new byte[BUFFER];
            int n;
            while (true) {
                try {
                    n = in.read(buffer);
                } catch (IOException e) {
                    throw client.networkFailure(name, file, e);
                }
                if (n < 0) {
                    break;
                }
                out.write(buffer, 0, n);
                checksum.update(buffer, n);
                done += n;
                if (listener != null) {
                    listener.onProgress(file, done, info.size());
                }
            }
        }
        return done;
    }

    /** A relative link {@code snapshot/file -> ../../blobs/etag}, or a copy where links cannot be made. */
    private static void link(Path link, Path blob) throws IOException {
        Files.createDirectories(link.getParent());
        Path target = link.getParent().relativize(blob);
        Path tmp = link.resolveSibling("." + link.getFileName() + "." + ProcessHandle.current().pid() + "."
                + Thread.currentThread().threadId() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createSymbolicLink(tmp, target);
        } catch (UnsupportedOperationException | IOException e) {
            if (e instanceof FileAlreadyExistsException) {
                throw (IOException) e;
            }
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING); // as huggingface_hub does without links
        }
        move(tmp, link);
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The blob a snapshot entry links to. */
    private static Path blobOf(Path link) {
        try {
            return link.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether a blob's contents hash to its name; a name that is no known hash cannot be checked and passes. */
    static boolean matchesName(Path blob) {
        try {
            Checksum checksum = Checksum.forEtag(blob.getFileName().toString(), Files.size(blob));
            checksum.update(blob);
            return checksum.matches();
        } catch (IOException e) {
            return false;
        }
    }

    private static void pause(int attempt) {
        try {
            Thread.sleep(200L * attempt);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelDownloadException("interrupted while waiting to retry a download", 0, e);
        }
    }

    private static BloomException cacheFailure(HubName name, IOException e) {
        return Native.exception(BloomStatus.IO, name + ": cannot write the hub cache: " + e, "", e);
    }

    /**
     * The check an ETag allows: sha256 for an LFS file (64 hex digits), the git blob hash ({@code sha1("blob " + size
     * + "\0" + contents)}) for another (40 hex digits, when the size is known), none otherwise.
     */
    private static final class Checksum {
        private final String expected;
        private final String algorithm;
        private final long size;
        private MessageDigest digest;

        private Checksum(String expected, String algorithm, long size) {
            this.expected = expected;
            this.algorithm = algorithm;
            this.size = size;
            reset();
        }

        static Checksum forEtag(String etag, long size) {
            if (SHA256.matcher(etag).matches()) {
                return new Checksum(etag, "SHA-256", size);
            }
            if (HubName.isCommitHash(etag) && size >= 0) {
                return new Checksum(etag, "SHA-1", size);
            }
            return new Checksum(etag, null, size);
        }

        private void reset() {
            if (algorithm == null) {
                return;
            }
            try {
                digest = MessageDigest.getInstance(algorithm);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e); // every JDK has both
            }
            if (algorithm.equals("SHA-1")) {
                digest.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
            }
        }

        void update(byte[] bytes, int n) {
            if (digest != null) {
                digest.update(bytes, 0, n);
            }
        }

        /** Restarts and feeds a whole file: the part being resumed, or a cached blob. */
        void update(Path file) throws IOException {
            reset();
            if (digest == null) {
                return;
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buffer = new byte[BUFFER];
                int n;
                while ((n = in.read(buffer)) > 0) {
                    digest.update(buffer, 0, n);
                }
            }
        }

        private String actual;

        String actual() {
            if (actual == null) {
                actual = digest == null ? expected : HexFormat.of().formatHex(digest.digest());
            }
            return actual;
        }

        boolean matches() {
            return actual().equals(expected);
        }

        @Override
        public String toString() {
            return algorithm == null ? "ETag" : algorithm.equals("SHA-1") ? "git blob hash" : "sha256";
        }
    }
}
