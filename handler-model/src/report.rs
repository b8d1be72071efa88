//! A counterexample of the handler model, told as a harness report: the
//! steps as a numbered list under the handler that did them, what to change,
//! the Explorer link, and a sequence diagram under `target/harness-traces/`.

use harness::{EventKind, Failure, MessageRef, Sim};

use crate::attempt::{Effect, ItemAdded};
use crate::check::{Counterexample, Stats, check_shortest};
use crate::explore::{DEFAULT_ADDRESS, explorer_url};
use crate::invariants::Invariant;
use crate::message_handler::{
    Action, Config, Delivery, Handler, HandlerModel, HandlerSteps, MessageId, State, Step,
};

/// The file of exercise 10 that fills in the [`HandlerSteps`], as reports
/// name it.
pub const LESSON_FILE: &str = "src/model/handler.rs";

/// Checks that the handler `steps` keeps `invariant` in every run of the
/// tests' configuration ([`Config::DEFAULT`]), and returns the state counts.
/// If a run breaks it, the test fails with the shortest such run, `hint`
/// (what to change in [`LESSON_FILE`]), a link to follow it in the Explorer
/// and a sequence diagram under `<target>/harness-traces/`.
#[track_caller]
pub fn expect_invariant(steps: HandlerSteps, invariant: Invariant, hint: &str) -> Stats {
    let model = HandlerModel::only(steps, Config::DEFAULT, invariant);
    match check_shortest(model.clone(), invariant.name()) {
        Ok(stats) => stats,
        Err(counterexample) => fail(&model, &counterexample, hint),
    }
}

#[track_caller]
fn fail(model: &HandlerModel, counterexample: &Counterexample<HandlerModel>, hint: &str) -> ! {
    let sim = Sim::new(10);
    let mut last_step = Vec::new();
    for pair in counterexample.path.windows(2) {
        if let [(before, Some(action)), (after, _)] = pair {
            let first = sim.trace().events().len() as u64 + 1;
            record(&sim, model, before, *action, after);
            let last = sim.trace().events().len() as u64;
            last_step = (first..=last).collect();
        }
    }
    let mut failure = Failure::new(&sim, counterexample.headline.clone())
        .detail(format!(
            "The model checker tried the runs of {LESSON_FILE} (every order of steps, \
             every failure and retry) and found runs that break the invariant; a shortest \
             one, {} steps, is below.",
            counterexample.steps.len()
        ))
        .detail(format!("Where to look in {LESSON_FILE}: {hint}"))
        .detail(format!(
            "Step through it: run `cargo xtask explore 10`, then open {}",
            explorer_url(DEFAULT_ADDRESS, &counterexample.explorer_path)
        ));
    for seq in last_step {
        failure = failure.highlight(seq);
    }
    failure
        .without_seed("the model checker tried every run, so this one comes back on every run")
        .panic()
}

/// The incoming message as the trace shows it: `AddItem(m1)`.
fn incoming(message: MessageId) -> MessageRef {
    MessageRef {
        label: message.to_string(),
        message_type: "AddItem".to_string(),
        id: harness::MessageId::from_u128(u128::from(message.0)),
    }
}

/// An outgoing event: `ItemAdded(m1, data of attempt 2)`. Identical events
/// share an id, so that the report marks a resend as "again".
fn outgoing(event: ItemAdded) -> MessageRef {
    MessageRef {
        label: format!("{}, data of attempt {}", event.message, event.attempt),
        message_type: "ItemAdded".to_string(),
        id: harness::MessageId::from_u128(
            1_000 + 100 * u128::from(event.message.0) + u128::from(event.attempt),
        ),
    }
}

/// Records one step of the model as harness events.
fn record(sim: &Sim, model: &HandlerModel, before: &State, action: Action, after: &State) {
    let (handler, delivery) = match action {
        Action::Receive { handler, message } => {
            let attempt = before
                .queue
                .iter()
                .find(|d| d.message == message)
                .map_or(1, |d| d.attempt);
            sim.set_actor(&format!("handler {}", handler + 1));
            sim.record(EventKind::Delivered {
                queue: "in".to_string(),
                message: incoming(message),
                attempt: u32::from(attempt),
            });
            (handler, Delivery { message, attempt })
        }
        Action::Works { handler, .. } | Action::Fails { handler, .. } => {
            let Handler::Busy { delivery, .. } = before.handlers[handler] else {
                return;
            };
            sim.set_actor(&format!("handler {}", handler + 1));
            (handler, delivery)
        }
    };
    let message = delivery.message;
    match action {
        Action::Receive { .. } => {}
        Action::Works { step, .. } => {
            let effects = model.effects_of(before, handler);
            record_effects(sim, step, message, before, &effects);
        }
        Action::Fails { step, .. } => {
            if before.acked.contains(&message) {
                sim.note(&format!(
                    "its {} failed, but {message} was acknowledged already: the queue does not bring it back",
                    step.noun()
                ));
            } else {
                sim.record(EventKind::Abandoned {
                    queue: "in".to_string(),
                    message: incoming(message),
                    reason: format!("its {} failed", step.noun()),
                });
            }
            return;
        }
    }
    // The attempt ended without an acknowledgement: the queue takes the message back.
    let ended = after.handlers[handler] == Handler::Idle;
    if ended && !after.acked.contains(&message) {
        if after.dead_letters.contains(&message) {
            sim.record(EventKind::DeadLettered {
                queue: "in".to_string(),
                message: incoming(message),
                reason: "it was handled without an acknowledgement and has no retries left"
                    .to_string(),
            });
        } else {
            sim.record(EventKind::Abandoned {
                queue: "in".to_string(),
                message: incoming(message),
                reason: "its steps are done, but it was not acknowledged".to_string(),
            });
        }
    }
}

fn record_effects(sim: &Sim, step: Step, message: MessageId, before: &State, effects: &[Effect]) {
    if step == Step::Ack {
        sim.record(EventKind::Acked {
            queue: "in".to_string(),
            message: incoming(message),
        });
        return;
    }
    if effects.is_empty() {
        let text = match (step, before.changes_of(message).next()) {
            (Step::UpdateStore, Some(stored)) => {
                format!("left the store as it is: it has {stored:?}")
            }
            (Step::UpdateStore, None) => "wrote nothing to the store".to_string(),
            _ => "sent nothing".to_string(),
        };
        sim.note(&text);
        return;
    }
    for effect in effects {
        match effect {
            Effect::Saved(change) => {
                let text = if before.changes_of(message).next().is_some() {
                    format!("updated the store: {change:?} (a second change for {message})")
                } else {
                    format!("updated the store: {change:?}")
                };
                sim.note(&text);
            }
            Effect::Sent(event) => sim.record(EventKind::Sent {
                queue: "out".to_string(),
                message: outgoing(*event),
            }),
        }
    }
}
