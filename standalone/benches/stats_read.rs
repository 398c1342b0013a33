//! How long a jurisdiction's live totals take to read, at 1,000 and at
//! 100,000 applications. The read touches only the pre-aggregated counters
//! of the unit and its children, so the two figures should match.
//!
//!     cargo bench -p subsidy-standalone --bench stats_read

use std::sync::Arc;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use subsidy_core::application::Application;
use subsidy_core::application::dispatch::ChangeRecord;
use subsidy_core::application::state::State;
use subsidy_core::company::credit_code::CreditCode;
use subsidy_core::company::{Company, CompanyProfile, Project, ProjectDetails};
use subsidy_core::fields::{AccountNumber, BankAccount, Phone, Text};
use subsidy_core::identity::{Actor, Role};
use subsidy_core::jurisdiction::{JurisdictionTree, Level};
use subsidy_core::money::Area;
use subsidy_core::policy::Policy;
use subsidy_core::ports::SystemClock;
use subsidy_core::{Services, stats};
use subsidy_infra::fs::FsBlobStore;
use subsidy_infra::sqlite::{Durability, SqliteStore};

fn text(s: &str) -> Text {
    Text::parse(s, 100).unwrap()
}

/// A store holding `n` applications spread over every community of
/// Shenzhen, in every state, already counted.
fn seeded(n: usize, rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, Services) {
    let dir = tempfile::tempdir().unwrap();
    let tree = Arc::new(JurisdictionTree::from_json(subsidy_infra::data::SHENZHEN_JURISDICTIONS).unwrap());
    let store = SqliteStore::open(&dir.path().join("bench.db"), Durability::Normal).unwrap();
    let policy = Policy::from_json(subsidy_infra::data::SHENZHEN_POLICY).unwrap();
    let blobs = Arc::new(FsBlobStore::new(dir.path(), "http://localhost", &[1; 32]));
    let services = store.services(
        blobs,
        Arc::new(subsidy_core::payout::NoBatchQueue),
        tree.clone(),
        Arc::new(SystemClock),
        &policy.id,
        subsidy_core::audit::AuditKey::for_tests(),
        Arc::new(subsidy_core::audit::anchor::NoAnchors),
    );
    // The view applies the policy's time limits and budgets: it is stored,
    // as the server stores it at start.
    rt.block_on(services.ports.policies.put_policy(&policy)).unwrap();
    let communities: Vec<String> =
        tree.units().filter(|u| u.level == Level::Community).map(|u| u.code.clone()).collect();
    let now = Utc::now();
    let states =
        [State::PendingCommunity, State::PendingSubdistrict, State::PendingDistrict, State::Approved, State::Returned];
    let mut batch = Vec::with_capacity(500);
    rt.block_on(async {
        for i in 0..n {
            let community = &communities[i % communities.len()];
            let company = Company {
                id: format!("C{}", i % (n / 2).max(1)),
                owner: format!("owner{i}"),
                profile: CompanyProfile {
                    credit_code: CreditCode::with_check_character("91440300MA5D00001").unwrap(),
                    name: text("物业"),
                    legal_representative: text("甲"),
                    contact_name: text("乙"),
                    contact_phone: Phone::parse("13800138000").unwrap(),
                    bank_account: BankAccount {
                        bank_name: text("银行"),
                        account_name: text("物业"),
                        account_number: AccountNumber::parse("1234567890").unwrap(),
                    },
                },
                version: 1,
                created_at: now,
                updated_at: now,
                audit_seq: 0,
                audit_head: subsidy_core::audit::GENESIS.to_string(),
            };
            let project = Project {
                id: format!("P{i}"),
                company_id: company.id.clone(),
                owner: company.owner.clone(),
                details: ProjectDetails {
                    name: text("小区"),
                    address: text("路"),
                    community: community.clone(),
                    managed_area: Area::parse("1000").unwrap(),
                    manager_name: text("经理"),
                    manager_phone: Phone::parse("13700137000").unwrap(),
                },
                jurisdiction: tree.path_of_community(community).unwrap(),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let area = Area::from_hundredths(100_000 + (i as i64 % 997) * 1_234).unwrap();
            let mut app = Application::draft(format!("A{i:08}"), &policy, &company, &project, area, None, now);
            app.state = states[i % states.len()];
            app.version = 2;
            if app.state == State::Approved {
                app.approved_area = Some(area);
                app.approved_amount = Some(policy.amount(area));
            }
            batch.push(ChangeRecord { old: None, new: app });
            if batch.len() == 500 {
                stats::apply_changes(services.ports.stats.as_ref(), &batch, now).await.unwrap();
                batch.clear();
            }
        }
        stats::apply_changes(services.ports.stats.as_ref(), &batch, now).await.unwrap();
    });
    (dir, services)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let city = Actor {
        user_id: "bench".into(),
        role: Role::City,
        unit: Some("440300".into()),
        phone: None,
        name: None,
        credit_code: None,
    };
    let mut group = c.benchmark_group("stats_read");
    // `cargo test --all-targets` runs benchmarks once as tests: keep that quick.
    let sizes: &[usize] = if std::env::args().any(|a| a == "--bench") { &[1_000, 100_000] } else { &[1_000] };
    for &n in sizes {
        let started = std::time::Instant::now();
        let (_dir, services) = seeded(n, &rt);
        eprintln!("seeded {n} applications in {:.1} s", started.elapsed().as_secs_f64());
        let check = rt.block_on(services.stats.stats(&city, "440300")).unwrap();
        assert_eq!(check.unit.raw.get(stats::Counter::Projects), n as i64, "every seeded application is counted");
        for code in ["440300", "440304001"] {
            group.bench_with_input(BenchmarkId::new(code, n), &n, |b, _| {
                b.to_async(&rt).iter(|| async { services.stats.stats(&city, code).await.unwrap() })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
