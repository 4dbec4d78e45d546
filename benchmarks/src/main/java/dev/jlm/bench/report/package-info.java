/** Turns JMH JSON results of the kernel benchmarks into the markdown table of docs/benchmarks.md (and SVG charts). */
package dev.jlm.bench.report;
