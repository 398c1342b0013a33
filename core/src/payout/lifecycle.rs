//! The payment batch's lifecycle: every state, every action, and who may
//! take it, as one pure function ([`decide`]) beside the application's own
//! machine (`state.rs`). The use cases in `payout.rs` ask it before they
//! touch a batch; nothing else decides what a batch may do.
//!
//! ```text
//!          fill, resume, seal
//!               ┌──────┐
//!               ▼      │
//!   create ─► building ─┴─ finish (lines > 0) ─► ready ─ release ─► released ─ close import ─► reconciled
//!               │        finish (no line) ──┐     │   (not a builder)   ▲  │  (none pending)       │
//!               └──── cancel ───────────────┴──►cancelled ◄─ cancel ────┘  └── import, file ◄──────┘
//! ```
//!
//! - Lines are added only while `building` and not sealed ([`Batch::claimable`]);
//!   sealing freezes them before the control totals are counted.
//! - A released batch can never be cancelled, and its file exists only
//!   once released (maker-checker: the releaser built no part of it).
//! - Results are imported into a released batch, and again into a
//!   reconciled one (a repeated import changes nothing).

use crate::error::Error;
use crate::payout::{Batch, BatchState};

/// What may be done to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAction {
    /// Claim approved applications as lines (a step of building).
    Fill,
    /// Continue the building of a batch a crash or a lost message left;
    /// the user becomes one of its builders.
    Resume,
    /// Freeze the lines before the control totals are counted (the first
    /// half of finishing).
    Seal,
    /// Freeze the lines and fix the control totals: `ready`, or
    /// `cancelled` when nothing was claimed.
    Finish { lines: u64 },
    /// Give every claimed application back before release.
    Cancel,
    /// Send to the bank: only someone who built no part of the batch.
    Release,
    /// Download the treasury file.
    DownloadFile,
    /// Import the bank's results file.
    ImportResults,
    /// Settle the next lines of a results file kept for the batch queue.
    SettleLines,
    /// After an import: `reconciled` once no line is pending.
    CloseImport { pending: u64 },
}

impl BatchAction {
    /// The action as the 409 names it ("cannot {verb} a batch that is …").
    pub fn verb(self) -> &'static str {
        match self {
            BatchAction::Fill => "add lines to",
            BatchAction::Resume => "resume",
            BatchAction::Seal | BatchAction::Finish { .. } => "finish",
            BatchAction::Cancel => "cancel",
            BatchAction::Release => "release",
            BatchAction::DownloadFile => "download the file of",
            BatchAction::ImportResults => "import results into",
            BatchAction::SettleLines => "settle results of",
            BatchAction::CloseImport { .. } => "close an import of",
        }
    }
}

/// The state `action` by `user` takes `batch` to (its own state when the
/// action changes none), or why it may not. The caller has already checked
/// that `user` is finance of the batch's district.
pub fn decide(batch: &Batch, user: &str, action: BatchAction) -> Result<BatchState, Error> {
    use BatchAction as A;
    use BatchState as S;
    let to = match (batch.state, action) {
        (S::Building, A::Fill | A::Resume | A::Seal) => S::Building,
        (S::Building, A::Finish { lines: 0 }) => S::Cancelled,
        (S::Building, A::Finish { .. }) => S::Ready,
        (S::Building | S::Ready, A::Cancel) => S::Cancelled,
        (S::Ready, A::Release) if batch.built_by(user) => return Err(Error::SameUserCannotRelease),
        (S::Ready, A::Release) => S::Released,
        (S::Released | S::Reconciled, A::DownloadFile | A::ImportResults) => batch.state,
        (S::Released, A::SettleLines) => S::Released,
        (S::Released | S::Reconciled, A::CloseImport { pending: 0 }) => S::Reconciled,
        (S::Released, A::CloseImport { .. }) => S::Released,
        (state, action) => return Err(Error::BatchWrongState { state: state.as_str(), action: action.verb() }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Fen;
    use BatchAction as A;
    use BatchState as S;

    const STATES: [S; 5] = [S::Building, S::Ready, S::Released, S::Reconciled, S::Cancelled];

    fn batch(state: S) -> Batch {
        Batch {
            id: "B1".into(),
            policy_id: "p".into(),
            district: "440304".into(),
            state,
            version: 3,
            note: None,
            created_by: "maker".into(),
            created_at: chrono::Utc::now(),
            released_by: None,
            released_at: None,
            line_count: 2,
            total: Fen::ZERO,
            paid_count: 0,
            paid: Fen::ZERO,
            failed_count: 0,
            failed: Fen::ZERO,
            left_out_for_budget: 0,
            updated_at: chrono::Utc::now(),
            audit_seq: 1,
            audit_head: String::new(),
            sealed: false,
            builders: vec!["resumer".into()],
        }
    }

    fn all_actions() -> Vec<A> {
        vec![
            A::Fill,
            A::Resume,
            A::Seal,
            A::Finish { lines: 0 },
            A::Finish { lines: 2 },
            A::Cancel,
            A::Release,
            A::DownloadFile,
            A::ImportResults,
            A::SettleLines,
            A::CloseImport { pending: 0 },
            A::CloseImport { pending: 1 },
        ]
    }

    /// The whole table: every state × every action, by a checker who built
    /// nothing. Anything not listed is refused with `wrong_state`.
    #[test]
    fn every_state_and_action() {
        let allowed = [
            (S::Building, A::Fill, S::Building),
            (S::Building, A::Resume, S::Building),
            (S::Building, A::Seal, S::Building),
            (S::Building, A::Finish { lines: 0 }, S::Cancelled),
            (S::Building, A::Finish { lines: 2 }, S::Ready),
            (S::Building, A::Cancel, S::Cancelled),
            (S::Ready, A::Cancel, S::Cancelled),
            (S::Ready, A::Release, S::Released),
            (S::Released, A::DownloadFile, S::Released),
            (S::Released, A::ImportResults, S::Released),
            (S::Released, A::SettleLines, S::Released),
            (S::Released, A::CloseImport { pending: 0 }, S::Reconciled),
            (S::Released, A::CloseImport { pending: 1 }, S::Released),
            (S::Reconciled, A::DownloadFile, S::Reconciled),
            (S::Reconciled, A::ImportResults, S::Reconciled),
            (S::Reconciled, A::CloseImport { pending: 0 }, S::Reconciled),
        ];
        let mut refused = 0;
        for state in STATES {
            for action in all_actions() {
                let got = decide(&batch(state), "checker", action);
                match allowed.iter().find(|(s, a, _)| *s == state && *a == action) {
                    Some((_, _, to)) => assert_eq!(got, Ok(*to), "{state:?} {action:?}"),
                    None => {
                        assert_eq!(
                            got,
                            Err(Error::BatchWrongState { state: state.as_str(), action: action.verb() }),
                            "{state:?} {action:?}"
                        );
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(refused, STATES.len() * all_actions().len() - allowed.len());
    }

    #[test]
    fn nobody_who_built_the_batch_may_release_it() {
        let ready = batch(S::Ready);
        assert_eq!(decide(&ready, "maker", A::Release), Err(Error::SameUserCannotRelease));
        assert_eq!(decide(&ready, "resumer", A::Release), Err(Error::SameUserCannotRelease));
        assert_eq!(decide(&ready, "checker", A::Release), Ok(S::Released));
        // A builder may still cancel a batch that is not released.
        assert_eq!(decide(&ready, "maker", A::Cancel), Ok(S::Cancelled));
    }

    #[test]
    fn a_released_batch_is_never_cancelled_and_has_no_file_before_release() {
        for state in [S::Released, S::Reconciled] {
            assert!(matches!(decide(&batch(state), "maker", A::Cancel), Err(Error::BatchWrongState { .. })));
        }
        for state in [S::Building, S::Ready, S::Cancelled] {
            let e = decide(&batch(state), "checker", A::DownloadFile).unwrap_err();
            assert_eq!(e.code(), "wrong_state");
            assert_eq!(e.to_string(), format!("cannot download the file of a batch that is {}", state.as_str()));
        }
    }

    /// `Batch::file_allowed` and the machine agree on when the file exists.
    #[test]
    fn the_file_exists_exactly_when_the_machine_allows_its_download() {
        for state in STATES {
            let b = batch(state);
            assert_eq!(b.file_allowed(), decide(&b, "checker", A::DownloadFile).is_ok(), "{state:?}");
        }
    }
}
