package dev.bloom4j;

/**
 * A ggml RPC server of {@link LoadOptions#rpcServers()} failed ({@link BloomStatus#REMOTE}); the message names it.
 *
 * <p>At load time: the server cannot be reached within {@link LoadOptions#rpcTimeout()} (nothing listens, no route),
 * speaks another ggml RPC protocol version (run the same bloom4j, or the same ggml, on every host), or accepted the
 * connection without answering the handshake (a server serves one client at a time).
 *
 * <p>Later: the server was lost while a call used it (its process ended, the network failed). That call fails with
 * this exception and the JVM goes on, but ggml's RPC client cannot recover the connection: the model and its
 * sessions fail every further call with this exception, closing them does not return their memory, and the same
 * {@code host:port} cannot be used again in this process. Restart the process once the server runs again.
 * {@snippet :
 * try {
 *     session.generate(prompt, config, System.out::print);
 * } catch (RemoteDeviceException e) {
 *     log.error("a host of the model is gone: {}", e.getMessage());
 *     session.close();
 *     model.close();
 * }
 * }
 */
public final class RemoteDeviceException extends BloomException {
    private static final long serialVersionUID = 1L;

    RemoteDeviceException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
