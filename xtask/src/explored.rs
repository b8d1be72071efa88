//! What an exercise's explorations reached, for `verify`'s pass message.
//!
//! The harness's explorer sums the counts of every test of a test binary and
//! writes them, in the one line a pass shows, to
//! `<target>/harness-traces/<package>/<test binary>.explored` (the format is
//! the harness's, `Coverage::summary_of_tests`; the runner only prints it):
//! `explored 1802 schedules in 4 tests · 14 fault points reached 9120×,
//! struck 310× · preempted orders#1 402×, orders#2 398× · 9/9
//! sometimes-conditions held`. So an attendee sees that the tests met what
//! they are about: the fault points were struck, the workers interleaved,
//! every sometimes-condition held.

use std::path::Path;
use std::time::SystemTime;

/// The lines the explorations that ran since `since` wrote (one per test
/// binary that explored), or `None` when no exploration ran.
pub fn summary(traces: &Path, since: SystemTime) -> Option<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(traces).ok()?.flatten() {
        let path = entry.path();
        let fresh = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified >= since);
        if fresh
            && path.extension().is_some_and(|ext| ext == "explored")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_written_since_the_run_began_count() {
        let dir = std::env::temp_dir().join(format!("explored-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = "explored 7 schedules in 1 test · 1/1 sometimes-conditions held";
        std::fs::write(dir.join("a.explored"), format!("{line}\n")).unwrap();
        std::fs::write(dir.join("a.html"), "not counts").unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(summary(&dir, before).as_deref(), Some(line));
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(summary(&dir, later), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
