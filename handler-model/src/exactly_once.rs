//! Stretch: two handlers and optimistic concurrency. A port of the original
//! workshop's `exactly_once.tla` (blog post "Model checking exactly-once").
//!
//! Two handlers take messages from one queue. The store is one document:
//! a log of state changes, each with a version, and an outbox with an entry
//! per message (never processed, an event to send, or sent). A handler
//! loads the whole document, and if the message's outbox entry is new it
//! appends its change with the next version and records its event in the
//! outbox, then commits — only if nobody committed since it loaded
//! (optimistic concurrency, the version check). Then it sends the event
//! from the outbox, marks the outbox entry sent, and acknowledges. Each
//! step either works or fails; a failure puts the message back with one
//! more retry, or drops it when it has no retries left.
//!
//! `reduced` is the original's "diet" (its step 7): the same behaviour in
//! fewer states. The `MainLoop` label is not a step of its own, taking a
//! message and loading the store are one step, a handler forgets its local
//! variables when an attempt ends, and the two handlers are interchangeable
//! (states that differ only by which handler is which count once).

use std::collections::BTreeSet;
use std::fmt;

use stateright::{Model, Property};

use crate::check::Narrated;

/// A message in the input queue: its id and how often it was retried.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InMsg {
    /// The message id: 1 is `m1`.
    pub id: u8,
    /// How often it failed and came back.
    pub retry: u8,
}

impl fmt::Debug for InMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{} (retry {})", self.id, self.retry)
    }
}

/// An outgoing message: which input message it answers, and the version of
/// the state change it reports.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutMsg {
    /// The input message it answers.
    pub id: u8,
    /// The version of the state change it reports.
    pub ver: u8,
}

impl fmt::Debug for OutMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "out(m{}, v{})", self.id, self.ver)
    }
}

/// A message's entry in the outbox.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutboxEntry {
    /// The message was never processed (TLA+ `NULL`).
    New,
    /// Processed; this event is still to be sent.
    ToSend(OutMsg),
    /// Processed and its event sent (TLA+ `EMPTY`).
    Sent,
}

impl fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboxEntry::New => f.write_str("new"),
            OutboxEntry::ToSend(out) => write!(f, "to send {out:?}"),
            OutboxEntry::Sent => f.write_str("sent"),
        }
    }
}

/// One state change in the log: its version and the message that made it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogEntry {
    /// The change's version: 1, 2 … in the order of the commits.
    pub ver: u8,
    /// The message that made it.
    pub msg: u8,
}

impl fmt::Debug for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{} by m{}", self.ver, self.msg)
    }
}

/// The store: one document with the log (oldest first; it starts with
/// version 0, made by nobody) and the outbox (entry `i` is message `i + 1`'s).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Document {
    /// The state changes, oldest first.
    pub log: Vec<LogEntry>,
    /// One entry per message (index 0 is `m1`).
    pub outbox: Vec<OutboxEntry>,
}

impl Document {
    /// The version of the newest change.
    pub fn version(&self) -> u8 {
        self.log.last().map_or(0, |entry| entry.ver)
    }

    fn entry(&self, id: u8) -> OutboxEntry {
        self.outbox[usize::from(id) - 1]
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log {:?}, outbox {:?}", self.log, self.outbox)
    }
}

/// Where a handler is: the labels of the PlusCal algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// Between two messages (not a step of its own after the diet).
    MainLoop,
    /// Take a message from the queue.
    LockInMsg,
    /// Load the store document.
    LoadState,
    /// Append the change and the outbox entry, commit if the version still matches.
    ProcessAndCommit,
    /// Send the event of the outbox entry.
    SendOutMsg,
    /// Mark the outbox entry sent.
    UpdateOutbox,
    /// Acknowledge the input message.
    AckInMsg,
}

/// One handler: its label, the message it holds and the document it loaded.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Process {
    /// Where the handler is (TLA+ `pc`).
    pub pc: Label,
    /// The message it holds.
    pub msg: Option<InMsg>,
    /// The document it loaded, with its version.
    pub loaded: Option<Document>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {:?}", self.pc)?;
        if let Some(msg) = self.msg {
            write!(f, ", holding {msg:?}")?;
        }
        if let Some(loaded) = &self.loaded {
            write!(f, ", loaded {loaded:?}")?;
        }
        Ok(())
    }
}

/// Everything the checker tracks.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EoState {
    /// The input queue.
    pub input: BTreeSet<InMsg>,
    /// The store's one document.
    pub store: Document,
    /// The messages sent.
    pub output: BTreeSet<OutMsg>,
    /// The messages acknowledged (TLA+ `processed`).
    pub processed: BTreeSet<InMsg>,
    /// The handlers.
    pub procs: Vec<Process>,
}

impl fmt::Debug for EoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "input:     {:?}", self.input)?;
        writeln!(f, "store:     {:?}", self.store)?;
        writeln!(f, "output:    {:?}", self.output)?;
        writeln!(f, "processed: {:?}", self.processed)?;
        for (index, process) in self.procs.iter().enumerate() {
            writeln!(f, "handler {}: {process:?}", index + 1)?;
        }
        Ok(())
    }
}

/// One step of one handler. `works` is false for the failure branch
/// (`Rollback` in the TLA+), and for a commit the version check refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EoAction {
    /// The handler takes `msg` from the queue (`LockInMsg`).
    Lock {
        /// Which handler, counted from 0.
        process: usize,
        /// The message it takes, with how often it failed before.
        msg: InMsg,
    },
    /// Any other label.
    Step {
        /// Which handler, counted from 0.
        process: usize,
        /// The step it takes (TLA+ `pc`).
        label: Label,
        /// False for the failure branch, or a commit the version check
        /// refused.
        works: bool,
    },
}

// The three safety properties of `exactly_once.tla`.

/// No message changes the state twice.
pub const AT_MOST_ONE_STATE_CHANGE: &str = "at most one state change";
/// No message is answered with two different events.
pub const AT_MOST_ONE_OUTPUT_MESSAGE: &str = "at most one output message";
/// A processed message has its change in the log and its event sent, with
/// the same version (`ConsistentStateAndOutput`).
pub const CONSISTENT_STATE_AND_OUTPUT: &str = "consistent state and output";

/// The model, with the original's constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExactlyOnce {
    /// Messages in the queue at the start (TLA+ `MaxQueue`).
    pub messages: u8,
    /// Retries per message before it is dropped (TLA+ `MaxRetry`).
    pub max_retry: u8,
    /// Handlers (TLA+ `Processes`; 2 in the original).
    pub handlers: u8,
    /// Commit only if nobody committed since the load (optimistic concurrency).
    pub version_check: bool,
    /// The smaller, equivalent model (see the module's documentation).
    pub reduced: bool,
}

impl ExactlyOnce {
    /// Small enough for the test profile: 2 messages, 1 retry, 2 handlers.
    pub const SMALL: ExactlyOnce = ExactlyOnce {
        messages: 2,
        max_retry: 1,
        handlers: 2,
        version_check: true,
        reduced: false,
    };

    /// The original's configuration: 3 messages, 2 retries, 2 handlers.
    pub const ORIGINAL: ExactlyOnce = ExactlyOnce {
        messages: 3,
        max_retry: 2,
        handlers: 2,
        version_check: true,
        reduced: false,
    };

    /// The label that follows the end of an attempt.
    fn loop_label(&self) -> Label {
        if self.reduced {
            Label::LockInMsg
        } else {
            Label::MainLoop
        }
    }

    /// `Rollback`: the message goes back with one more retry, or is dropped.
    fn rollback(&self, state: &mut EoState, process: usize) {
        let proc = &mut state.procs[process];
        if let Some(msg) = proc.msg
            && msg.retry < self.max_retry
        {
            let again = InMsg {
                id: msg.id,
                retry: msg.retry + 1,
            };
            proc.msg = Some(again);
            state.input.insert(again);
        }
        self.end_attempt(state, process);
    }

    /// Back to the main loop; the reduced model forgets the local variables.
    fn end_attempt(&self, state: &mut EoState, process: usize) {
        let proc = &mut state.procs[process];
        proc.pc = self.loop_label();
        if self.reduced {
            proc.msg = None;
            proc.loaded = None;
        }
    }

    /// `LoadState`: copy the document, and go to commit a new change or,
    /// if the message was processed before, straight to sending.
    fn load(state: &mut EoState, process: usize) {
        let loaded = state.store.clone();
        let proc = &mut state.procs[process];
        let id = proc.msg.map_or(1, |msg| msg.id);
        proc.pc = if loaded.entry(id) == OutboxEntry::New {
            Label::ProcessAndCommit
        } else {
            Label::SendOutMsg
        };
        proc.loaded = Some(loaded);
    }

    /// The version check of `ProcessAndCommit`: nobody committed since the load.
    fn commit_allowed(&self, state: &EoState, process: usize) -> bool {
        let proc = &state.procs[process];
        !self.version_check
            || proc.loaded.as_ref().map(Document::version) == Some(state.store.version())
    }

    /// The outbox entry the handler loaded for its message.
    fn loaded_entry(state: &EoState, process: usize) -> Option<OutboxEntry> {
        let proc = &state.procs[process];
        Some(proc.loaded.as_ref()?.entry(proc.msg?.id))
    }

    fn apply(&self, state: &mut EoState, action: EoAction) -> Option<()> {
        match action {
            EoAction::Lock { process, msg } => {
                if !state.input.remove(&msg) {
                    return None;
                }
                state.procs[process].msg = Some(msg);
                state.procs[process].pc = Label::LoadState;
                if self.reduced {
                    ExactlyOnce::load(state, process);
                }
            }
            EoAction::Step {
                process,
                label,
                works,
            } => match label {
                Label::MainLoop => state.procs[process].pc = Label::LockInMsg,
                Label::LockInMsg => return None,
                Label::LoadState => ExactlyOnce::load(state, process),
                Label::ProcessAndCommit => {
                    let allowed = self.commit_allowed(state, process);
                    let msg = state.procs[process].msg?;
                    // The change is prepared on the loaded copy (pState in the TLA+).
                    let mut prepared = state.procs[process].loaded.clone()?;
                    let ver = prepared.version() + 1;
                    prepared.log.push(LogEntry { ver, msg: msg.id });
                    prepared.outbox[usize::from(msg.id) - 1] =
                        OutboxEntry::ToSend(OutMsg { id: msg.id, ver });
                    state.procs[process].loaded = Some(prepared.clone());
                    if allowed && works {
                        state.store = prepared;
                        state.procs[process].pc = Label::SendOutMsg;
                    } else {
                        self.rollback(state, process);
                    }
                }
                Label::SendOutMsg => match ExactlyOnce::loaded_entry(state, process)? {
                    OutboxEntry::ToSend(out) if works => {
                        state.output.insert(out);
                        state.procs[process].pc = Label::UpdateOutbox;
                    }
                    OutboxEntry::ToSend(_) => self.rollback(state, process),
                    _ => state.procs[process].pc = Label::UpdateOutbox,
                },
                Label::UpdateOutbox => {
                    if works {
                        let id = state.procs[process].msg?.id;
                        state.store.outbox[usize::from(id) - 1] = OutboxEntry::Sent;
                        state.procs[process].pc = Label::AckInMsg;
                    } else {
                        self.rollback(state, process);
                    }
                }
                Label::AckInMsg => {
                    if works {
                        let msg = state.procs[process].msg?;
                        state.processed.insert(msg);
                        self.end_attempt(state, process);
                    } else {
                        self.rollback(state, process);
                    }
                }
            },
        }
        if self.reduced {
            // The handlers are interchangeable: keep them in one order.
            state.procs.sort();
        }
        Some(())
    }
}

fn at_most_one_state_change(model: &ExactlyOnce, state: &EoState) -> bool {
    (1..=model.messages).all(|id| state.store.log.iter().filter(|e| e.msg == id).count() <= 1)
}

fn at_most_one_output_message(model: &ExactlyOnce, state: &EoState) -> bool {
    (1..=model.messages).all(|id| state.output.iter().filter(|o| o.id == id).count() <= 1)
}

fn consistent_state_and_output(_: &ExactlyOnce, state: &EoState) -> bool {
    state.processed.iter().all(|msg| {
        let change = state.store.log.iter().find(|e| e.msg == msg.id);
        let out = state.output.iter().find(|o| o.id == msg.id);
        matches!((change, out), (Some(change), Some(out)) if change.ver == out.ver)
    })
}

impl Model for ExactlyOnce {
    type State = EoState;
    type Action = EoAction;

    fn init_states(&self) -> Vec<EoState> {
        let input = (1..=self.messages)
            .map(|id| InMsg { id, retry: 0 })
            .collect();
        let process = Process {
            pc: self.loop_label(),
            msg: None,
            loaded: None,
        };
        vec![EoState {
            input,
            store: Document {
                log: vec![LogEntry { ver: 0, msg: 0 }],
                outbox: vec![OutboxEntry::New; usize::from(self.messages)],
            },
            output: BTreeSet::new(),
            processed: BTreeSet::new(),
            procs: vec![process; usize::from(self.handlers)],
        }]
    }

    fn actions(&self, state: &EoState, actions: &mut Vec<EoAction>) {
        for (process, proc) in state.procs.iter().enumerate() {
            let step = |label, works| EoAction::Step {
                process,
                label,
                works,
            };
            match proc.pc {
                Label::LockInMsg => {
                    for msg in &state.input {
                        actions.push(EoAction::Lock { process, msg: *msg });
                    }
                }
                Label::MainLoop | Label::LoadState => actions.push(step(proc.pc, true)),
                Label::ProcessAndCommit => {
                    if self.commit_allowed(state, process) {
                        actions.push(step(proc.pc, true));
                    }
                    actions.push(step(proc.pc, false));
                }
                Label::SendOutMsg => match ExactlyOnce::loaded_entry(state, process) {
                    Some(OutboxEntry::ToSend(_)) => {
                        actions.push(step(proc.pc, true));
                        actions.push(step(proc.pc, false));
                    }
                    _ => actions.push(step(proc.pc, true)),
                },
                Label::UpdateOutbox | Label::AckInMsg => {
                    actions.push(step(proc.pc, true));
                    actions.push(step(proc.pc, false));
                }
            }
        }
    }

    fn next_state(&self, last: &EoState, action: EoAction) -> Option<EoState> {
        let mut state = last.clone();
        self.apply(&mut state, action)?;
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(AT_MOST_ONE_STATE_CHANGE, at_most_one_state_change),
            Property::always(AT_MOST_ONE_OUTPUT_MESSAGE, at_most_one_output_message),
            Property::always(CONSISTENT_STATE_AND_OUTPUT, consistent_state_and_output),
        ]
    }
}

impl ExactlyOnce {
    /// A handler in a sentence. The reduced model keeps its handlers in
    /// sorted order, so their positions change: name them by what they hold.
    fn who(&self, state: &EoState, process: usize) -> String {
        if !self.reduced {
            return format!("handler {}", process + 1);
        }
        match state.procs[process].msg {
            Some(msg) => format!("m{}'s handler", msg.id),
            None => "a free handler".to_string(),
        }
    }
}

impl Narrated for ExactlyOnce {
    fn narrate(&self, before: &EoState, action: &EoAction, after: &EoState) -> String {
        match *action {
            EoAction::Lock { process, msg } => {
                let mut text =
                    format!("{} takes {msg:?} from the queue", self.who(before, process));
                if self.reduced {
                    text.push_str(&format!(
                        " and loads the store (version {})",
                        before.store.version()
                    ));
                }
                text
            }
            EoAction::Step {
                process,
                label,
                works,
            } => {
                let who = self.who(before, process);
                let proc = &before.procs[process];
                let id = proc.msg.map_or(0, |msg| msg.id);
                let back = match after.input.iter().find(|msg| msg.id == id) {
                    Some(again) if !before.input.contains(again) => {
                        format!("m{id} goes back to the queue ({again:?})")
                    }
                    _ => format!("m{id} is dropped: no retries left"),
                };
                match (label, works) {
                    (Label::MainLoop, _) => format!("{who} goes back to the start of its loop"),
                    (Label::LoadState, _) => format!(
                        "{who} loads the store (version {}; m{id}'s outbox entry: {:?})",
                        before.store.version(),
                        before.store.entry(id)
                    ),
                    (Label::ProcessAndCommit, true) => {
                        let loaded = proc.loaded.as_ref().map_or(0, Document::version);
                        let mut text = format!(
                            "{who} commits m{id}'s change as version {}",
                            after.store.version()
                        );
                        if loaded != before.store.version() {
                            text.push_str(&format!(
                                ", over the store it loaded at version {loaded}: what was \
                                 committed since is gone (no version check)"
                            ));
                        }
                        text
                    }
                    (Label::ProcessAndCommit, false) if !self.commit_allowed(before, process) => {
                        format!(
                            "{who}'s commit is refused: it loaded version {}, the store is at version {} (optimistic concurrency); {back}",
                            proc.loaded.as_ref().map_or(0, Document::version),
                            before.store.version()
                        )
                    }
                    (Label::SendOutMsg, true) => match ExactlyOnce::loaded_entry(before, process) {
                        Some(OutboxEntry::ToSend(out)) => {
                            format!("{who} sends {out:?} from the outbox it loaded")
                        }
                        _ => format!("{who} finds m{id}'s event sent already: nothing to send"),
                    },
                    (Label::UpdateOutbox, true) => {
                        format!("{who} marks m{id}'s outbox entry as sent")
                    }
                    (Label::AckInMsg, true) => format!("{who} acknowledges m{id}"),
                    (label, _) => format!("{who}'s {label:?} fails: {back}"),
                }
            }
        }
    }

    fn explain(&self, property: &str, state: &EoState) -> String {
        let why = match property {
            CONSISTENT_STATE_AND_OUTPUT => state.processed.iter().find_map(|msg| {
                let change = state.store.log.iter().find(|e| e.msg == msg.id);
                let out = state.output.iter().find(|o| o.id == msg.id);
                match (change, out) {
                    (Some(change), Some(out)) if change.ver == out.ver => None,
                    (None, _) => Some(format!(
                        "m{} was processed, but the log has no change for it",
                        msg.id
                    )),
                    (_, None) => Some(format!(
                        "m{} was processed, but no output was sent for it",
                        msg.id
                    )),
                    (Some(change), Some(out)) => Some(format!(
                        "m{} was processed: the log has {change:?}, the output says {out:?}",
                        msg.id
                    )),
                }
            }),
            AT_MOST_ONE_STATE_CHANGE => Some(format!("the log has {:?}", state.store.log)),
            AT_MOST_ONE_OUTPUT_MESSAGE => Some(format!("the output has {:?}", state.output)),
            _ => None,
        };
        match why {
            Some(why) => format!("{property}: {why}"),
            None => property.to_string(),
        }
    }
}
