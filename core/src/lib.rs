//! The subsidy system's core: domain types, policy math, the application
//! state machine, authorization, use cases and the ports they need.
//!
//! One folder per capability, each with its model, its use cases and what
//! it needs of storage: [`company`] (companies and their projects),
//! [`application`] (the application, its state machine, review),
//! [`documents`], [`payout`] (batches, the treasury file, the bank's
//! results), [`stats`] (live totals), [`notify`] (notices to each reader), [`identity`] (who acts, what they may
//! see, the staff directory) and [`audit`] (the chains and their anchors).
//! Beside them, what all share: [`error`], [`fields`], [`money`],
//! [`jurisdiction`], [`policy`], [`ports`] and [`sheet`].
//!
//! This crate knows nothing of AWS, HTTP or SQL; `make test` checks that
//! with `cargo tree`. Adapters live in `subsidy-infra`, HTTP in the function
//! crates.

pub mod application;
pub mod audit;
pub mod calendar;
pub mod company;
pub mod context;
pub mod documents;
pub mod error;
pub mod eta;
pub mod fields;
pub mod identity;
pub mod jurisdiction;
pub mod money;
pub mod notify;
pub mod payout;
pub mod policy;
pub mod ports;
pub mod service;
pub mod sheet;
pub mod stats;

#[cfg(test)]
pub(crate) mod testkit;

pub use error::{Error, StoreError};
pub use service::Services;
