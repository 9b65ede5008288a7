package dev.bloom4j;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where {@link HubModels} keeps and fetches models: the Hugging Face hub cache directory, the hub's address, the
 * access token and whether to use the network at all. {@link #fromEnvironment()} reads the variables Python's
 * {@code huggingface_hub} reads, so both use the same cache.
 * {@snippet :
 * var config = HubConfig.fromEnvironment().withOffline(true);   // as HF_HUB_OFFLINE=1 would
 * Path dir = HubModels.of(config).resolve("bigscience/bloom-560m");
 * }
 *
 * @param cacheDirectory the hub cache ({@code models--org--name/} directories live directly in it)
 * @param endpoint       the hub's base address, without a trailing slash
 * @param token          the access token sent as {@code Authorization: Bearer}, or {@code null} for none
 * @param offline        {@code true} to use only what the cache holds and never open a connection
 */
public record HubConfig(Path cacheDirectory, URI endpoint, String token, boolean offline) {

    /** The public hub. */
    public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");

    private static final Set<String> TRUE = Set.of("1", "true", "yes", "on");

    /** Validates every field; the message names the offending one. */
    public HubConfig {
        Objects.requireNonNull(cacheDirectory, "cacheDirectory");
        Objects.requireNonNull(endpoint, "endpoint");
        String scheme = endpoint.getScheme();
        if (scheme == null || !(scheme.equals("http") || scheme.equals("https")) || endpoint.getHost() == null) {
            throw new IllegalArgumentException("hub endpoint must be an http:// or https:// address, got '"
                    + endpoint + "'");
        }
        String text = endpoint.toString();
        if (text.endsWith("/")) {
            endpoint = URI.create(text.replaceAll("/+$", ""));
        }
        if (token != null && token.isBlank()) {
            token = null;
        }
        if (token != null) {
            token = token.strip();
        }
    }

    /** {@link #fromEnvironment(Map)} of this process's environment. */
    public static HubConfig fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * The configuration huggingface_hub would use with these environment variables:
     * <ul>
     *   <li>cache: {@code HF_HUB_CACHE}, else {@code HUGGINGFACE_HUB_CACHE}, else {@code $HF_HOME/hub}, where
     *       {@code HF_HOME} defaults to {@code $XDG_CACHE_HOME/huggingface}, else {@code ~/.cache/huggingface};</li>
     *   <li>endpoint: {@code HF_ENDPOINT}, else {@link #DEFAULT_ENDPOINT};</li>
     *   <li>token: {@code HF_TOKEN}, else {@code HUGGING_FACE_HUB_TOKEN}, else the file {@code HF_TOKEN_PATH} or
     *       {@code $HF_HOME/token} that {@code huggingface-cli login} writes;</li>
     *   <li>offline: {@code HF_HUB_OFFLINE} or {@code TRANSFORMERS_OFFLINE} set to 1, true, yes or on.</li>
     * </ul>
     * A leading {@code ~/} in a path is the user's home directory.
     */
    public static HubConfig fromEnvironment(Map<String, String> env) {
        Objects.requireNonNull(env, "env");
        Path home = Path.of(System.getProperty("user.home"));
        String hfHome = value(env, "HF_HOME");
        Path hfHomePath;
        if (hfHome != null) {
            hfHomePath = expand(hfHome, home);
        } else {
            String xdg = value(env, "XDG_CACHE_HOME");
            hfHomePath = (xdg != null ? expand(xdg, home) : home.resolve(".cache")).resolve("huggingface");
        }
        String cache = value(env, "HF_HUB_CACHE");
        if (cache == null) {
            cache = value(env, "HUGGINGFACE_HUB_CACHE");
        }
        Path cachePath = cache != null ? expand(cache, home) : hfHomePath.resolve("hub");
        String endpoint = value(env, "HF_ENDPOINT");
        URI endpointUri;
        try {
            endpointUri = endpoint != null ? URI.create(endpoint) : DEFAULT_ENDPOINT;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("HF_ENDPOINT is not an address: '" + endpoint + "'", e);
        }
        String token = value(env, "HF_TOKEN");
        if (token == null) {
            token = value(env, "HUGGING_FACE_HUB_TOKEN");
        }
        if (token == null) {
            String tokenPath = value(env, "HF_TOKEN_PATH");
            token = readToken(tokenPath != null ? expand(tokenPath, home) : hfHomePath.resolve("token"));
        }
        boolean offline = isTrue(value(env, "HF_HUB_OFFLINE")) || isTrue(value(env, "TRANSFORMERS_OFFLINE"));
        return new HubConfig(cachePath, endpointUri, token, offline);
    }

    /** This configuration with another cache directory. */
    public HubConfig withCacheDirectory(Path directory) {
        return new HubConfig(directory, endpoint, token, offline);
    }

    /** This configuration with another hub address. */
    public HubConfig withEndpoint(URI address) {
        return new HubConfig(cacheDirectory, address, token, offline);
    }

    /** This configuration with another token, or none ({@code null}). */
    public HubConfig withToken(String accessToken) {
        return new HubConfig(cacheDirectory, endpoint, accessToken, offline);
    }

    /** This configuration online or offline. */
    public HubConfig withOffline(boolean noNetwork) {
        return new HubConfig(cacheDirectory, endpoint, token, noNetwork);
    }

    /** Keeps the token out of logs and exception messages. */
    @Override
    public String toString() {
        return "HubConfig[cacheDirectory=" + cacheDirectory + ", endpoint=" + endpoint + ", token="
                + (token == null ? "none" : "set") + ", offline=" + offline + "]";
    }

    private static String value(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isEmpty() ? null : v;
    }

    private static boolean isTrue(String v) {
        return v != null && TRUE.contains(v.strip().toLowerCase(Locale.ROOT));
    }

    private static Path expand(String path, Path home) {
        if (path.equals("~")) {
            return home;
        }
        return path.startsWith("~/") ? home.resolve(path.substring(2)) : Path.of(path);
    }

    private static String readToken(Path file) {
        try {
            if (!Files.isRegularFile(file)) {
                return null;
            }
            String t = Files.readString(file, StandardCharsets.UTF_8).strip();
            return t.isEmpty() ? null : t;
        } catch (IOException | SecurityException e) {
            return null; // an unreadable token file is no token, as in huggingface_hub
        }
    }
}
