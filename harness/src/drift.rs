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
//!   it made, its history at the last one, and a short mark of every choice
//!   (`HARNESS_RUN=3:9f…:2a1f…`). The replay stops at the first choice whose
//!   options or mark differ, and must arrive at the last one after the same
//!   history.
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

use std::hash::{Hash, Hasher};

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
struct Digest(u64);

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

/// What a replay command knows of the run it replays (`HARNESS_RUN`): how
/// many choices it made and its history at the last one, and a mark of each
/// choice, so that a replay that is not the same run stops at the first
/// choice where it differs, not only at the last one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// The index (from 0) of the run's last choice.
    last: usize,
    /// The history at that choice: the whole run so far, exactly.
    history: u64,
    /// One mark per choice, from the first (none in a fingerprint written
    /// before marks existed: then only the last choice is checked).
    marks: Vec<Mark>,
}

/// One choice of a fingerprint, in four characters: how many options it
/// had (one base-36 digit; 35 stands for 35 or more) and twelve bits of a
/// digest of its history and question. Short, so that the replay command
/// stays one line to copy; twelve bits miss a drift at its exact choice
/// once in 4,096 times, and then the next marks or the history at the last
/// choice catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    options: u32,
    digest: u16,
}

impl Mark {
    const MAX_OPTIONS: u32 = 35;

    fn of(choice: &Choice) -> Mark {
        let mut hasher = Digest::new();
        choice.history.hash(&mut hasher);
        choice.label.hash(&mut hasher);
        choice.options.hash(&mut hasher);
        Mark {
            options: choice.options.min(Self::MAX_OPTIONS),
            digest: (hasher.finish() & 0xfff) as u16,
        }
    }

    fn write(self, text: &mut String) {
        let digit = char::from_digit(self.options, 36).expect("at most 35 options");
        text.push(digit);
        text.push_str(&format!("{:03x}", self.digest));
    }

    fn read(text: &str) -> Option<Mark> {
        let options = text.chars().next()?.to_digit(36)?;
        let digest = u16::from_str_radix(text.get(1..4)?, 16).ok()?;
        Some(Mark { options, digest })
    }
}

/// A run's fingerprint, `N:HISTORY:MARKS` (its number of choices, the
/// history at the last one in hex, and a mark of each choice), as
/// `HARNESS_RUN` carries it; `None` for a run that made no choice.
pub(crate) fn fingerprint(choices: &[Choice]) -> Option<String> {
    let last = choices.last()?;
    let mut text = format!("{}:{:016x}:", choices.len(), last.history);
    for choice in choices {
        Mark::of(choice).write(&mut text);
    }
    Some(text)
}

/// Reads a fingerprint (`N:HISTORY:MARKS`, or `N:HISTORY` as replay
/// commands printed before marks existed).
pub(crate) fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    let mut fields = text.trim().split(':');
    let count: usize = fields.next()?.parse().ok()?;
    let history = u64::from_str_radix(fields.next()?, 16).ok()?;
    let marks_text = fields.next().unwrap_or("");
    if fields.next().is_some() || !marks_text.is_ascii() || marks_text.len() % 4 != 0 {
        return None;
    }
    let marks: Vec<Mark> = (0..marks_text.len() / 4)
        .map(|i| Mark::read(&marks_text[i * 4..i * 4 + 4]))
        .collect::<Option<_>>()?;
    if !marks.is_empty() && marks.len() != count {
        return None;
    }
    Some(Fingerprint {
        last: count.checked_sub(1)?,
        history,
        marks,
    })
}

/// Whether choice number `index` (from 0) of a replay, `found`, is where
/// the replayed run was: the same number of options, the same mark, and at
/// its last choice the same history; and no choice past its last.
pub(crate) fn check_fingerprint(
    index: usize,
    fingerprint: &Fingerprint,
    found: &Choice,
) -> Result<(), Error> {
    let step = found.step;
    let drift = |expected: String, found: String| Error::NotDeterministic {
        choice: index + 1,
        step,
        expected,
        found,
    };
    let other_steps = || {
        format!(
            "{} after steps that are not the same (other steps, the same ones in another order, \
             or other keys, ids or times)",
            question(found)
        )
    };
    if index > fingerprint.last {
        return Err(drift(
            format!(
                "no choice here: the replayed run made {} (HARNESS_RUN)",
                fingerprint.last + 1
            ),
            question(found),
        ));
    }
    if let Some(&mark) = fingerprint.marks.get(index) {
        let here = Mark::of(found);
        if mark.options != here.options {
            return Err(drift(
                format!(
                    "a question with {} options, as the replayed run met here (HARNESS_RUN)",
                    mark.options
                ),
                question(found),
            ));
        }
        if mark.digest != here.digest {
            return Err(drift(
                format!(
                    "a question with {} options after the steps of the run the report showed \
                     (HARNESS_RUN)",
                    mark.options
                ),
                other_steps(),
            ));
        }
    }
    if index == fingerprint.last && found.history != fingerprint.history {
        return Err(drift(
            format!(
                "{} after the steps of the run the report showed (HARNESS_RUN)",
                question(found)
            ),
            "steps before it that are not the same (other steps, the same ones in another \
             order, or other keys, ids or times)"
                .to_string(),
        ));
    }
    Ok(())
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
    fn a_fingerprint_reads_back_and_checks_every_choice() {
        let choices = [choice("coin", 2, 1, 5), choice("dice", 6, 3, 0xab)];
        let text = fingerprint(&choices).unwrap();
        assert!(text.starts_with("2:00000000000000ab:2"), "{text}");
        assert_eq!(text.len(), "2:00000000000000ab:".len() + 8, "{text}");
        let read = parse_fingerprint(&text).unwrap();
        assert!(check_fingerprint(0, &read, &choices[0]).is_ok());
        assert!(check_fingerprint(1, &read, &choices[1]).is_ok());
        // Other steps before the first choice: caught there.
        let early = check_fingerprint(0, &read, &choice("coin", 2, 1, 6)).unwrap_err();
        assert!(
            matches!(early, Error::NotDeterministic { choice: 1, .. }),
            "{early}"
        );
        // Other steps before the last: caught by its history.
        let drifted = check_fingerprint(1, &read, &choice("dice", 6, 3, 0xac)).unwrap_err();
        assert!(drifted.to_string().contains("(HARNESS_RUN)"), "{drifted}");
        assert_eq!(fingerprint(&[]), None);
        assert_eq!(parse_fingerprint("0:ab"), None);
        assert_eq!(
            parse_fingerprint("2:ab:2001"),
            None,
            "two choices, one mark"
        );
        assert_eq!(parse_fingerprint("1:ab:2x01"), None);
    }

    #[test]
    fn a_fingerprint_without_marks_checks_the_last_choice_only() {
        let read = parse_fingerprint("2:00000000000000ab").unwrap();
        assert!(check_fingerprint(0, &read, &choice("coin", 2, 1, 6)).is_ok());
        assert!(check_fingerprint(1, &read, &choice("coin", 2, 3, 0xab)).is_ok());
        assert!(check_fingerprint(1, &read, &choice("coin", 2, 3, 0xac)).is_err());
    }

    #[test]
    fn many_options_share_the_last_digit() {
        let many = [choice("which line", 40, 1, 5)];
        let read = parse_fingerprint(&fingerprint(&many).unwrap()).unwrap();
        assert!(check_fingerprint(0, &read, &many[0]).is_ok());
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
