//! `watch`: re-verify the current exercise on every save.
//!
//! Never a stale verdict: a save that lands while a check runs marks the run
//! dirty, and a dirty run is followed by another. Never a cleared screen: runs
//! are separated by a rule, so the scrollback keeps every earlier message.
//! Keys arrive as lines on stdin (no raw terminal mode), so watch also works
//! without a terminal.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::cargo::Echo;
use crate::cli::WatchArgs;
use crate::course::{Course, Exercise, Tree};
use crate::error::{Context, Result};
use crate::progress::{Progress, Status};
use crate::ui::{self, paint};

use super::verify::{self, Verdict};

/// Editors write a file in bursts (truncate, write, rename); wait this long
/// after the last event before checking.
const DEBOUNCE: Duration = Duration::from_millis(150);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Debounce plus dirty flag: when to start a run, and whether a finished run
/// is already stale. Pure, so it is tested without a file system.
#[derive(Debug)]
pub struct Debounce {
    quiet: Duration,
    last_change: Option<Instant>,
    running: bool,
    dirty: bool,
}

impl Debounce {
    pub fn new(quiet: Duration) -> Self {
        Debounce {
            quiet,
            last_change: None,
            running: false,
            dirty: false,
        }
    }

    /// A relevant file changed. Returns true when this starts a new wait, the
    /// moment to tell the attendee "checking…".
    pub fn changed(&mut self, now: Instant) -> bool {
        if self.running {
            self.dirty = true;
            return false;
        }
        self.last_change.replace(now).is_none()
    }

    /// When the pending run is due, if one is pending.
    pub fn deadline(&self) -> Option<Instant> {
        if self.running {
            None
        } else {
            self.last_change.map(|t| t + self.quiet)
        }
    }

    /// Starts the pending run if it is due.
    pub fn start_if_due(&mut self, now: Instant) -> bool {
        if self.deadline().is_some_and(|d| d <= now) {
            self.running = true;
            self.last_change = None;
            true
        } else {
            false
        }
    }

    /// Starts a run now (the first run, or one the attendee asked for).
    pub fn start_now(&mut self) {
        self.running = true;
        self.last_change = None;
    }

    /// The run ended. Returns true when a save landed during it: its verdict may
    /// be stale, so another run is scheduled.
    pub fn finished(&mut self, now: Instant) -> bool {
        self.running = false;
        let stale = std::mem::take(&mut self.dirty);
        if stale {
            self.last_change = Some(now);
        }
        stale
    }
}

enum Msg {
    Changed(PathBuf),
    Key(String),
    WatchError(String),
}

pub fn run(course: &Course, args: &WatchArgs) -> Result<ExitCode> {
    let ex = super::chosen(course, &Progress::load(course), args.exercise.as_deref())?.clone();
    super::ensure_whole(course, Some(&ex))?;
    make_current(course, &ex);
    if !args.poll && looks_like_wsl_mount(&course.root) {
        ui::note(
            "this looks like a Windows drive under WSL, where file-change events do not arrive: if saves are not noticed, use `cargo xtask watch --poll`",
        );
    }
    let (tx, rx) = mpsc::channel();
    let _watcher = start_watcher(
        &course.root.join(Tree::Exercise.folder()),
        args.poll,
        tx.clone(),
    )?;
    spawn_key_reader(tx);
    let mut session = Session {
        course,
        ex,
        all_reports: args.all_reports,
        state: Debounce::new(DEBOUNCE),
        rx,
        keys: VecDeque::new(),
    };
    session.run()
}

/// What goes to the next key: the loop continues, a run starts, or watch ends.
enum Next {
    Wait,
    Run,
    Quit,
}

/// What watch keeps between runs. Never a copy of the progress: other
/// terminals may change it at any time, so each use reads or updates the file.
struct Session<'c> {
    course: &'c Course,
    ex: Exercise,
    all_reports: bool,
    state: Debounce,
    rx: Receiver<Msg>,
    /// Keys typed while a check ran: handled once it is done, never dropped.
    keys: VecDeque<String>,
}

impl Session<'_> {
    fn run(&mut self) -> Result<ExitCode> {
        let mut verdict = self.check(false);
        loop {
            let mut announced = false;
            footer(self.course, &self.ex, verdict);
            loop {
                match self.next_msg() {
                    Ok(Msg::Changed(path)) if self.is_relevant(&path) => {
                        if self.state.changed(Instant::now()) {
                            announce_change(self.course, &path);
                            announced = true;
                        }
                    }
                    Ok(Msg::Changed(_)) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Msg::WatchError(e)) => ui::warn(format!("file watcher: {e}")),
                    Ok(Msg::Key(key)) => match self.key(key.trim())? {
                        Next::Wait => {}
                        Next::Run => break,
                        Next::Quit => return Ok(ExitCode::SUCCESS),
                    },
                    // Stdin and watcher are gone: nothing can happen any more.
                    Err(RecvTimeoutError::Disconnected) => return Ok(ExitCode::SUCCESS),
                }
                if self.state.start_if_due(Instant::now()) {
                    break;
                }
            }
            verdict = self.check(announced);
        }
    }

    /// Queued keys first, then whatever arrives before the pending run is due.
    fn next_msg(&mut self) -> Result<Msg, RecvTimeoutError> {
        if let Some(key) = self.keys.pop_front() {
            return Ok(Msg::Key(key));
        }
        match self.state.deadline() {
            Some(d) => self
                .rx
                .recv_timeout(d.saturating_duration_since(Instant::now())),
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }

    fn key(&mut self, key: &str) -> Result<Next> {
        match key {
            "q" | "quit" => return Ok(Next::Quit),
            "h" => super::hint::show(self.course, &self.ex, None),
            "l" => {
                super::list::run(self.course)?;
            }
            "n" => match next(self.course, &Progress::load(self.course), &self.ex) {
                Ok(next) => {
                    self.ex = next.clone();
                    make_current(self.course, &self.ex);
                    return Ok(Next::Run);
                }
                Err(why) => anstream::println!("{why}"),
            },
            "" | "r" => return Ok(Next::Run),
            other => anstream::println!("unknown key `{other}`: n, h, l, r or q, then Enter"),
        }
        Ok(Next::Wait)
    }

    fn is_relevant(&self, path: &Path) -> bool {
        is_relevant(path, &self.course.dir(&self.ex, Tree::Exercise))
    }

    /// One or more runs until the verdict is fresh. `announced`: the change
    /// that triggered this run was already announced with "checking…".
    fn check(&mut self, mut announced: bool) -> Option<Verdict> {
        let (course, ex) = (self.course, self.ex.clone());
        self.state.start_now();
        loop {
            if !announced {
                anstream::println!("{}", ui::separator());
            }
            verify::print_header(course, &ex);
            if !announced {
                verify::print_checking();
            }
            let colour = ui::stdout_has_colour();
            let verification = match verify::verify_exercise(course, &ex, Echo::Live { colour }) {
                Ok(v) => v,
                Err(e) => {
                    ui::warn(e);
                    self.state.finished(Instant::now());
                    return None;
                }
            };
            // Saves that arrived while cargo ran make this verdict possibly stale.
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    Msg::Changed(path) if self.is_relevant(&path) => {
                        self.state.changed(Instant::now());
                    }
                    Msg::Changed(_) => {}
                    Msg::Key(key) => self.keys.push_back(key),
                    Msg::WatchError(e) => ui::warn(format!("file watcher: {e}")),
                }
            }
            verify::record(course, &ex, &verification, true);
            if self.state.finished(Instant::now()) {
                anstream::println!(
                    "{}",
                    paint(ui::WARN, "a file changed during the check: checking again…")
                );
                std::thread::sleep(DEBOUNCE);
                self.state.start_now();
                announced = true;
                continue;
            }
            verify::report(
                course,
                &ex,
                &verification,
                verify::Mode::Watch,
                self.all_reports,
            );
            return Some(verification.verdict);
        }
    }
}

/// Records `ex` as the current exercise (merged with what is on disk).
fn make_current(course: &Course, ex: &Exercise) {
    if let Err(e) = Progress::update(course, |p| p.current = Some(ex.slug.clone())) {
        ui::warn(e);
    }
}

fn footer(course: &Course, ex: &Exercise, verdict: Option<Verdict>) {
    let next = match (verdict, course.next_after(ex)) {
        (Some(Verdict::Pass), Some(next)) => format!(" · n next ({})", next.label()),
        _ => String::new(),
    };
    anstream::println!(
        "{}",
        paint(
            ui::DIM,
            format!(
                "watching {} — save to re-check · keys + Enter: h hint · l list · r re-run{next} · q quit",
                course.rel(&course.dir(ex, Tree::Exercise)).display()
            )
        )
    );
}

fn announce_change(course: &Course, path: &Path) {
    anstream::println!(
        "{}\n{} changed — checking…",
        ui::separator(),
        paint(ui::BOLD, course.rel(path).display())
    );
}

/// The exercise `n` moves to: only once the current one is done.
fn next<'c>(
    course: &'c Course,
    progress: &Progress,
    ex: &Exercise,
) -> Result<&'c Exercise, String> {
    if progress.entry(&ex.slug).status != Status::Done {
        return Err(format!(
            "Exercise {} does not pass yet; finish it first.",
            ex.label()
        ));
    }
    course
        .next_after(ex)
        .ok_or_else(|| "That was the last exercise. Well done!".to_string())
}

/// Source and manifest changes of the watched exercise; editor swap files,
/// backups and build output do not trigger a run.
fn is_relevant(path: &Path, exercise_dir: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(exercise_dir) else {
        return false;
    };
    if rel.starts_with("target") {
        return false;
    }
    path.extension().is_some_and(|e| e == "rs")
        || path.file_name().is_some_and(|n| n == "Cargo.toml")
}

fn is_interesting(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

fn start_watcher(dir: &Path, poll: bool, tx: Sender<Msg>) -> Result<Box<dyn Watcher>> {
    let handler = move |event: notify::Result<notify::Event>| {
        let msgs = match event {
            Ok(event) if is_interesting(&event.kind) => {
                event.paths.into_iter().map(Msg::Changed).collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => vec![Msg::WatchError(e.to_string())],
        };
        for msg in msgs {
            let _ = tx.send(msg);
        }
    };
    let mut watcher: Box<dyn Watcher> = if poll {
        // Compare contents too: the poll watcher keeps modification times in
        // whole seconds, so two saves within one second would look like one.
        let config = notify::Config::default()
            .with_poll_interval(POLL_INTERVAL)
            .with_compare_contents(true);
        Box::new(
            notify::PollWatcher::new(handler, config)
                .context(|| "starting the poll watcher".into())?,
        )
    } else {
        Box::new(
            notify::recommended_watcher(handler).context(|| "starting the file watcher".into())?,
        )
    };
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .context(|| format!("watching {}", dir.display()))?;
    Ok(watcher)
}

/// Reads key lines from stdin until it closes (it may never open: no TTY is fine).
fn spawn_key_reader(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(Msg::Key(line)).is_err() {
                break;
            }
        }
    });
}

/// WSL's `/mnt/c` (a Windows drive) delivers no inotify events.
fn looks_like_wsl_mount(root: &Path) -> bool {
    let wsl = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.to_ascii_lowercase().contains("microsoft"))
        .unwrap_or(false);
    wsl && root.starts_with("/mnt/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(150);

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn a_burst_of_saves_gives_one_checking_line_and_one_run() {
        let t = Instant::now();
        let mut d = Debounce::new(Q);
        assert!(d.changed(ms(t, 0)), "first save shows checking… at once");
        assert!(!d.changed(ms(t, 40)));
        assert!(!d.changed(ms(t, 90)));
        assert!(
            !d.start_if_due(ms(t, 200)),
            "still within the quiet period of the last save"
        );
        assert_eq!(d.deadline(), Some(ms(t, 240)));
        assert!(d.start_if_due(ms(t, 240)));
        assert!(!d.start_if_due(ms(t, 500)), "one run per burst");
        assert!(
            !d.finished(ms(t, 900)),
            "no save during the run: the verdict is fresh"
        );
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_save_during_a_run_triggers_another_run() {
        let t = Instant::now();
        let mut d = Debounce::new(Q);
        d.changed(ms(t, 0));
        assert!(d.start_if_due(ms(t, 150)));
        assert!(
            !d.changed(ms(t, 400)),
            "no new checking… line while running"
        );
        assert_eq!(d.deadline(), None, "no second run while one is in flight");
        assert!(d.finished(ms(t, 900)), "the verdict is stale");
        assert!(d.start_if_due(ms(t, 1050)));
        assert!(!d.finished(ms(t, 1500)));
    }

    #[test]
    fn only_sources_of_the_watched_exercise_are_relevant() {
        let dir = Path::new("/w/exercises/01-a");
        assert!(is_relevant(Path::new("/w/exercises/01-a/src/lib.rs"), dir));
        assert!(is_relevant(Path::new("/w/exercises/01-a/Cargo.toml"), dir));
        assert!(!is_relevant(
            Path::new("/w/exercises/01-a/src/.lib.rs.swp"),
            dir
        ));
        assert!(!is_relevant(
            Path::new("/w/exercises/01-a/src/lib.rs~"),
            dir
        ));
        assert!(!is_relevant(Path::new("/w/exercises/02-b/src/lib.rs"), dir));
        assert!(!is_relevant(
            Path::new("/w/exercises/01-a/target/x.rs"),
            dir
        ));
    }
}
