//! The subsidy system's core: domain types, policy math, the application
//! state machine, authorization, use cases and the ports they need.
//!
//! This crate knows nothing of AWS, HTTP or SQL; `make test` checks that
//! with `cargo tree`. Adapters live in `subsidy-infra`, HTTP in the function
//! crates.

pub mod anchor;
pub mod application;
pub mod audit;
pub mod authz;
pub mod batch_state;
pub mod company;
pub mod credit_code;
pub mod disbursement;
pub mod dispatch;
pub mod document;
pub mod error;
pub mod fields;
pub mod identity;
pub mod jurisdiction;
pub mod money;
pub mod payout;
pub mod policy;
pub mod ports;
pub mod precheck;
pub mod service;
pub mod sheet;
pub mod staff;
pub mod state;
pub mod stats;
pub mod views;

#[cfg(test)]
pub(crate) mod testkit;

pub use error::{Error, StoreError};
pub use service::Services;
