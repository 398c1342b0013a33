//! The population a bench run generates: companies, their projects spread
//! over the real jurisdictions, and the areas, all from a fixed seed so two
//! runs of a scale are the same work.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use subsidy_core::company::credit_code::CreditCode;
use subsidy_core::jurisdiction::{JurisdictionPath, JurisdictionTree, Level};

/// The preset sizes. `Seed` is Shenzhen 2020: 1,271 companies, 2,454
/// projects, 223,000,000 m² in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Seed,
    City,
    Nation,
}

pub const SEED_COMPANIES: usize = 1_271;
pub const SEED_PROJECTS: usize = 2_454;
/// 223,000,000 m², in hundredths.
pub const SEED_AREA_HUNDREDTHS: i64 = 22_300_000_000;

impl Scale {
    pub fn projects(self) -> usize {
        match self {
            Scale::Seed => SEED_PROJECTS,
            Scale::City => 100_000,
            Scale::Nation => 1_000_000,
        }
    }
}

pub struct Company {
    pub index: usize,
    pub credit_code: String,
    /// The phone of the one project manager its projects name.
    pub manager_phone: String,
    pub account_number: String,
}

pub struct Project {
    pub index: usize,
    pub company: usize,
    pub path: JurisdictionPath,
    pub area_hundredths: i64,
}

pub struct Plan {
    pub companies: Vec<Company>,
    pub projects: Vec<Project>,
}

impl Plan {
    /// `projects` projects owned by companies in Shenzhen's ratio (1,271 to
    /// 2,454), over every community of `tree`, with areas averaging
    /// Shenzhen's (about 90,872 m²). The seed scale's areas sum to exactly
    /// 223,000,000 m².
    pub fn new(tree: &JurisdictionTree, projects: usize, seed: u64) -> Plan {
        assert!(projects > 0, "at least one project");
        let mut rng = StdRng::seed_from_u64(seed);
        let n_companies = if projects == SEED_PROJECTS {
            SEED_COMPANIES
        } else {
            ((projects as u128 * SEED_COMPANIES as u128 + SEED_PROJECTS as u128 / 2) / SEED_PROJECTS as u128).max(1)
                as usize
        };
        let companies = (0..n_companies).map(company).collect();

        let mut communities: Vec<JurisdictionPath> = tree
            .units()
            .filter(|u| u.level == Level::Community)
            .filter_map(|u| tree.path_of_community(&u.code))
            .collect();
        communities.sort_by(|a, b| a.community.cmp(&b.community));
        assert!(!communities.is_empty(), "the tree has communities");

        let mean = SEED_AREA_HUNDREDTHS / SEED_PROJECTS as i64;
        let mut projects: Vec<Project> = (0..projects)
            .map(|i| Project {
                index: i,
                company: i % n_companies,
                path: communities[rng.random_range(0..communities.len())].clone(),
                // 20% to 180% of the mean, to the hundredth of a m².
                area_hundredths: rng.random_range(mean / 5..=mean * 9 / 5),
            })
            .collect();
        if projects.len() == SEED_PROJECTS {
            // Scale to Shenzhen's exact total: each area in proportion, the
            // hundredths left over by rounding down spread one each.
            let sum: i128 = projects.iter().map(|p| p.area_hundredths as i128).sum();
            for p in projects.iter_mut() {
                p.area_hundredths = (p.area_hundredths as i128 * SEED_AREA_HUNDREDTHS as i128 / sum) as i64;
            }
            let short = SEED_AREA_HUNDREDTHS - projects.iter().map(|p| p.area_hundredths).sum::<i64>();
            for p in projects.iter_mut().take(short as usize) {
                p.area_hundredths += 1;
            }
        }
        Plan { companies, projects }
    }

    pub fn area_hundredths(&self) -> i64 {
        self.projects.iter().map(|p| p.area_hundredths).sum()
    }

    /// The district-level units that have projects, sorted.
    pub fn districts(&self) -> Vec<String> {
        let mut d: Vec<String> = self.projects.iter().map(|p| p.path.district.clone()).collect();
        d.sort();
        d.dedup();
        d
    }
}

fn company(index: usize) -> Company {
    // 91 (enterprise) + 440300 (Shenzhen) + a nine-digit organisation code
    // made from the index, completed with its check character.
    let credit_code = CreditCode::with_check_character(&format!("91440300{:09}", 100_000_000 + index))
        .expect("digits are valid characters")
        .as_str()
        .to_string();
    Company {
        index,
        credit_code,
        manager_phone: format!("139{:08}", index),
        account_number: format!("6222{:015}", index),
    }
}

/// m² with two decimals, from hundredths.
pub fn decimal(hundredths: i64) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> JurisdictionTree {
        JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap()
    }

    #[test]
    fn the_seed_scale_is_shenzhen_2020_to_the_hundredth() {
        let plan = Plan::new(&tree(), Scale::Seed.projects(), 1);
        assert_eq!(plan.companies.len(), 1_271);
        assert_eq!(plan.projects.len(), 2_454);
        assert_eq!(plan.area_hundredths(), 22_300_000_000);
        assert!(plan.projects.iter().all(|p| p.area_hundredths > 0 && p.area_hundredths <= 500_000_000));
        // Every company has a project, and the projects reach most districts.
        let owners: std::collections::BTreeSet<usize> = plan.projects.iter().map(|p| p.company).collect();
        assert_eq!(owners.len(), 1_271);
        assert!(plan.districts().len() >= 10, "{:?}", plan.districts());
    }

    #[test]
    fn the_same_seed_plans_the_same_work_and_another_seed_does_not() {
        let a = Plan::new(&tree(), 500, 7);
        let b = Plan::new(&tree(), 500, 7);
        let c = Plan::new(&tree(), 500, 8);
        let key =
            |p: &Plan| p.projects.iter().map(|p| (p.path.community.clone(), p.area_hundredths)).collect::<Vec<_>>();
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
    }

    #[test]
    fn generated_credit_codes_are_valid_and_distinct() {
        let plan = Plan::new(&tree(), 3_000, 1);
        let mut seen = std::collections::HashSet::new();
        for c in &plan.companies {
            CreditCode::parse(&c.credit_code).unwrap();
            assert!(seen.insert(c.credit_code.clone()));
        }
        assert_eq!(plan.companies.len(), 1_554, "Shenzhen's ratio of companies to projects");
    }

    #[test]
    fn decimals_keep_two_places() {
        assert_eq!(decimal(5_234_567), "52345.67");
        assert_eq!(decimal(100), "1.00");
        assert_eq!(decimal(5), "0.05");
    }
}
