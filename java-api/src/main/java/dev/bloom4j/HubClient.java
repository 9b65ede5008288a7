package dev.bloom4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The hub's HTTP endpoints as huggingface_hub uses them: model info for the commit and file list, a HEAD on
 * {@code resolve} for a file's ETag, size and download address (redirects not followed, so the LFS headers of the
 * hub's own answer are read), and a GET with an optional {@code Range}. Every failure becomes a
 * {@link BloomException} here, and nowhere else.
 */
final class HubClient {

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(30);
    private static final int MAX_REDIRECTS = 5;
    private static final String USER_AGENT = "bloom4j; java/" + Runtime.version().feature();
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HubConfig config;
    private volatile HttpClient http; // made on first use: a path or an offline name needs no client and its thread

    HubClient(HubConfig config) {
        this.config = Objects.requireNonNull(config, "config");
    }

    private HttpClient http() {
        HttpClient h = http;
        if (h == null) {
            synchronized (this) {
                h = http;
                if (h == null) {
                    h = HttpClient.newBuilder()
                            .followRedirects(HttpClient.Redirect.NEVER) // followed by hand: the hub's headers matter
                            .connectTimeout(CONNECT_TIMEOUT)
                            .build();
                    http = h;
                }
            }
        }
        return h;
    }

    /** A repository at one commit: the commit hash and every file path in it. */
    record RepoInfo(String commit, List<String> files) {}

    /**
     * A file as the hub describes it.
     *
     * @param etag     the blob name: the sha256 of an LFS file, else the git blob hash
     * @param size     bytes, or -1 when the hub did not say
     * @param location where to GET it: the CDN address an LFS file redirects to, else the resolve address
     */
    record FileInfo(String etag, long size, URI location) {}

    /** {@code GET /api/models/{repo}/revision/{revision}}. */
    RepoInfo repoInfo(HubName name) {
        URI uri = URI.create(config.endpoint() + "/api/models/" + name.repository() + "/revision/"
                + encode(name.revision()));
        HttpResponse<byte[]> response;
        for (int hop = 0; ; hop++) {
            response = send(request(uri).GET().timeout(ANSWER_TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofByteArray(), name, null);
            String location = response.headers().firstValue("Location").orElse(null);
            if (isRedirect(response.statusCode()) && location != null && hop < MAX_REDIRECTS) {
                uri = uri.resolve(location); // a renamed or moved repository
                continue;
            }
            break;
        }
        if (response.statusCode() != 200) {
            throw failure(response, name, null);
        }
        try {
            JsonNode root = JSON.readTree(response.body());
            String sha = root.path("sha").asText("");
            if (!HubName.isCommitHash(sha)) {
                throw new ModelDownloadException(name + ": the hub at " + config.endpoint() + " answered the model "
                        + "info request without a commit hash ('sha'); is HF_ENDPOINT a Hugging Face hub?", 200, null);
            }
            List<String> files = new ArrayList<>();
            for (JsonNode sibling : root.path("siblings")) {
                String file = sibling.path("rfilename").asText("");
                if (!file.isEmpty()) {
                    files.add(file);
                }
            }
            return new RepoInfo(sha, List.copyOf(files));
        } catch (IOException e) {
            throw new ModelDownloadException(name + ": the hub at " + config.endpoint() + " answered the model info "
                    + "request with something other than JSON (" + e.getMessage() + ")", 200, e);
        }
    }

    /**
     * {@code HEAD {endpoint}/{repo}/resolve/{commit}/{file}}, following only relative redirects (a renamed
     * repository); an absolute redirect is the LFS file's CDN address, kept as {@link FileInfo#location()}.
     */
    FileInfo fileInfo(HubName name, String commit, String file) {
        URI uri = resolveUri(name, commit, file);
        for (int hop = 0; ; hop++) {
            HttpResponse<Void> response = send(request(uri).method("HEAD", HttpRequest.BodyPublishers.noBody())
                    .header("Accept-Encoding", "identity").timeout(ANSWER_TIMEOUT).build(),
                    HttpResponse.BodyHandlers.discarding(), name, file);
            int status = response.statusCode();
            if (isRedirect(status)) {
                String location = response.headers().firstValue("Location").orElse(null);
                if (location == null) {
                    throw new ModelDownloadException(name + ": the hub answered " + status + " for " + file
                            + " without a Location", status, null);
                }
                URI target = uri.resolve(location);
                boolean relative = !URI.create(location).isAbsolute();
                if (relative && hop < MAX_REDIRECTS) {
                    uri = target;
                    continue;
                }
                return describe(response, name, file, target);
            }
            if (status != 200) {
                throw failure(response, name, file);
            }
            return describe(response, name, file, uri);
        }
    }

    private FileInfo describe(HttpResponse<?> response, HubName name, String file, URI location) {
        var headers = response.headers();
        String etag = headers.firstValue("X-Linked-Etag").or(() -> headers.firstValue("ETag")).orElse(null);
        if (etag == null) {
            throw new ModelDownloadException(name + ": the hub at " + config.endpoint() + " sent no ETag for " + file
                    + ", so it cannot be cached; is HF_ENDPOINT a Hugging Face hub?", response.statusCode(), null);
        }
        etag = normalizeEtag(etag);
        if (etag.isEmpty() || etag.contains("/") || etag.contains("\\") || etag.startsWith(".")) {
            throw new ModelDownloadException(name + ": the hub sent an ETag for " + file + " that cannot name a "
                    + "cache file: '" + etag + "'", response.statusCode(), null);
        }
        long size = headers.firstValue("X-Linked-Size").or(() -> headers.firstValue("Content-Length"))
                .map(HubClient::parseLong).orElse(-1L);
        return new FileInfo(etag, size, location);
    }

    /**
     * {@code GET location}, from byte {@code from} on when it is positive, following redirects. The caller reads
     * and closes the body; its status is 200 or 206 (anything else is thrown here, 416 included).
     */
    HttpResponse<InputStream> download(HubName name, String file, URI location, long from) {
        URI uri = location;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder request = request(uri).GET();
            if (from > 0) {
                request.header("Range", "bytes=" + from + "-");
            }
            request.header("Accept-Encoding", "identity");
            HttpResponse<InputStream> response = send(request.timeout(ANSWER_TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofInputStream(), name, file);
            int status = response.statusCode();
            if (status == 200 || status == 206) {
                return response;
            }
            closeQuietly(response.body());
            if (isRedirect(status) && hop < MAX_REDIRECTS) {
                String next = response.headers().firstValue("Location").orElse(null);
                if (next != null) {
                    uri = uri.resolve(next);
                    continue;
                }
            }
            throw failure(response, name, file);
        }
    }

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).header("User-Agent", USER_AGENT);
        // The token goes to the hub only, never to the CDN host an LFS file redirects to.
        if (config.token() != null && sameOrigin(uri, config.endpoint())) {
            b.header("Authorization", "Bearer " + config.token());
        }
        return b;
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler, HubName name,
                                     String file) {
        try {
            return http().send(request, handler);
        } catch (IOException e) {
            throw networkFailure(name, file, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelDownloadException(name + ": interrupted while talking to " + config.endpoint(), 0, e);
        }
    }

    /** A connection that could not be made or broke, as an exception that says what to try. */
    ModelDownloadException networkFailure(HubName name, String file, IOException e) {
        // HttpClient's ConnectException often has no message of its own; the reason is further down the causes.
        String what = e.getClass().getSimpleName();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null) {
                what += ": " + (t == e ? "" : t.getClass().getSimpleName() + ": ") + t.getMessage();
                break;
            }
            if (t != e && t.getCause() == null) {
                what += ": " + t.getClass().getSimpleName();
            }
        }
        return new ModelDownloadException(name + ": network failure talking to " + config.endpoint()
                + (file == null ? "" : " for " + file) + " (" + what + "). Check the connection and HF_ENDPOINT, or "
                + "set HF_HUB_OFFLINE=1 to use only what the cache holds", 0, e);
    }

    /** The one mapping of the hub's error answers to exceptions. */
    private BloomException failure(HttpResponse<?> response, HubName name, String file) {
        int status = response.statusCode();
        String code = response.headers().firstValue("X-Error-Code").orElse("");
        String hubMessage = response.headers().firstValue("X-Error-Message").map(m -> " (" + m + ")").orElse("");
        String what = file == null ? name.repository() : file + " in " + name.repository();
        if (status == 401 || status == 403) {
            String advice = config.token() == null
                    ? "if it is private or gated, set HF_TOKEN to an access token that can read it (or log in with "
                            + "huggingface-cli login)"
                    : "the token in use (HF_TOKEN or $HF_HOME/token) does not grant access: check it, and for a "
                            + "gated model accept its terms at " + config.endpoint() + "/" + name.repository();
            String repoMissing = code.equals("RepoNotFound") || status == 401
                    ? "the repository does not exist, or " : "";
            return new ModelDownloadException(name + ": the hub refused access to " + what + " (HTTP " + status
                    + hubMessage + "): " + repoMissing + advice, status, null);
        }
        if (status == 404) {
            String message = switch (code) {
                case "RevisionNotFound" -> name + ": no revision '" + name.revision() + "' in " + name.repository()
                        + " on " + config.endpoint() + hubMessage;
                case "EntryNotFound" -> name + ": no file " + file + " in " + name.repository() + " on "
                        + config.endpoint() + hubMessage;
                default -> file == null
                        ? name + ": no repository " + name.repository() + " on " + config.endpoint() + hubMessage
                        + " (check the spelling: org/name, as in the model page's address)"
                        : name + ": the hub found no " + file + " in " + name.repository() + hubMessage;
            };
            return HubFiles.notFound(message);
        }
        return new ModelDownloadException(name + ": the hub at " + config.endpoint() + " answered HTTP " + status
                + hubMessage + " for " + what + (status >= 500 ? "; the hub may be down, try again later" : ""),
                status, null);
    }

    URI resolveUri(HubName name, String commit, String file) {
        StringBuilder path = new StringBuilder();
        for (String segment : file.split("/")) {
            path.append('/').append(encode(segment));
        }
        return URI.create(config.endpoint() + "/" + name.repository() + "/resolve/" + encode(commit) + path);
    }

    /** huggingface_hub strips a weak marker and the quotes: {@code W/"abc"} names blob {@code abc}. */
    static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        return e.replace("\"", "");
    }

    private static boolean isRedirect(int status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() != -1 ? u.getPort() : u.getScheme().toLowerCase(Locale.ROOT).equals("https") ? 443 : 80;
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // nothing left to read from a body being discarded
        }
    }
}
