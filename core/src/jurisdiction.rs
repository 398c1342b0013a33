//! The jurisdiction tree: city → district-level unit → subdistrict → community.
//!
//! The tree is data (see `data/jurisdictions/`), never inferred from code
//! prefixes: 大鹏新区 manages subdistricts that are statistically coded under
//! 龙岗区. Every containment question is answered by walking parent links.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    City,
    District,
    Subdistrict,
    Community,
}

impl Level {
    fn parent(self) -> Option<Level> {
        match self {
            Level::City => None,
            Level::District => Some(Level::City),
            Level::Subdistrict => Some(Level::District),
            Level::Community => Some(Level::Subdistrict),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
}

/// The four units an application belongs to, copied onto the application
/// when it is created so that lists can be indexed by any level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JurisdictionPath {
    pub city: String,
    pub district: String,
    pub subdistrict: String,
    pub community: String,
}

impl JurisdictionPath {
    /// The code of this path at the given level.
    pub fn at(&self, level: Level) -> &str {
        match level {
            Level::City => &self.city,
            Level::District => &self.district,
            Level::Subdistrict => &self.subdistrict,
            Level::Community => &self.community,
        }
    }
}

/// The tree, checked and indexed. A tree built from data the program
/// carries may be indexed on first use instead ([`JurisdictionTree::lazy`]),
/// so that a Lambda function's cold start does not parse it.
#[derive(Debug, Clone)]
pub struct JurisdictionTree {
    index: OnceLock<Index>,
    /// The JSON a lazy tree is built from on first use.
    source: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Index {
    units: HashMap<String, Unit>,
    children: HashMap<String, Vec<String>>,
    root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("jurisdiction file is not valid JSON: {0}")]
    Json(String),
    #[error("jurisdiction file must have exactly one city root, found {0}")]
    Roots(usize),
    #[error("unit {0} appears twice")]
    Duplicate(String),
    #[error("unit {code} names parent {parent}, which does not exist")]
    MissingParent { code: String, parent: String },
    #[error("unit {code} is a {level:?} but its parent {parent} is not one level up")]
    LevelMismatch { code: String, level: Level, parent: String },
}

#[derive(Deserialize)]
struct TreeFile {
    nodes: Vec<Unit>,
}

impl JurisdictionTree {
    /// Parses the JSON file format of `data/jurisdictions/*.json`.
    pub fn from_json(text: &str) -> Result<JurisdictionTree, TreeError> {
        let file: TreeFile = serde_json::from_str(text).map_err(|e| TreeError::Json(e.to_string()))?;
        JurisdictionTree::from_units(file.nodes)
    }

    /// Builds and checks a tree: one city root, every parent present and
    /// exactly one level up. Level checks make cycles impossible.
    pub fn from_units(units: Vec<Unit>) -> Result<JurisdictionTree, TreeError> {
        let mut map = HashMap::with_capacity(units.len());
        for u in units {
            if map.contains_key(&u.code) {
                return Err(TreeError::Duplicate(u.code));
            }
            map.insert(u.code.clone(), u);
        }
        let roots: Vec<&Unit> = map.values().filter(|u| u.parent.is_none()).collect();
        if roots.len() != 1 || roots[0].level != Level::City {
            return Err(TreeError::Roots(roots.len()));
        }
        let root = roots[0].code.clone();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for u in map.values() {
            if let Some(p) = &u.parent {
                let parent =
                    map.get(p).ok_or_else(|| TreeError::MissingParent { code: u.code.clone(), parent: p.clone() })?;
                if Some(parent.level) != u.level.parent() {
                    return Err(TreeError::LevelMismatch { code: u.code.clone(), level: u.level, parent: p.clone() });
                }
                children.entry(p.clone()).or_default().push(u.code.clone());
            }
        }
        for list in children.values_mut() {
            list.sort();
        }
        Ok(JurisdictionTree { index: OnceLock::from(Index { units: map, children, root }), source: None })
    }

    /// A tree parsed from `json` (the format of [`Self::from_json`]) when
    /// it is first used. For data compiled into the program, which its
    /// tests parse: invalid data panics on first use.
    pub fn lazy(json: &'static str) -> JurisdictionTree {
        JurisdictionTree { index: OnceLock::new(), source: Some(json) }
    }

    fn ix(&self) -> &Index {
        self.index.get_or_init(|| {
            let json = self.source.expect("a tree without an index has its source");
            match JurisdictionTree::from_json(json) {
                Ok(t) => t.index.into_inner().expect("a parsed tree is indexed"),
                Err(e) => panic!("the built-in jurisdiction tree is invalid: {e}"),
            }
        })
    }

    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.ix().units.get(code)
    }

    pub fn root(&self) -> &Unit {
        let ix = self.ix();
        &ix.units[&ix.root]
    }

    pub fn children(&self, code: &str) -> impl Iterator<Item = &Unit> {
        let ix = self.ix();
        ix.children.get(code).into_iter().flatten().map(|c| &ix.units[c])
    }

    pub fn len(&self) -> usize {
        self.ix().units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ix().units.is_empty()
    }

    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.ix().units.values()
    }

    /// True when `ancestor` is `code` itself or lies above it in the tree.
    pub fn contains(&self, ancestor: &str, code: &str) -> bool {
        let units = &self.ix().units;
        let mut cur = units.get(code);
        while let Some(u) = cur {
            if u.code == ancestor {
                return true;
            }
            cur = u.parent.as_deref().and_then(|p| units.get(p));
        }
        false
    }

    /// The path from the city down to a community, or `None` when the code
    /// is not a community of this tree.
    pub fn path_of_community(&self, code: &str) -> Option<JurisdictionPath> {
        let units = &self.ix().units;
        let community = units.get(code).filter(|u| u.level == Level::Community)?;
        let subdistrict = units.get(community.parent.as_deref()?)?;
        let district = units.get(subdistrict.parent.as_deref()?)?;
        let city = units.get(district.parent.as_deref()?)?;
        Some(JurisdictionPath {
            city: city.code.clone(),
            district: district.code.clone(),
            subdistrict: subdistrict.code.clone(),
            community: community.code.clone(),
        })
    }
}

// What callers see of a unit and a path through the tree.

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JurisdictionView {
    #[serde(flatten)]
    pub codes: JurisdictionPath,
    pub names: JurisdictionNames,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JurisdictionNames {
    pub city: String,
    pub district: String,
    pub subdistrict: String,
    pub community: String,
}

impl JurisdictionView {
    pub fn of(path: &JurisdictionPath, tree: &JurisdictionTree) -> JurisdictionView {
        let name = |level| tree.get(path.at(level)).map(|u| u.name.clone()).unwrap_or_default();
        JurisdictionView {
            codes: path.clone(),
            names: JurisdictionNames {
                city: name(Level::City),
                district: name(Level::District),
                subdistrict: name(Level::Subdistrict),
                community: name(Level::Community),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub children: Vec<UnitSummary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitSummary {
    pub code: String,
    pub name: String,
    pub level: Level,
}

impl UnitSummary {
    pub fn of(u: &Unit) -> UnitSummary {
        UnitSummary { code: u.code.clone(), name: u.name.clone(), level: u.level }
    }
}

impl UnitView {
    pub fn of(u: &Unit, tree: &JurisdictionTree) -> UnitView {
        UnitView {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
            parent: u.parent.clone(),
            children: tree.children(&u.code).map(UnitSummary::of).collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn unit(code: &str, level: Level, parent: Option<&str>) -> Unit {
        Unit { code: code.into(), name: code.into(), level, parent: parent.map(Into::into) }
    }

    /// A small tree with the 大鹏新区 shape: subdistrict 440307009 sits under
    /// 440398, not under 440307, whatever its prefix says.
    pub(crate) fn sample() -> JurisdictionTree {
        JurisdictionTree::from_units(vec![
            unit("440300", Level::City, None),
            unit("440307", Level::District, Some("440300")),
            unit("440398", Level::District, Some("440300")),
            unit("440307003", Level::Subdistrict, Some("440307")),
            unit("440307009", Level::Subdistrict, Some("440398")),
            unit("440307003001", Level::Community, Some("440307003")),
            unit("440307003002", Level::Community, Some("440307003")),
            unit("440307009001", Level::Community, Some("440307009")),
        ])
        .unwrap()
    }

    #[test]
    fn containment_walks_the_tree_not_the_code_prefix() {
        let t = sample();
        assert!(t.contains("440398", "440307009001"));
        assert!(!t.contains("440307", "440307009001"), "prefix says 龙岗, the tree says 大鹏");
        assert!(t.contains("440307", "440307003001"));
        assert!(t.contains("440300", "440307009001"));
        assert!(t.contains("440307003001", "440307003001"));
        assert!(!t.contains("440307003002", "440307003001"), "siblings do not contain each other");
        assert!(!t.contains("440307003001", "440307003"), "a child does not contain its parent");
        assert!(!t.contains("440300", "999999999999"));
    }

    #[test]
    fn a_community_path_follows_the_managing_district() {
        let p = sample().path_of_community("440307009001").unwrap();
        assert_eq!(p.district, "440398");
        assert_eq!(p.subdistrict, "440307009");
        assert!(sample().path_of_community("440307009").is_none(), "a subdistrict is not a community");
        assert!(sample().path_of_community("nope").is_none());
    }

    const SAMPLE_JSON: &str = r#"{"nodes": [
        {"code": "440300", "name": "深圳市", "level": "city", "parent": null},
        {"code": "440398", "name": "大鹏新区", "level": "district", "parent": "440300"},
        {"code": "440307009", "name": "大鹏街道", "level": "subdistrict", "parent": "440398"},
        {"code": "440307009001", "name": "大鹏社区", "level": "community", "parent": "440307009"}
    ]}"#;

    #[test]
    fn a_lazy_tree_answers_as_the_parsed_one_and_parses_once() {
        let (lazy, parsed) = (JurisdictionTree::lazy(SAMPLE_JSON), JurisdictionTree::from_json(SAMPLE_JSON).unwrap());
        assert!(lazy.index.get().is_none(), "nothing is parsed before the first use");
        assert_eq!(lazy.len(), parsed.len());
        assert!(lazy.index.get().is_some(), "the first use parsed it");
        assert_eq!(lazy.root(), parsed.root());
        assert_eq!(lazy.path_of_community("440307009001"), parsed.path_of_community("440307009001"));
        assert!(lazy.contains("440398", "440307009001"));
        assert_eq!(lazy.children("440398").collect::<Vec<_>>(), parsed.children("440398").collect::<Vec<_>>());
        // A clone of a used lazy tree keeps the index.
        assert!(lazy.clone().index.get().is_some());
    }

    #[test]
    #[should_panic(expected = "the built-in jurisdiction tree is invalid")]
    fn a_lazy_tree_of_bad_data_fails_at_first_use() {
        let bad = JurisdictionTree::lazy(r#"{"nodes": []}"#);
        bad.len();
    }

    #[test]
    fn malformed_trees_are_refused() {
        let two_roots = vec![unit("1", Level::City, None), unit("2", Level::City, None)];
        assert_eq!(JurisdictionTree::from_units(two_roots).unwrap_err(), TreeError::Roots(2));
        let orphan = vec![unit("1", Level::City, None), unit("3", Level::Subdistrict, Some("2"))];
        assert!(matches!(JurisdictionTree::from_units(orphan), Err(TreeError::MissingParent { .. })));
        let skip = vec![unit("1", Level::City, None), unit("3", Level::Subdistrict, Some("1"))];
        assert!(matches!(JurisdictionTree::from_units(skip), Err(TreeError::LevelMismatch { .. })));
        let dup = vec![unit("1", Level::City, None), unit("1", Level::District, Some("1"))];
        assert!(matches!(JurisdictionTree::from_units(dup), Err(TreeError::Duplicate(_))));
        assert!(matches!(JurisdictionTree::from_json("{"), Err(TreeError::Json(_))));
    }

    #[test]
    fn the_shipped_shenzhen_tree_has_the_managed_areas_in_place() {
        let t = JurisdictionTree::from_json(include_str!("../../data/jurisdictions/shenzhen.json")).unwrap();
        assert_eq!(t.root().name, "深圳市");
        let districts: Vec<&str> = t.children("440300").map(|u| u.name.as_str()).collect();
        assert_eq!(districts.len(), 11, "{districts:?}");
        let dapeng: Vec<&str> = t.children("440398").map(|u| u.name.as_str()).collect();
        assert_eq!(dapeng, ["葵涌街道", "大鹏街道", "南澳街道"]);
        let shenshan: Vec<&str> = t.children("440399").map(|u| u.name.as_str()).collect();
        assert_eq!(shenshan, ["小漠镇", "鹅埠镇", "赤石镇", "鲘门镇"]);
        assert!(!t.children("440307").any(|u| u.code == "440307009"));
        let communities = t.units().filter(|u| u.level == Level::Community).count();
        assert!(communities > 700, "{communities}");
        for u in t.units().filter(|u| u.level == Level::Community) {
            assert!(t.path_of_community(&u.code).is_some());
            assert_eq!(u.code.len(), 12);
        }
    }
}
