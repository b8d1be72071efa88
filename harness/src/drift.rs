//! Replay drift: a replayed run that is not the run it replays stops, and
//! says so.
//!
//! A schedule is only a list of picks (`1,0,2`): "at the first choice take
//! option 1, at the second option 0 …". It means something only if the run
//! meets the same choices in the same state every time. Code that iterates a
//! `HashMap`, makes ids with `Uuid::new_v4` or reads the wall clock runs
//! differently each time, and then a pick lands on a different question:
//! the replay is another run, and the explorer would count schedules it
//! never ran. So a scripted run checks, at each choice, that it is where the
//! run it replays was:
//!
//! - every scripted run keeps a **history**, a digest of everything it
//!   recorded so far (each event of the trace, each earlier choice), and
//!   stores it with each [`Choice`];
//! - the explorer derives each schedule from a run it made, so it hands the
//!   new run that run's choices up to the branch; at each of them the new
//!   run must meet the same question, with as many options, after the same
//!   history ([`check`]);
//! - a replay from a bare script ([`crate::Sim::scripted`]) knows only the
//!   picks: it checks that each pick is one of the options;
//! - a replay command printed with a failure carries, besides the picks
//!   (`HARNESS_SCRIPT=1,0,2`), the run's **fingerprint**: how many choices
//!   it made and its history at the last one (`HARNESS_RUN=3:9f…`). The
//!   replay must arrive at that choice after the same history.
//!
//! A mismatch is [`Error::NotDeterministic`]: the run stops at that choice
//! (the chooser panics with the message; the world stops as it does for a
//! runaway delivery), and the explorer reports it instead of counting it.
//!
//! Why a digest of the events and not only the questions: a handler that
//! writes the same keys in another order (a `HashMap`) asks the same
//! questions, `fault at kv.orders.put`, and only what it did in between
//! differs. The digest is computed in scripted runs only, as events are
//! recorded, so a seeded test run pays nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::{Choice, Error, Event};

/// The history after `event`: folds it into `history`. The step number is
/// left out (it only counts), the time, actor and what happened are in.
pub(crate) fn after_event(history: u64, event: &Event) -> u64 {
    let mut hasher = Digest::new();
    history.hash(&mut hasher);
    event.at.hash(&mut hasher);
    event.actor.hash(&mut hasher);
    event.kind.hash(&mut hasher);
    hasher.finish()
}

/// The history after `choice` was made.
pub(crate) fn after_choice(history: u64, choice: &Choice) -> u64 {
    let mut hasher = Digest::new();
    history.hash(&mut hasher);
    choice.label.hash(&mut hasher);
    choice.options.hash(&mut hasher);
    choice.picked.hash(&mut hasher);
    hasher.finish()
}

/// The hash of the history: fixed, so the same run gives the same digest in
/// every process (a replay command carries it), and cheap, because every
/// event of every explored schedule goes through it. SipHash (std's
/// `DefaultHasher`, built into the harness at its opt-level) was a twentieth
/// of a SQL schedule; this is FxHash's step (rotate, xor, multiply) over
/// eight bytes at a time, mixed at the end. It needs no defence against
/// chosen inputs: two different histories only must not meet by chance.
#[derive(Default)]
pub(crate) struct Digest(u64);

/// A hash map hashed with [`Digest`], for the harness's own look-ups on the
/// path of every statement and event (message labels, the SQL store's
/// fault points): std's SipHash costs more there than the look-up itself,
/// and keys made by the harness need no defence against chosen inputs.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Digest>>;

impl Digest {
    /// rustc-hash's multiplier: odd, with well spread bits.
    const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

    fn new() -> Digest {
        Digest(0)
    }

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Hasher for Digest {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word: [u8; 8] = word.try_into().expect("chunks of eight bytes");
            self.add(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser: every bit of the state moves every bit
        // of the digest.
        let mut digest = self.0;
        digest ^= digest >> 33;
        digest = digest.wrapping_mul(0xff51_afd7_ed55_8ccd);
        digest ^= digest >> 33;
        digest = digest.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        digest ^ (digest >> 33)
    }
}

/// Whether choice number `index` (from 0) of a replay, `found`, is the one
/// the replayed run made there, `expected` (its pick aside: the explorer
/// changes the last one on purpose).
pub(crate) fn check(index: usize, expected: &Choice, found: &Choice) -> Result<(), Error> {
    let step = found.step;
    let drift = |expected: String, found: String| Error::NotDeterministic {
        choice: index + 1,
        step,
        expected,
        found,
    };
    if expected.label != found.label || expected.options != found.options {
        return Err(drift(question(expected), question(found)));
    }
    if expected.step != found.step || expected.history != found.history {
        return Err(drift(
            format!(
                "{} after the {} steps the earlier run took",
                question(expected),
                expected.step
            ),
            format!(
                "the same question after {} steps that are not the same (other steps, the same \
                 ones in another order, or other keys, ids or times)",
                found.step
            ),
        ));
    }
    Ok(())
}

/// A pick of a bare script that is not one of the options found.
pub(crate) fn out_of_range(index: usize, pick: u32, found: &Choice) -> Error {
    Error::NotDeterministic {
        choice: index + 1,
        step: found.step,
        expected: format!("a question with option {pick} (the schedule picks it)"),
        found: question(found),
    }
}

/// A run's fingerprint, `N:HISTORY` (its number of choices, and the history
/// at the last one, in hex), as `HARNESS_RUN` carries it; `None` for a run
/// that made no choice.
pub(crate) fn fingerprint(choices: &[Choice]) -> Option<String> {
    let last = choices.last()?;
    Some(format!("{}:{:016x}", choices.len(), last.history))
}

/// Reads a fingerprint: the index of the choice (from 0) and its history.
pub(crate) fn parse_fingerprint(text: &str) -> Option<(usize, u64)> {
    let (count, history) = text.trim().split_once(':')?;
    let count: usize = count.parse().ok()?;
    let history = u64::from_str_radix(history, 16).ok()?;
    Some((count.checked_sub(1)?, history))
}

/// Whether choice number `index` of a replay, `found`, has the history the
/// fingerprint of the replayed run gives it.
pub(crate) fn check_fingerprint(
    index: usize,
    fingerprint: (usize, u64),
    found: &Choice,
) -> Result<(), Error> {
    let (at, history) = fingerprint;
    if index != at || found.history == history {
        return Ok(());
    }
    Err(Error::NotDeterministic {
        choice: index + 1,
        step: found.step,
        expected: format!(
            "{} after the steps of the run the report showed (HARNESS_RUN)",
            question(found)
        ),
        found: "steps before it that are not the same (other steps, the same ones in another \
                order, or other keys, ids or times)"
            .to_string(),
    })
}

/// `"next: resume orders#1 | deliver from orders" (2 options)`.
fn question(choice: &Choice) -> String {
    format!("\"{}\" ({} options)", choice.label, choice.options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(value: impl Hash) -> u64 {
        let mut hasher = Digest::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn different_histories_have_different_digests() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..20_000u64 {
            assert!(seen.insert(digest_of(format!("m{n}"))), "m{n}");
            assert!(seen.insert(digest_of((n, "sql.orders.begin"))), "{n}");
        }
        assert_ne!(digest_of(b"ab".as_slice()), digest_of(b"ab\0".as_slice()));
        assert_eq!(digest_of("the same"), digest_of("the same"));
    }

    fn choice(label: &str, options: u32, step: u64, history: u64) -> Choice {
        Choice {
            label: label.to_string(),
            options,
            picked: 0,
            step,
            history,
        }
    }

    #[test]
    fn the_same_question_after_the_same_steps_passes_whatever_the_pick() {
        let expected = choice("coin", 2, 4, 99);
        let mut found = expected.clone();
        found.picked = 1;
        assert!(check(0, &expected, &found).is_ok());
    }

    #[test]
    fn a_fingerprint_reads_back_and_checks_its_choice_only() {
        let choices = [choice("coin", 2, 1, 5), choice("coin", 2, 3, 0xab)];
        let text = fingerprint(&choices).unwrap();
        assert_eq!(text, "2:00000000000000ab");
        let read = parse_fingerprint(&text).unwrap();
        assert_eq!(read, (1, 0xab));
        assert!(check_fingerprint(0, read, &choices[0]).is_ok());
        assert!(check_fingerprint(1, read, &choices[1]).is_ok());
        let drifted = check_fingerprint(1, read, &choice("coin", 2, 3, 0xac)).unwrap_err();
        assert!(drifted.to_string().contains("(HARNESS_RUN)"), "{drifted}");
        assert_eq!(fingerprint(&[]), None);
        assert_eq!(parse_fingerprint("0:ab"), None);
    }

    #[test]
    fn another_question_names_both() {
        let err = check(2, &choice("coin", 2, 4, 9), &choice("dice", 6, 4, 9)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the run is not deterministic: at choice 3 (after step 4) the replay expected \
                 \"coin\" (2 options), but found \"dice\" (6 options)"
            ),
            "{text}"
        );
    }

    #[test]
    fn other_steps_before_the_same_question_are_drift_too() {
        let err = check(0, &choice("coin", 2, 4, 9), &choice("coin", 2, 4, 10)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("after the 4 steps the earlier run took"),
            "{text}"
        );
        assert!(text.contains("HashMap"), "{text}");
    }
}
