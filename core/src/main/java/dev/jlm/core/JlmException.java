package dev.jlm.core;

/**
 * The one exception type jlm throws for bad input or a failed operation. Its message is a single line
 * that names the file, node or tensor at fault, fit to be shown to a user as it is.
 * Subclasses say which kind of fault it is, so that callers (and the CLI) can react per kind.
 */
public class JlmException extends RuntimeException {
    public JlmException(String message) {
        super(oneLine(message));
    }

    public JlmException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** Messages quote names read from files, which may hold anything: control characters are escaped to keep one line. */
    private static String oneLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        StringBuilder sb = null;
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (Character.isISOControl(c)) {
                if (sb == null) {
                    sb = new StringBuilder(message.length() + 16).append(message, 0, i);
                }
                sb.append(String.format("\\u%04x", (int) c));
            } else if (sb != null) {
                sb.append(c);
            }
        }
        return sb == null ? message : sb.toString();
    }

    /** A model or data file that cannot be read, parsed or trusted: missing, truncated, malformed. */
    public static class InvalidModel extends JlmException {
        public InvalidModel(String message) { super(message); }
        public InvalidModel(String message, Throwable cause) { super(message, cause); }
    }

    /** Shapes, strides or dtypes that do not fit the operation. */
    public static class InvalidArgument extends JlmException {
        public InvalidArgument(String message) { super(message); }
    }

    /** A valid request this build or this machine cannot serve (a dtype, an op, a device). */
    public static class Unsupported extends JlmException {
        public Unsupported(String message) { super(message); }
        public Unsupported(String message, Throwable cause) { super(message, cause); }
    }

    /** A failure reported by an execution backend (ONNX Runtime). */
    public static class Backend extends JlmException {
        public Backend(String message, Throwable cause) { super(message, cause); }
    }

    /** A file system operation that failed (read, write, atomic move). */
    public static class Io extends JlmException {
        public Io(String message, Throwable cause) { super(message, cause); }
    }
}
