//! Control groups and uplift: did the campaign work?

use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerId;
use crate::error::{Error, Result};
use crate::math::hash::fnv1a64;

validated_serde! {
/// Deterministic control-group assignment by hashing.
///
/// A customer is in the control group of a campaign when
/// `FNV-1a-64(campaign ‖ 0x1F ‖ customer) mod 10000 < share × 10000`, where
/// `campaign` is the campaign's UTF-8 bytes, `0x1F` the ASCII unit
/// separator, and `customer` the UTF-8 bytes of the id as displayed (a
/// number in decimal without leading zeros, a text id as is). The same
/// customer and campaign always land in the same group, on every run,
/// machine and release, and other systems can reproduce the split (the
/// share is in basis points: 0.1 % steps).
///
/// ```
/// use customer_lifecycle::CustomerId;
/// use customer_lifecycle::automation::ControlGroup;
///
/// let control = ControlGroup::new("spring-sale", 0.1)?;
/// // FNV-1a-64("spring-sale\x1f42") = 0xdf76ed9d802b4b23, mod 10000 = 6451 ≥ 1000: treatment.
/// assert!(!control.is_control(&CustomerId::from(42)));
/// assert_eq!(control.bucket(&CustomerId::from(42)), 6451);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ControlGroup {
    campaign: String,
    basis_points: u32,
}
}

impl ControlGroup {
    /// A loaded group: a campaign name and at most 10,000 basis points.
    fn check_consistent(&self) -> Result<()> {
        if self.campaign.is_empty() || self.basis_points > 10_000 {
            return Err(Error::InvalidArgument {
                name: "control group",
                reason: format!("campaign {:?} with {} basis points", self.campaign, self.basis_points),
            });
        }
        Ok(())
    }

    /// A control group of `share` (0..=1, rounded to basis points) of the campaign's customers.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::automation::ControlGroup;
    /// let control = ControlGroup::new("winback-2024", 0.2)?;
    /// assert!(ControlGroup::new("x", 1.5).is_err()); // a share is within 0..=1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty campaign or a share outside 0..=1.
    pub fn new(campaign: &str, share: f64) -> Result<ControlGroup> {
        if campaign.is_empty() {
            return Err(Error::InvalidArgument { name: "campaign", reason: "empty campaign name".into() });
        }
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::InvalidArgument { name: "control share", reason: format!("{share} is outside 0..=1") });
        }
        Ok(ControlGroup { campaign: campaign.to_string(), basis_points: (share * 10_000.0).round() as u32 })
    }

    /// The customer's bucket, 0..10000.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::automation::ControlGroup;
    /// let control = ControlGroup::new("winback-2024", 0.2)?;
    /// assert!(control.bucket(&CustomerId::from(42)) < 10_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bucket(&self, customer: &CustomerId) -> u32 {
        let mut bytes = self.campaign.as_bytes().to_vec();
        bytes.push(0x1F);
        bytes.extend_from_slice(customer.to_string().as_bytes());
        (fnv1a64(&bytes) % 10_000) as u32
    }

    /// Whether the customer is held out of the campaign.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::automation::ControlGroup;
    /// let control = ControlGroup::new("winback-2024", 0.2)?;
    /// let held_out = (0..10_000).filter(|&i| control.is_control(&CustomerId::from(i))).count();
    /// assert!((1_800..2_200).contains(&held_out)); // about 20 %
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_control(&self, customer: &CustomerId) -> bool {
        self.bucket(customer) < self.basis_points
    }

    /// The campaign.
    ///
    /// ```
    /// use customer_lifecycle::CustomerId;
    /// use customer_lifecycle::automation::ControlGroup;
    /// let control = ControlGroup::new("winback-2024", 0.2)?;
    /// assert_eq!(control.campaign(), "winback-2024");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn campaign(&self) -> &str {
        &self.campaign
    }
}

/// One customer's outcome in a campaign.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// In the control group.
    pub control: bool,
    /// Converted (bought, came back, …).
    pub converted: bool,
    /// Revenue over the measurement window.
    pub revenue: f64,
}

/// Treatment against control ([`Uplift::compute`]).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Uplift {
    /// Customers treated.
    pub treated: u64,
    /// Customers held out.
    pub controls: u64,
    /// Conversion rate of the treated.
    pub treated_rate: f64,
    /// Conversion rate of the controls.
    pub control_rate: f64,
    /// `treated_rate − control_rate`.
    pub difference: f64,
    /// 95 % confidence interval of the difference (Wald, unpooled standard error).
    pub confidence_interval: (f64, f64),
    /// Two-proportion z statistic (pooled standard error).
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// Mean revenue per treated customer minus per control.
    pub revenue_per_customer_difference: f64,
    /// 95 % confidence interval of it (Welch, normal approximation).
    pub revenue_confidence_interval: (f64, f64),
}

/// The 97.5 % quantile of the standard normal.
const Z_975: f64 = 1.959_963_984_540_054;

impl Uplift {
    /// The uplift report.
    ///
    /// * difference `p_t − p_c`, with the 95 % interval
    ///   `± 1.96 · √(p_t(1 − p_t)/n_t + p_c(1 − p_c)/n_c)` (unpooled);
    /// * `z = (p_t − p_c) / √(p(1 − p)(1/n_t + 1/n_c))` with the pooled
    ///   rate `p`, p-value `2 (1 − Φ(|z|)) = erfc(|z| / √2)`;
    /// * revenue per customer difference with a Welch interval.
    ///
    /// ```
    /// use customer_lifecycle::automation::{Outcome, Uplift};
    ///
    /// // 120 of 1000 treated converted, 90 of 1000 controls.
    /// let outcomes: Vec<Outcome> = (0..2000)
    ///     .map(|i| {
    ///         let control = i >= 1000;
    ///         let converted = if control { i - 1000 < 90 } else { i < 120 };
    ///         Outcome { control, converted, revenue: if converted { 50.0 } else { 0.0 } }
    ///     })
    ///     .collect();
    /// let u = Uplift::compute(&outcomes)?;
    /// assert!((u.difference - 0.03).abs() < 1e-12);
    /// assert!((u.p_value - 0.028650240398448473).abs() < 1e-9); // scipy.stats.norm.sf, two-sided
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Empty`] when either group is empty; [`Error::NonFinite`] for a NaN revenue.
    pub fn compute(outcomes: &[Outcome]) -> Result<Uplift> {
        let mut n = [0u64; 2];
        let mut c = [0u64; 2];
        // Revenues are scaled by the largest one and their mean and variance
        // kept by Welford's recurrence, so that neither a sum nor a square
        // overflows (revenues near f64::MAX gave NaN).
        let mut scale = 0.0f64;
        for o in outcomes {
            if !o.revenue.is_finite() {
                return Err(Error::NonFinite { field: "revenue", value: o.revenue });
            }
            scale = scale.max(o.revenue.abs());
        }
        let scale = if scale > 0.0 { scale } else { 1.0 };
        let mut mean_s = [0.0f64; 2];
        let mut m2_s = [0.0f64; 2];
        for o in outcomes {
            let g = usize::from(o.control);
            n[g] += 1;
            c[g] += u64::from(o.converted);
            let x = o.revenue / scale;
            let delta = x - mean_s[g];
            mean_s[g] += delta / n[g] as f64;
            m2_s[g] += delta * (x - mean_s[g]);
        }
        if n[0] == 0 || n[1] == 0 {
            return Err(Error::Empty { what: "customers in both the treatment and the control group" });
        }
        let (nt, nc) = (n[0] as f64, n[1] as f64);
        let (pt, pc) = (c[0] as f64 / nt, c[1] as f64 / nc);
        let difference = pt - pc;
        let se = (pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc).sqrt();
        let pooled = (c[0] + c[1]) as f64 / (nt + nc);
        let se0 = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
        let (z, p_value) = if se0 > 0.0 {
            let z = difference / se0;
            (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
        } else {
            (0.0, 1.0)
        };
        let var_s = |g: usize| {
            let k = n[g] as f64;
            if k > 1.0 { (m2_s[g] / (k - 1.0)).max(0.0) } else { 0.0 }
        };
        let rse = scale * (var_s(0) / nt + var_s(1) / nc).sqrt();
        let rdiff = (mean_s[0] - mean_s[1]) * scale;
        if !(rse.is_finite()
            && rdiff.is_finite()
            && (rdiff + Z_975 * rse).is_finite()
            && (rdiff - Z_975 * rse).is_finite())
        {
            return Err(Error::NonFinite { field: "revenue difference", value: rdiff });
        }
        Ok(Uplift {
            treated: n[0],
            controls: n[1],
            treated_rate: pt,
            control_rate: pc,
            difference,
            confidence_interval: (difference - Z_975 * se, difference + Z_975 * se),
            z,
            p_value,
            revenue_per_customer_difference: rdiff,
            revenue_confidence_interval: (rdiff - Z_975 * rse, rdiff + Z_975 * rse),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets computed independently (Python, FNV-1a-64 written out).
    #[test]
    fn huge_revenues_give_numbers_or_a_typed_error_never_nan() {
        let outcomes: Vec<Outcome> = (0..40)
            .map(|i| Outcome {
                control: i % 4 == 0,
                converted: i % 3 == 0,
                revenue: if i % 2 == 0 { 1e308 } else { 9e307 },
            })
            .collect();
        match Uplift::compute(&outcomes) {
            Ok(u) => {
                assert!(u.revenue_per_customer_difference.is_finite() && u.revenue_confidence_interval.1.is_finite())
            }
            Err(e) => assert!(matches!(e, Error::NonFinite { .. })),
        }
        // Opposite extremes cannot be subtracted in f64: a typed error.
        let opposite: Vec<Outcome> = (0..10)
            .map(|i| Outcome { control: i < 5, converted: false, revenue: if i < 5 { -1e308 } else { 1e308 } })
            .collect();
        assert!(matches!(Uplift::compute(&opposite), Err(Error::NonFinite { .. })));
    }

    #[test]
    fn fixed_assignments() {
        let cases = [
            ("spring-sale", CustomerId::from(42), 6451),
            ("spring-sale", CustomerId::from("alice"), 4839),
            ("winback-2024", CustomerId::from(42), 2924),
            ("winback-2024", CustomerId::parse_uuid("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap(), 1170),
        ];
        for (campaign, customer, bucket) in cases {
            assert_eq!(ControlGroup::new(campaign, 0.5).unwrap().bucket(&customer), bucket, "{campaign} {customer}");
        }
        let g = ControlGroup::new("winback-2024", 0.3).unwrap();
        assert!(g.is_control(&CustomerId::from(42))); // 2924 < 3000
        assert!(!ControlGroup::new("winback-2024", 0.29).unwrap().is_control(&CustomerId::from(42)));
        assert!(ControlGroup::new("", 0.1).is_err());
        assert!(ControlGroup::new("x", 1.5).is_err());
        // Share respected on many customers.
        let g = ControlGroup::new("share-check", 0.2).unwrap();
        let held = (0..100_000).filter(|&i| g.is_control(&CustomerId::from(i))).count();
        assert!((19_000..21_000).contains(&held), "{held}");
    }

    #[test]
    fn uplift_by_hand_against_scipy() {
        let mut outcomes = Vec::new();
        for i in 0..1000 {
            outcomes.push(Outcome { control: false, converted: i < 120, revenue: if i < 120 { 40.0 } else { 0.0 } });
            outcomes.push(Outcome { control: true, converted: i < 90, revenue: if i < 90 { 40.0 } else { 0.0 } });
        }
        let u = Uplift::compute(&outcomes).unwrap();
        // Python: diff 0.03, CI (0.003162087844242642, 0.056837912155757356), z 2.1882658846227234, p 0.028650240398448473.
        assert!((u.difference - 0.03).abs() < 1e-15);
        assert!((u.confidence_interval.0 - 0.003162087844242642).abs() < 1e-12);
        assert!((u.confidence_interval.1 - 0.056837912155757356).abs() < 1e-12);
        assert!((u.z - 2.1882658846227234).abs() < 1e-12);
        assert!((u.p_value - 0.028650240398448473).abs() < 1e-12);
        assert!((u.revenue_per_customer_difference - 1.2).abs() < 1e-12);
        assert!(Uplift::compute(&outcomes[..1].iter().copied().filter(|o| !o.control).collect::<Vec<_>>()).is_err());
        let nan = [Outcome { control: true, converted: false, revenue: f64::NAN }];
        assert!(Uplift::compute(&nan).is_err());
    }
}
