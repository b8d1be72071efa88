//! A blob store, like Azure Blob Storage or S3: bytes under a path, put / get
//! / delete and list by prefix. There are no transactions and no versions:
//! what makes blobs safe to use for exactly-once is a deterministic path
//! and a create-only write ([`BlobStore::put_if_absent`]), as the claim
//! check needs, or a path unique to each processing attempt.
//!
//! Two backends with the same behaviour: in memory (tests) and a directory
//! on disk (demos, so people can look at the files).
//!
//! ```
//! use harness::{BlobStore, Sim};
//!
//! let sim = Sim::new(1);
//! let payloads = BlobStore::in_memory(&sim, "payloads");
//! assert!(payloads.put_if_absent("bodies/m-1", b"{\"large\": true}").unwrap());
//! // A retry finds it there already and leaves it alone.
//! assert!(!payloads.put_if_absent("bodies/m-1", b"{\"large\": true}").unwrap());
//! assert_eq!(payloads.list("bodies/").unwrap(), ["bodies/m-1"]);
//! ```
//!
//! Paths are segments separated by `/`, like `labels/o-1.pdf`: no leading
//! `/`, no empty, `.` or `..` segment, no `\`, at most
//! [`MAX_PATH_BYTES`] bytes. Anything else is refused with an error saying why.
//!
//! Fault points: `blob.<name>.put` (also for `put_if_absent`),
//! `blob.<name>.get`, `blob.<name>.delete` and `blob.<name>.list`, with
//! [`Fault::FailBefore`](crate::Fault::FailBefore), [`Fault::FailAfter`](crate::Fault::FailAfter) (for put and delete: the
//! change happened, the caller gets an error; for reads it is just a
//! failure) and [`Fault::Delay`](crate::Fault::Delay). Other faults are ignored.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sim::{Restore, Saved};
use crate::{Error, EventKind, FaultPoint, Sim};

/// The longest path a blob may have, in bytes (so that every path also
/// makes a valid file name on disk).
pub const MAX_PATH_BYTES: usize = 120;

enum Backend {
    Memory(Mutex<BTreeMap<String, Vec<u8>>>),
    /// One file per blob, directly in `dir`, named by the blob's path with
    /// `%` and `/` escaped: no folders, so `a` and `a/b` can coexist as in
    /// a real blob store, and no path can point outside `dir`.
    Disk {
        dir: PathBuf,
        next_temporary: AtomicU64,
    },
}

/// The blobs are what a setup leaves in a blob store (see
/// [`Sim::same_in_every_schedule`]); a container on disk is not saved.
impl Restore for Backend {
    fn describe(&self) -> String {
        "a blob store".to_string()
    }

    fn save(&self) -> Result<Saved, String> {
        match self {
            Backend::Memory(blobs) => Ok(Box::new(lock_blobs(blobs).clone())),
            Backend::Disk { .. } => Err("a blob store on disk".to_string()),
        }
    }

    fn restore(&self, saved: &Saved) {
        let saved: &BTreeMap<String, Vec<u8>> = saved.downcast_ref().expect("saved blobs");
        if let Backend::Memory(blobs) = self {
            *lock_blobs(blobs) = saved.clone();
        }
    }
}

fn lock_blobs(
    blobs: &Mutex<BTreeMap<String, Vec<u8>>>,
) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    blobs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One container of blobs. Cheap to clone: clones share the blobs.
///
/// ```
/// use harness::{BlobStore, Sim};
/// let labels = BlobStore::in_memory(&Sim::new(1), "labels");
/// labels.put("o-1.pdf", b"%PDF-1.7").unwrap();
/// assert_eq!(labels.get("o-1.pdf").unwrap(), Some(b"%PDF-1.7".to_vec()));
/// assert_eq!(labels.get("o-2.pdf").unwrap(), None);
/// ```
#[derive(Clone)]
pub struct BlobStore {
    sim: Sim,
    name: String,
    backend: Arc<Backend>,
    max_blob_bytes: Option<usize>,
}

impl BlobStore {
    /// An empty container in memory, called `name` (fault points
    /// `blob.<name>.*`).
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "payloads");
    /// assert!(blobs.is_empty());
    /// ```
    pub fn in_memory(sim: &Sim, name: &str) -> BlobStore {
        BlobStore::with_backend(sim, name, Backend::Memory(Mutex::new(BTreeMap::new())))
    }

    /// A container kept in the directory `dir` (created if missing; blobs
    /// already there are part of the store). One file per blob, its name
    /// the blob's path with `/` written as `%2F`. On a file system that
    /// ignores case (macOS, Windows), `A` and `a` are the same blob.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let sim = harness::Sim::new(1);
    /// let blobs = harness::BlobStore::on_disk(&sim, "payloads", dir.path()).unwrap();
    /// blobs.put("labels/o-1.pdf", b"%PDF").unwrap();
    /// assert!(dir.path().join("labels%2Fo-1.pdf").exists());
    /// ```
    pub fn on_disk(sim: &Sim, name: &str, dir: impl AsRef<Path>) -> Result<BlobStore, Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|err| {
            Error::Other(format!(
                "blob store {name}: cannot create the directory {}: {err}",
                dir.display()
            ))
        })?;
        let backend = Backend::Disk {
            dir,
            next_temporary: AtomicU64::new(0),
        };
        Ok(BlobStore::with_backend(sim, name, backend))
    }

    fn with_backend(sim: &Sim, name: &str, backend: Backend) -> BlobStore {
        let store = BlobStore {
            sim: sim.clone(),
            name: name.to_string(),
            backend: Arc::new(backend),
            max_blob_bytes: None,
        };
        let part = Arc::downgrade(&store.backend);
        sim.register(part);
        store
    }

    /// The same store, refusing blobs larger than `limit` bytes.
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "small").with_max_blob_bytes(4);
    /// let err = blobs.put("x", b"too long").unwrap_err();
    /// assert!(err.to_string().contains("over the limit of 4 bytes"));
    /// ```
    pub fn with_max_blob_bytes(mut self, limit: usize) -> BlobStore {
        self.max_blob_bytes = Some(limit);
        self
    }

    /// The container's name.
    ///
    /// ```
    /// assert_eq!(harness::BlobStore::in_memory(&harness::Sim::new(1), "x").name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores `bytes` under `path`, replacing any blob there (last writer wins).
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "labels");
    /// blobs.put("o-1.pdf", b"first").unwrap();
    /// blobs.put("o-1.pdf", b"second").unwrap();
    /// assert_eq!(blobs.get("o-1.pdf").unwrap().unwrap(), b"second");
    /// ```
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        self.check_path(path)?;
        self.check_size(path, bytes)?;
        let fail_after = self.before("put", path, true)?;
        self.write(path, bytes, true)?;
        self.record(path, "stored");
        self.after("put", fail_after)
    }

    /// Stores `bytes` under `path` only if no blob is there; `Ok(true)` if it
    /// stored them, `Ok(false)` if a blob was there already (left as it was).
    /// With a path derived from the message id, a retry cannot overwrite.
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "payloads");
    /// assert_eq!(blobs.put_if_absent("bodies/m-1", b"v1"), Ok(true));
    /// assert_eq!(blobs.put_if_absent("bodies/m-1", b"v2"), Ok(false));
    /// assert_eq!(blobs.get("bodies/m-1").unwrap().unwrap(), b"v1");
    /// ```
    pub fn put_if_absent(&self, path: &str, bytes: &[u8]) -> Result<bool, Error> {
        self.check_path(path)?;
        self.check_size(path, bytes)?;
        let fail_after = self.before("put", path, true)?;
        let created = self.write(path, bytes, false)?;
        self.record(
            path,
            if created {
                "created"
            } else {
                "left the existing"
            },
        );
        self.after("put", fail_after)?;
        Ok(created)
    }

    /// Reads the blob under `path`; `Ok(None)` if there is none.
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "payloads");
    /// assert_eq!(blobs.get("bodies/m-1").unwrap(), None);
    /// ```
    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        self.check_path(path)?;
        self.before("get", path, false)?;
        let found = self.read(path)?;
        self.record(path, if found.is_some() { "read" } else { "found no" });
        Ok(found)
    }

    /// Deletes the blob under `path`; `Ok(true)` if there was one.
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "payloads");
    /// blobs.put("bodies/m-1", b"x").unwrap();
    /// assert_eq!(blobs.delete("bodies/m-1"), Ok(true));
    /// assert_eq!(blobs.delete("bodies/m-1"), Ok(false));
    /// ```
    pub fn delete(&self, path: &str) -> Result<bool, Error> {
        self.check_path(path)?;
        let fail_after = self.before("delete", path, true)?;
        let existed = self.remove(path)?;
        self.record(
            path,
            if existed {
                "deleted"
            } else {
                "found nothing to delete at"
            },
        );
        self.after("delete", fail_after)?;
        Ok(existed)
    }

    /// The paths of every blob whose path starts with `prefix`, sorted
    /// (`""` lists them all).
    ///
    /// ```
    /// let blobs = harness::BlobStore::in_memory(&harness::Sim::new(1), "payloads");
    /// for path in ["labels/o-2.pdf", "bodies/m-1", "labels/o-1.pdf"] {
    ///     blobs.put(path, b"x").unwrap();
    /// }
    /// assert_eq!(blobs.list("labels/").unwrap(), ["labels/o-1.pdf", "labels/o-2.pdf"]);
    /// assert_eq!(blobs.list("").unwrap().len(), 3);
    /// ```
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        self.before("list", prefix, false)?;
        let paths = self.paths()?;
        self.record(&format!("{prefix}*"), "listed");
        Ok(paths
            .into_iter()
            .filter(|path| path.starts_with(prefix))
            .collect())
    }

    /// How many blobs the store holds. For tests: no fault point, no trace.
    ///
    /// ```
    /// assert_eq!(harness::BlobStore::in_memory(&harness::Sim::new(1), "x").len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        // A directory that cannot be read holds nothing we can see.
        self.paths().map(|paths| paths.len()).unwrap_or(0)
    }

    /// True when the store holds no blob. For tests, like [`BlobStore::len`].
    ///
    /// ```
    /// assert!(harness::BlobStore::in_memory(&harness::Sim::new(1), "x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ----- checks, faults, trace -----

    fn check_path(&self, path: &str) -> Result<(), Error> {
        let problem = if path.is_empty() {
            Some("it is empty")
        } else if path.starts_with('/') {
            Some("it starts with `/` (blob paths are relative to the store)")
        } else if path.contains('\\') || path.contains('\0') {
            Some("it contains `\\` or a NUL character")
        } else if path.len() > MAX_PATH_BYTES {
            Some("it is longer than 120 bytes")
        } else if path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            Some("it has an empty, `.` or `..` segment (a path may not climb out of the store)")
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(Error::Other(format!(
                "blob store {} refuses the path `{path}`: {problem}. Use segments separated by \
                 `/`, like `labels/o-1.pdf`",
                self.name
            ))),
        }
    }

    fn check_size(&self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        match self.max_blob_bytes {
            Some(limit) if bytes.len() > limit => Err(Error::TooLarge {
                what: format!("blob {}/{path}", self.name),
                size: bytes.len(),
                limit,
            }),
            _ => Ok(()),
        }
    }

    /// Runs the fault point; `Ok(true)` means "do it, then report a failure".
    fn before(&self, operation: &str, key: &str, can_fail_after: bool) -> Result<bool, Error> {
        let point = FaultPoint::new("blob", &self.name, operation).with_key(key);
        self.sim.storage_fault(&point, can_fail_after)
    }

    fn after(&self, operation: &str, fail_after: bool) -> Result<(), Error> {
        if fail_after {
            return Err(Error::Injected {
                point: format!("blob.{}.{operation}", self.name),
                effect_applied: true,
            });
        }
        Ok(())
    }

    fn record(&self, path: &str, action: &str) {
        self.sim.record(EventKind::Blob {
            store: self.name.clone(),
            path: path.to_string(),
            action: action.to_string(),
        });
    }

    fn io_error(&self, doing: &str, path: &str, err: std::io::Error) -> Error {
        Error::Other(format!(
            "blob store {}: cannot {doing} `{path}` on disk: {err}",
            self.name
        ))
    }

    // ----- the two backends -----

    /// Writes the blob; with `replace` false, only if absent. Returns
    /// whether it wrote.
    fn write(&self, path: &str, bytes: &[u8], replace: bool) -> Result<bool, Error> {
        match &*self.backend {
            Backend::Memory(blobs) => {
                let mut blobs = lock(blobs);
                if !replace && blobs.contains_key(path) {
                    return Ok(false);
                }
                blobs.insert(path.to_string(), bytes.to_vec());
                Ok(true)
            }
            Backend::Disk {
                dir,
                next_temporary,
            } => {
                // Write aside, then move into place in one step, so that
                // nobody ever reads half a blob.
                let number = next_temporary.fetch_add(1, Ordering::Relaxed);
                let temporary = dir.join(format!("%partial-{}-{number}", std::process::id()));
                let target = dir.join(file_name(path));
                fs::write(&temporary, bytes).map_err(|err| self.io_error("write", path, err))?;
                let moved = if replace {
                    fs::rename(&temporary, &target).map(|()| true)
                } else {
                    // A hard link fails if the target exists: create-only, atomically.
                    let linked = match fs::hard_link(&temporary, &target) {
                        Ok(()) => Ok(true),
                        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(false),
                        Err(err) => Err(err),
                    };
                    let _ = fs::remove_file(&temporary);
                    linked
                };
                moved.map_err(|err| {
                    let _ = fs::remove_file(&temporary);
                    self.io_error("write", path, err)
                })
            }
        }
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        match &*self.backend {
            Backend::Memory(blobs) => Ok(lock(blobs).get(path).cloned()),
            Backend::Disk { dir, .. } => match fs::read(dir.join(file_name(path))) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
                Err(err) => Err(self.io_error("read", path, err)),
            },
        }
    }

    fn remove(&self, path: &str) -> Result<bool, Error> {
        match &*self.backend {
            Backend::Memory(blobs) => Ok(lock(blobs).remove(path).is_some()),
            Backend::Disk { dir, .. } => match fs::remove_file(dir.join(file_name(path))) {
                Ok(()) => Ok(true),
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
                Err(err) => Err(self.io_error("delete", path, err)),
            },
        }
    }

    /// Every blob's path, sorted.
    fn paths(&self) -> Result<Vec<String>, Error> {
        match &*self.backend {
            Backend::Memory(blobs) => Ok(lock(blobs).keys().cloned().collect()),
            Backend::Disk { dir, .. } => {
                let entries = fs::read_dir(dir).map_err(|err| self.io_error("list", "", err))?;
                let mut paths = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|err| self.io_error("list", "", err))?;
                    // Files that are no blob (half-written ones, strangers) are skipped.
                    if let Some(path) = entry.file_name().to_str().and_then(blob_path) {
                        paths.push(path);
                    }
                }
                paths.sort();
                Ok(paths)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The file name of a blob: its path with `%` and `/` escaped.
fn file_name(path: &str) -> String {
    path.replace('%', "%25").replace('/', "%2F")
}

/// The blob path of a file name, if it is one `file_name` makes.
fn blob_path(file_name: &str) -> Option<String> {
    let mut path = String::new();
    let mut rest = file_name;
    while let Some(at) = rest.find('%') {
        path.push_str(&rest[..at]);
        let escaped = rest.get(at..at + 3)?;
        path.push(match escaped {
            "%2F" => '/',
            "%25" => '%',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    path.push_str(rest);
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultRule;
    use std::time::Duration;

    /// Everything a user relies on, run against each backend.
    fn behaves_like_a_blob_store(make: &dyn Fn(&Sim) -> BlobStore) {
        puts_gets_and_deletes(make);
        lists_by_prefix_in_order(make);
        put_if_absent_never_overwrites(make);
        refuses_paths_that_escape(make);
        fail_before_and_fail_after(make);
        delay_and_size_limit(make);
        odd_but_valid_paths_round_trip(make);
    }

    fn puts_gets_and_deletes(make: &dyn Fn(&Sim) -> BlobStore) {
        let blobs = make(&Sim::new(1));
        assert_eq!(blobs.get("a/b").unwrap(), None);
        blobs.put("a/b", b"one").unwrap();
        blobs.put("a/b", b"two").unwrap();
        assert_eq!(blobs.get("a/b").unwrap().unwrap(), b"two");
        // Like a real blob store, `a` and `a/b` are unrelated names.
        blobs.put("a", b"zero").unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs.delete("a/b"), Ok(true));
        assert_eq!(blobs.delete("a/b"), Ok(false));
        assert_eq!(blobs.get("a/b").unwrap(), None);
        assert_eq!(blobs.get("a").unwrap().unwrap(), b"zero");
    }

    fn lists_by_prefix_in_order(make: &dyn Fn(&Sim) -> BlobStore) {
        let blobs = make(&Sim::new(1));
        for path in ["labels/o-2.pdf", "bodies/m-1", "labels/o-1.pdf", "labelsX"] {
            blobs.put(path, b"x").unwrap();
        }
        assert_eq!(
            blobs.list("labels/").unwrap(),
            ["labels/o-1.pdf", "labels/o-2.pdf"]
        );
        assert_eq!(
            blobs.list("").unwrap(),
            ["bodies/m-1", "labels/o-1.pdf", "labels/o-2.pdf", "labelsX"]
        );
        assert!(blobs.list("nothing/").unwrap().is_empty());
    }

    fn put_if_absent_never_overwrites(make: &dyn Fn(&Sim) -> BlobStore) {
        let blobs = make(&Sim::new(1));
        assert_eq!(blobs.put_if_absent("bodies/m-1", b"first"), Ok(true));
        assert_eq!(blobs.put_if_absent("bodies/m-1", b"second"), Ok(false));
        assert_eq!(blobs.get("bodies/m-1").unwrap().unwrap(), b"first");
        assert_eq!(blobs.list("").unwrap(), ["bodies/m-1"]);
    }

    fn refuses_paths_that_escape(make: &dyn Fn(&Sim) -> BlobStore) {
        let blobs = make(&Sim::new(1));
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        for bad in [
            "",
            "/etc/passwd",
            "../outside",
            "a/../../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            &long,
        ] {
            let err = blobs.put(bad, b"x").unwrap_err();
            assert!(
                err.to_string().contains("refuses the path"),
                "{bad:?}: {err}"
            );
            assert!(blobs.get(bad).is_err(), "{bad:?}");
            assert!(blobs.delete(bad).is_err(), "{bad:?}");
        }
        assert!(blobs.is_empty());
    }

    fn fail_before_and_fail_after(make: &dyn Fn(&Sim) -> BlobStore) {
        let sim = Sim::new(1);
        let blobs = make(&sim);
        sim.inject(FaultRule::at("blob.*.put").fail_before());
        assert!(blobs.put("a", b"x").unwrap_err().is_injected());
        assert!(blobs.is_empty());

        sim.inject(FaultRule::at("blob.*.put").fail_after());
        let err = blobs.put_if_absent("a", b"x").unwrap_err();
        assert!(matches!(
            err,
            Error::Injected {
                effect_applied: true,
                ..
            }
        ));
        assert_eq!(blobs.get("a").unwrap().unwrap(), b"x");

        sim.inject(FaultRule::at("blob.*.delete").fail_after());
        assert!(blobs.delete("a").is_err());
        assert!(blobs.is_empty());

        sim.inject(FaultRule::at("blob.*.get").fail_after());
        let err = blobs.get("a").unwrap_err();
        assert!(matches!(
            err,
            Error::Injected {
                effect_applied: false,
                ..
            }
        ));
        sim.inject(FaultRule::at("blob.*.list").fail_before());
        assert!(blobs.list("").is_err());
    }

    fn delay_and_size_limit(make: &dyn Fn(&Sim) -> BlobStore) {
        let sim = Sim::new(1);
        let blobs = make(&sim).with_max_blob_bytes(3);
        sim.inject(FaultRule::at("blob.*.get").delay(Duration::from_secs(2)));
        blobs.get("a").unwrap();
        assert_eq!(sim.now().as_millis(), 2_000);
        let err = blobs.put("a", b"four").unwrap_err();
        assert!(matches!(
            err,
            Error::TooLarge {
                size: 4,
                limit: 3,
                ..
            }
        ));
        blobs.put("a", b"ok!").unwrap();
    }

    fn odd_but_valid_paths_round_trip(make: &dyn Fn(&Sim) -> BlobStore) {
        let blobs = make(&Sim::new(1));
        for path in ["100%", "a%2Fb", "x/%25/y", ".hidden/z", "a..b", "émoji 🥟"] {
            blobs.put(path, path.as_bytes()).unwrap();
            assert_eq!(blobs.get(path).unwrap().unwrap(), path.as_bytes(), "{path}");
        }
        let mut expected = vec!["100%", "a%2Fb", "x/%25/y", ".hidden/z", "a..b", "émoji 🥟"];
        expected.sort();
        assert_eq!(blobs.list("").unwrap(), expected);
    }

    #[test]
    fn the_in_memory_backend_behaves_like_a_blob_store() {
        behaves_like_a_blob_store(&|sim| BlobStore::in_memory(sim, "payloads"));
    }

    #[test]
    fn the_disk_backend_behaves_like_a_blob_store() {
        let root = tempfile::tempdir().unwrap();
        let counter = AtomicU64::new(0);
        behaves_like_a_blob_store(&|sim| {
            // A fresh directory for each scenario, as a fresh store.
            let dir = root
                .path()
                .join(counter.fetch_add(1, Ordering::Relaxed).to_string());
            BlobStore::on_disk(sim, "payloads", dir).unwrap()
        });
    }

    #[test]
    fn the_disk_backend_keeps_blobs_between_runs_and_ignores_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let first = BlobStore::on_disk(&Sim::new(1), "payloads", dir.path()).unwrap();
        first.put("labels/o-1.pdf", b"%PDF").unwrap();
        fs::write(dir.path().join("%partial-1-1"), b"half").unwrap();
        let second = BlobStore::on_disk(&Sim::new(2), "payloads", dir.path()).unwrap();
        assert_eq!(second.list("").unwrap(), ["labels/o-1.pdf"]);
    }

    #[test]
    fn operations_are_traced() {
        let sim = Sim::new(1);
        let blobs = BlobStore::in_memory(&sim, "payloads");
        blobs.put("bodies/m-1", b"x").unwrap();
        blobs.get("bodies/m-2").unwrap();
        let trace = sim.trace().to_string();
        assert!(trace.contains("stored blob payloads/bodies/m-1"), "{trace}");
        assert!(
            trace.contains("found no blob payloads/bodies/m-2"),
            "{trace}"
        );
    }

    #[test]
    fn file_names_decode_back_to_paths() {
        for path in ["a", "a/b", "100%", "%2F", "x/%25/y"] {
            assert_eq!(blob_path(&file_name(path)).as_deref(), Some(path));
        }
        assert_eq!(blob_path("%partial-1-2"), None);
        assert_eq!(blob_path("50%"), None);
    }
}
