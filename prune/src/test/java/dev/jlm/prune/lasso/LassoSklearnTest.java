package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Solutions against scikit-learn 1.2.1 references (solved there to a relative gap of 1e-12): at tol 1e-10
 * every coefficient must be within 1e-6 of the largest coefficient, and every solution must carry its own
 * certificate (gap and KKT, {@link Certificates}).
 */
class LassoSklearnTest {
    private static final double TOL = 1e-10;
    private static final double COEF_REL = 1e-6;

    static Stream<Arguments> algorithms() {
        return Stream.of(
                Arguments.of("cd", SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.CD)),
                Arguments.of("cd-noscreen", SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.CD).withScreening(false)),
                Arguments.of("cd-2threads", SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.CD).withThreads(2)),
                Arguments.of("gram", SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.GRAM)),
                Arguments.of("fista", SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.FISTA).withMaxIter(200_000)),
                Arguments.of("auto", SolverOptions.defaults()));
    }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String problem : new String[] {"diabetes", "correlated", "tall"}) {
            for (String variant : new String[] {"lasso", "enet", "positive", "weighted"}) {
                boolean exists = switch (variant) {
                    case "enet" -> !problem.equals("tall");
                    case "positive" -> problem.equals("tall");
                    case "weighted" -> problem.equals("correlated");
                    default -> true;
                };
                if (!exists) {
                    continue;
                }
                algorithms().forEach(a -> b.add(Arguments.of(problem, variant, a.get()[0], a.get()[1])));
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesScikitLearn(String problem, String variant, String algoName, SolverOptions options) {
        double[] alphas = Fixtures.doubles(problem + "_alphas");
        String ref = switch (variant) {
            case "positive" -> problem + "_positive";
            case "weighted" -> problem + "_weighted";
            default -> problem + "_" + variant;
        };
        double[] coef = Fixtures.doubles(ref + "_coef");
        double[] icpt = variant.equals("weighted") ? null : Fixtures.doubles(ref + "_intercept");
        boolean intercept = !problem.equals("correlated");
        try (Npy.NpyArray x = Fixtures.read(problem + "_X");
             Npy.NpyArray y = Fixtures.read(problem + "_y")) {
            LassoProblem.Builder builder = Fixtures.builder(x, y).fitIntercept(intercept);
            if (variant.equals("enet")) {
                builder.l1Ratio(problem.equals("diabetes") ? 0.5 : 0.7);
            } else if (variant.equals("positive")) {
                builder.positive(true);
            } else if (variant.equals("weighted")) {
                builder.penaltyWeights(Fixtures.doubles("correlated_weights"));
            }
            try (LassoProblem pb = builder.build();
                 LassoSolver solver = new LassoSolver(options.withTol(TOL))) {
                int p = pb.features();
                LassoPath path = solver.path(pb, alphas);
                for (int a = 0; a < alphas.length; a++) {
                    Solution s = path.solutions().get(a);
                    assertTrue(s.converged(), "alpha " + alphas[a] + " did not converge: gap " + s.relativeGap());
                    Certificates.check(pb, s, TOL);
                    double max = 0;
                    for (int j = 0; j < p; j++) {
                        max = Math.max(max, Math.abs(coef[a * p + j]));
                    }
                    assertTrue(max > 0, "reference is all zero; the fixture is too weak");
                    for (int j = 0; j < p; j++) {
                        assertEquals(coef[a * p + j], s.coef()[j], COEF_REL * max,
                                problem + " " + variant + " alpha[" + a + "] coef " + j);
                    }
                    if (icpt != null) {
                        assertEquals(icpt[a], s.intercept()[0], COEF_REL * Math.max(1, Math.abs(icpt[a])), "intercept");
                    }
                    // Each solution of the path also solves alone from zero to the same answer.
                    if (a == alphas.length - 1) {
                        Solution cold = solver.solve(pb, alphas[a]);
                        for (int j = 0; j < p; j++) {
                            assertEquals(coef[a * p + j], cold.coef()[j], COEF_REL * max, "cold start coef " + j);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("algorithms")
    void multiTaskMatchesScikitLearn(String algoName, SolverOptions options) {
        if (algoName.equals("gram")) {
            return; // the Gram solver is for the single-task Lasso only (tested to refuse in LassoInputTest)
        }
        double[] alphas = Fixtures.doubles("multitask_alphas");
        double[] coef = Fixtures.doubles("multitask_coef");
        double[] icpt = Fixtures.doubles("multitask_intercept");
        try (Npy.NpyArray x = Fixtures.read("multitask_X");
             Npy.NpyArray y = Fixtures.read("multitask_y");
             LassoProblem pb = Fixtures.builder(x, y).fitIntercept(true).build();
             LassoSolver solver = new LassoSolver(options.withTol(TOL))) {
            assertEquals(LassoProblem.Kind.MULTI_TASK, pb.kind());
            int pt = pb.features() * pb.tasks();
            LassoPath path = solver.path(pb, alphas);
            for (int a = 0; a < alphas.length; a++) {
                Solution s = path.solutions().get(a);
                assertTrue(s.converged());
                Certificates.check(pb, s, TOL);
                double max = 0;
                for (int i = 0; i < pt; i++) {
                    max = Math.max(max, Math.abs(coef[a * pt + i]));
                }
                for (int i = 0; i < pt; i++) {
                    assertEquals(coef[a * pt + i], s.coef()[i], COEF_REL * max, "multi-task alpha[" + a + "] coef " + i);
                }
                for (int t = 0; t < pb.tasks(); t++) {
                    assertEquals(icpt[a * pb.tasks() + t], s.intercept()[t], COEF_REL * Math.max(1, Math.abs(icpt[a * pb.tasks() + t])));
                }
            }
        }
    }
}
