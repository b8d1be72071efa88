//! No code: this crate only declares dependencies, so that every cargo command
//! in the workspace builds the shared third-party crates with the same
//! features (see its `Cargo.toml`).
