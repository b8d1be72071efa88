//! The handler model's steps in the course's words: what a step did, and
//! what happens to the message after it. Counterexamples are told with these.

use crate::attempt::Effect;
use crate::check::Narrated;
use crate::invariants::Invariant;
use crate::message_handler::{Action, Handler, HandlerModel, MessageId, State, Step, busy};

impl Narrated for HandlerModel {
    fn narrate(&self, before: &State, action: &Action, after: &State) -> String {
        match *action {
            Action::Receive { handler, message } => {
                let attempt = before
                    .queue
                    .iter()
                    .find(|d| d.message == message)
                    .map_or(0, |d| d.attempt);
                let mut text = format!(
                    "handler {} receives {message} (attempt {attempt})",
                    handler + 1
                );
                text.push_str(&ending(after, handler, message));
                text
            }
            Action::Works { handler, step } => {
                let Some((delivery, _)) = busy(before, handler) else {
                    return format!("handler {}: {step:?} works", handler + 1);
                };
                let who = format!("handler {}", handler + 1);
                let message = delivery.message;
                let mut text = match step {
                    Step::Ack => format!("{who} acknowledges {message}: the queue forgets it"),
                    Step::UpdateStore | Step::Send => {
                        // Run the step again on a copy, to tell what it did.
                        let effects = self.effects_of(before, handler);
                        describe_effects(&who, step, message, before, &effects)
                    }
                };
                text.push_str(&ending(after, handler, message));
                text
            }
            Action::Fails { handler, step } => {
                let message =
                    busy(before, handler).map_or(MessageId(0), |(delivery, _)| delivery.message);
                let mut text = format!("handler {}'s {} fails", handler + 1, step.noun());
                if before.acked.contains(&message) {
                    text.push_str(&format!(
                        ": {message} was acknowledged already, so the queue does not bring it back"
                    ));
                } else if let Some(again) = after.queue.iter().find(|d| d.message == message) {
                    text.push_str(&format!(
                        ": {message} goes back to the queue (attempt {} next)",
                        again.attempt
                    ));
                }
                text
            }
        }
    }

    fn explain(&self, property: &str, state: &State) -> String {
        let why = Invariant::by_name(property).and_then(|inv| self.violation(inv, state));
        match why {
            Some(why) => format!("{property}: {why}"),
            None => property.to_string(),
        }
    }
}

/// What a store update or a send did, in a sentence.
fn describe_effects(
    who: &str,
    step: Step,
    message: MessageId,
    before: &State,
    effects: &[Effect],
) -> String {
    if effects.is_empty() {
        return match (step, before.changes_of(message).next()) {
            (Step::UpdateStore, Some(stored)) => {
                format!("{who} leaves the store as it is (it has {stored:?})")
            }
            (Step::UpdateStore, None) => format!("{who} writes nothing to the store"),
            _ => format!("{who} sends nothing"),
        };
    }
    let parts: Vec<String> = effects
        .iter()
        .map(|effect| match effect {
            Effect::Saved(change) if before.changes_of(message).next().is_some() => {
                format!("writes {change:?} to the store, which had one already")
            }
            Effect::Saved(change) => format!("updates the store: {change:?}"),
            Effect::Sent(event) if before.sent.contains(event) => {
                format!("sends {event} again (the same event)")
            }
            Effect::Sent(event) => format!("sends {event}"),
        })
        .collect();
    format!("{who} {}", parts.join(", then "))
}

/// What happens to the message when the step ended its attempt without
/// an acknowledgement.
fn ending(after: &State, handler: usize, message: MessageId) -> String {
    let ended = after.handlers.get(handler) == Some(&Handler::Idle);
    if !ended || after.acked.contains(&message) {
        return String::new();
    }
    if let Some(again) = after.queue.iter().find(|d| d.message == message) {
        format!(
            "; its steps are done, but {message} was not acknowledged: the queue brings it back (attempt {})",
            again.attempt
        )
    } else if after.dead_letters.contains(&message) {
        format!(
            "; its steps are done, but {message} was not acknowledged and has no retries left: dead letter"
        )
    } else {
        String::new()
    }
}
