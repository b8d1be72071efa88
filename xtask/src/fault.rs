//! Test seams: `XTASK_FAULTS=reset.swap,reset.stage` makes the named steps fail,
//! so the integration tests can check that the runner recovers from failures a
//! real disk gives only rarely (and that no permission bit can cause for root).

/// Fails when `point` is listed in `XTASK_FAULTS` (comma-separated).
pub fn check(point: &str) -> std::io::Result<()> {
    let listed =
        std::env::var("XTASK_FAULTS").is_ok_and(|list| list.split(',').any(|p| p.trim() == point));
    if listed {
        Err(std::io::Error::other(format!(
            "injected fault `{point}` (XTASK_FAULTS)"
        )))
    } else {
        Ok(())
    }
}
