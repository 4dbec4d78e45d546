/**
 * LassoBench (JMH, jlm against Tribuo and Smile), its problems, and the jlm side of the scikit-learn / glmnet
 * comparison script in {@code benchmarks/scripts/lasso}.
 */
package dev.jlm.bench.lasso;
