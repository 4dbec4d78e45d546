/** JMH benchmarks: every kernel against its scalar reference and ONNX Runtime, in the same run. */
package dev.jlm.bench;
