//! Special functions and null distributions the tests need.
//!
//! statrs provides the normal and chi-square distributions and `ln Γ`, which we use as they are.
//! What it lacks is written here, each file saying why: the Kolmogorov–Smirnov distributions
//! ([`kolmogorov`]), the Cramér–von Mises distributions ([`cvm`]) and the exact Mann–Whitney
//! distribution (in `twosample::numeric`).

pub(crate) mod cvm;
pub(crate) mod kolmogorov;

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Upper tail of the standard normal, `P(Z > z)` (statrs: `0.5 erfc(z/√2)`).
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
}

/// Upper tail of the chi-square distribution with `dof` degrees of freedom (statrs).
pub(crate) fn chi2_sf(x: f64, dof: f64) -> f64 {
    match ChiSquared::new(dof) {
        Ok(d) => d.sf(x),
        Err(_) => f64::NAN,
    }
}
