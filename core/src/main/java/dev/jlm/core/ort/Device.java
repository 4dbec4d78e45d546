package dev.jlm.core.ort;

import dev.jlm.core.JlmException;

import java.util.Locale;

/**
 * Where ONNX Runtime executes a model: the CPU, one CUDA GPU, or {@link #AUTO} (CUDA device 0 when this build
 * of ONNX Runtime has the CUDA provider and the device can be used, else the CPU with a one-line warning).
 *
 * <p>Immutable. {@link #parse(String)} reads the spellings used on the command line.
 */
public sealed interface Device permits Device.Cpu, Device.Cuda, Device.Auto {
    /** The CPU execution provider, always available. */
    Device CPU = new Cpu();

    /** CUDA device 0 if usable, otherwise the CPU with a warning. */
    Device AUTO = new Auto();

    /** CUDA device {@code deviceId} (0 is the first GPU). */
    static Device cuda(int deviceId) {
        return new Cuda(deviceId);
    }

    /**
     * Reads {@code cpu}, {@code cuda} (device 0), {@code cuda:N} or {@code auto}, ignoring case and surrounding blanks.
     *
     * @throws JlmException.InvalidArgument for anything else
     */
    static Device parse(String text) {
        String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        switch (s) {
            case "cpu":
                return CPU;
            case "auto":
                return AUTO;
            case "cuda":
                return cuda(0);
            default:
                if (s.startsWith("cuda:")) {
                    String id = s.substring(5);
                    if (!id.isEmpty() && id.length() <= 4 && id.chars().allMatch(Character::isDigit)) {
                        return cuda(Integer.parseInt(id));
                    }
                }
                throw new JlmException.InvalidArgument("device must be cpu, cuda, cuda:N or auto, not '" + text + "'");
        }
    }

    /** The CPU. */
    record Cpu() implements Device {
        @Override
        public String toString() {
            return "cpu";
        }
    }

    /** One CUDA GPU, by its CUDA ordinal. */
    record Cuda(int deviceId) implements Device {
        public Cuda {
            if (deviceId < 0) {
                throw new JlmException.InvalidArgument("CUDA device id must be >= 0, not " + deviceId);
            }
        }

        @Override
        public String toString() {
            return "cuda:" + deviceId;
        }
    }

    /** CUDA device 0 when usable, else the CPU. */
    record Auto() implements Device {
        @Override
        public String toString() {
            return "auto";
        }
    }
}
