//! Test helpers that several exercises share, written once.

pub mod sql;
