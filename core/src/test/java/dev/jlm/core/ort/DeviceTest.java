package dev.jlm.core.ort;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class DeviceTest {
    @Test
    void parse() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.CPU, Device.parse(" CPU "));
        assertEquals(Device.AUTO, Device.parse("auto"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(1), Device.parse("cuda:1"));
        assertEquals(new Device.Cuda(12), Device.parse("CUDA:12"));
        assertEquals("cuda:3", Device.cuda(3).toString());
        assertEquals("cpu", Device.CPU.toString());
        for (String bad : new String[] {"", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cuda:99999"}) {
            JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> Device.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        assertThrows(JlmException.InvalidArgument.class, () -> Device.parse(null));
        assertThrows(JlmException.InvalidArgument.class, () -> Device.cuda(-1));
    }

    @Test
    void cudaOnTheCpuOnlyBuildFailsWithOneClearLine() {
        assumeFalse(OrtModel.hasCudaProvider(), "this build has the CUDA provider");
        for (Device d : new Device[] {Device.cuda(0), Device.cuda(1)}) {
            JlmException e = assertThrows(JlmException.Unsupported.class,
                    () -> OrtModel.open(TinyModels.identity(DType.F32), "identity", SessionConfig.defaults().withDevice(d)));
            assertEquals("model identity: CUDA requested but this build has the CPU-only ONNX Runtime; build with -Pcuda", e.getMessage());
        }
    }

    @Test
    void autoTakesCudaWhenUsableElseTheCpuWithOneWarning() {
        List<String> warnings = new ArrayList<>();
        SessionConfig c = SessionConfig.defaults().withDevice(Device.AUTO).withWarnings(warnings::add);
        try (OrtModel m = OrtModel.open(TinyModels.identity(DType.F32), "identity", c);
             Tensor a = Support.randomF32(new Random(1), 2, 3);
             Outputs o = m.run(Map.of("A", a))) {
            if (m.device().equals(Device.CPU)) {
                assertEquals(1, warnings.size(), warnings.toString());
                String w = warnings.get(0);
                assertTrue(w.endsWith("on the CPU"), w);
                assertTrue(OrtModel.hasCudaProvider() ? w.contains("CUDA device 0 is not usable") : w.contains("CPU-only ONNX Runtime"), w);
                assertFalse(w.contains("\n"));
            } else {
                assertEquals(Device.cuda(0), m.device());
                assertTrue(warnings.isEmpty(), warnings.toString());
            }
            Support.assertSameTensor(a, o.get("B"), "auto");
        }
    }

    @Test
    void aMissingCudaDeviceIsReportedNotCrashed() {
        assumeTrue(OrtModel.hasCudaProvider(), "needs the CUDA build (-Pcuda)");
        JlmException e = assertThrows(JlmException.Unsupported.class,
                () -> OrtModel.open(TinyModels.identity(DType.F32), "identity", SessionConfig.defaults().withDevice(Device.cuda(97))));
        assertTrue(e.getMessage().startsWith("model identity: CUDA device 97 is not usable: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    /** Runs MiniLM on CUDA device 0 when this build and this machine have one; skipped otherwise. */
    @Test
    void miniLmOnCudaAgreesWithCpu() {
        assumeTrue(OrtModel.hasCudaProvider(), "needs the CUDA build (-Pcuda)");
        OrtModel gpu;
        try {
            gpu = OrtModel.open(TestModels.miniLm(), SessionConfig.defaults().withDevice(Device.cuda(0)));
        } catch (JlmException.Unsupported e) {
            assumeTrue(false, "no usable CUDA device: " + e.getMessage());
            return;
        }
        Map<String, Tensor> inputs = Support.miniLmInputs(Support.miniLmArrays(new Random(4), 2, 11));
        try (gpu; OrtModel cpu = OrtModel.open(TestModels.miniLm());
             Outputs g = gpu.run(inputs);
             Outputs c = cpu.run(inputs)) {
            assertEquals(Device.cuda(0), gpu.device());
            float[] gv = g.get("last_hidden_state").toFloatArray();
            float[] cv = c.get("last_hidden_state").toFloatArray();
            double maxAbs = 0;
            for (float v : cv) {
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
            // TF32 matmuls on recent GPUs: agreement within 1e-2 of the largest magnitude
            for (int i = 0; i < cv.length; i++) {
                assertEquals(cv[i], gv[i], 1e-2 * maxAbs, "element " + i);
            }
        } finally {
            Support.closeAll(inputs);
        }
    }
}
