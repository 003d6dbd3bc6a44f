//! Helpers shared by the integration tests.

use driftd_detectors::twosample::NumericTest;

/// Every numeric two-sample test, with its default settings.
pub fn numeric_tests() -> Vec<NumericTest> {
    vec![
        NumericTest::Ks { alpha: 0.05 },
        NumericTest::Wasserstein { threshold: 0.1 },
        NumericTest::WassersteinNormed { threshold: 0.1 },
        NumericTest::Psi {
            bins: 10,
            threshold: 0.1,
        },
        NumericTest::JensenShannon {
            bins: 10,
            threshold: 0.1,
        },
        NumericTest::Hellinger {
            bins: 10,
            threshold: 0.1,
        },
        NumericTest::KullbackLeibler {
            bins: 10,
            threshold: 0.1,
        },
        NumericTest::CramerVonMises { alpha: 0.05 },
        NumericTest::AndersonDarling { alpha: 0.05 },
        NumericTest::MannWhitney { alpha: 0.05 },
    ]
}
