//! The causation tree of a run: each message under the message whose
//! handling sent it, with what became of every copy — which queue, who
//! handled it, how often, and how it ended (acknowledged, retried,
//! dead-lettered and why, replayed), on the simulated clock.
//!
//! It is what a person on call reads to follow one customer's request across
//! every service, and what a failing test's page shows under "Conversations".
//! It is built from the trace alone, so it works for any run, failed or not:
//! a message sent or published by a worker while that worker is handling
//! another message was caused by that message (the same link the world's
//! `causation-id` header makes); one sent by anybody else (a test, a
//! customer) starts a conversation.
//!
//! ```text
//! AddItem(m2) id 1c3a08f2 · sent by test at t=0.000s to orders
//! │ orders: handled by orders 1×, dead-lettered at t=0.000s: no such filling → replayed at t=5.000s: handled by orders 1×, acked at t=5.000s
//! └─ ItemAdded(m5) id 9e04b7c1 · published by orders at t=5.000s on ItemAdded
//!      billing: handled by billing 2×, retried 1× (database down), acked at t=5.000s
//!      marketing: handled by marketing 1×, acked at t=5.000s
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write};

use crate::{EventKind, MessageId, MessageRef, SimTime, Trace};

/// The causation trees of a run, read from its trace.
///
/// ```
/// use harness::report::Causation;
/// use harness::{Broker, Envelope, HandlerContext, Sim, World};
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// let mut world = World::new(&sim, &broker);
/// world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
///     ctx.send("billing", Envelope::new(ctx.new_message_id(), "Bill", &m.body))?;
///     Ok(())
/// });
/// world.add_endpoint("billing", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
/// let add = Envelope::new(sim.new_message_id(), "AddItem", &"meat");
/// world.send("orders", add.clone()).unwrap();
/// world.run_until_quiet(10).unwrap();
///
/// let causation = Causation::from_trace(&sim.trace());
/// let tree = causation.tree(add.id).unwrap();
/// let lines: Vec<&str> = tree.lines().collect();
/// assert!(lines[0].starts_with("AddItem(m1) id "), "{tree}");
/// assert!(lines[0].ends_with(" · sent by test at t=0.000s to orders"), "{tree}");
/// assert_eq!(lines[1], "│ orders: handled by orders 1×, acked at t=0.000s");
/// assert!(lines[2].starts_with("└─ Bill(m2) id "), "{tree}");
/// assert_eq!(lines[3], "     billing: handled by billing 1×, acked at t=0.000s");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Causation {
    nodes: Vec<Node>,
    index: HashMap<MessageId, usize>,
    /// Events the trace forgot (its limit): the trees may miss their start.
    dropped: u64,
}

#[derive(Clone, Debug)]
struct Node {
    message: MessageRef,
    sent: Option<Sending>,
    cause: Option<usize>,
    children: Vec<usize>,
    queues: Vec<QueueHistory>,
}

#[derive(Clone, Debug)]
struct Sending {
    at: SimTime,
    by: String,
    /// `to orders`, or `on ItemAdded` for a publish.
    to: String,
}

/// What happened to a message's copies on one queue.
#[derive(Clone, Debug)]
struct QueueHistory {
    queue: String,
    /// The first stay in the queue, then one per replay from its dead letters.
    stays: Vec<Stay>,
}

#[derive(Clone, Debug, Default)]
struct Stay {
    replayed_at: Option<SimTime>,
    deliveries: u32,
    retried: u32,
    handlers: Vec<String>,
    /// Why an attempt did not succeed, oldest first.
    errors: Vec<String>,
    acked: Vec<SimTime>,
    dead_lettered: Vec<(SimTime, String)>,
}

impl Causation {
    /// Reads the trees out of `trace`.
    pub fn from_trace(trace: &Trace) -> Causation {
        let mut causation = Causation {
            dropped: trace.dropped(),
            ..Causation::default()
        };
        // What each worker is handling now, and which delivery it came from.
        let mut handling: HashMap<&str, MessageId> = HashMap::new();
        let mut delivered_from: HashMap<&str, String> = HashMap::new();
        for event in trace.events() {
            let actor = event.actor.as_str();
            let at = event.at;
            match &event.kind {
                EventKind::Sent { queue, message } => {
                    let cause = handling.get(actor).copied();
                    causation.sent(
                        message,
                        cause,
                        Sending::new(at, actor, format!("to {queue}")),
                    );
                    causation.history(message, queue);
                }
                EventKind::Published {
                    topic,
                    message,
                    subscribers,
                } => {
                    let cause = handling.get(actor).copied();
                    causation.sent(
                        message,
                        cause,
                        Sending::new(at, actor, format!("on {topic}")),
                    );
                    for queue in subscribers {
                        causation.history(message, queue);
                    }
                }
                EventKind::Delivered {
                    queue,
                    message,
                    attempt,
                } => {
                    let stay = causation.stay(message, queue);
                    stay.deliveries += 1;
                    if *attempt > 1 {
                        stay.retried += 1;
                    }
                    delivered_from.insert(actor, queue.clone());
                }
                EventKind::HandlerStarted { endpoint, message } => {
                    handling.insert(actor, message.id);
                    if let Some(queue) = delivered_from.get(actor) {
                        let stay = causation.stay(message, &queue.clone());
                        if !stay.handlers.contains(endpoint) {
                            stay.handlers.push(endpoint.clone());
                        }
                    }
                }
                EventKind::HandlerSucceeded { .. } => {
                    handling.remove(actor);
                }
                EventKind::HandlerFailed { message, error, .. } => {
                    handling.remove(actor);
                    if let Some(queue) = delivered_from.get(actor) {
                        causation
                            .stay(message, &queue.clone())
                            .errors
                            .push(error.clone());
                    }
                }
                EventKind::LeaseExpired { queue, message } => {
                    let stay = causation.stay(message, queue);
                    stay.errors.push("the lease ran out".to_string());
                }
                EventKind::Acked { queue, message } => {
                    causation.stay(message, queue).acked.push(at);
                }
                EventKind::DeadLettered {
                    queue,
                    message,
                    reason,
                } => {
                    let stay = causation.stay(message, queue);
                    stay.dead_lettered.push((at, reason.clone()));
                }
                EventKind::Replayed { queue, message } => {
                    let history = causation.history(message, queue);
                    history.stays.push(Stay {
                        replayed_at: Some(at),
                        ..Stay::default()
                    });
                }
                _ => {}
            }
        }
        causation
    }

    /// The message that started the conversation `id` belongs to.
    ///
    /// ```
    /// let causation = harness::report::Causation::from_trace(&harness::Sim::new(1).trace());
    /// assert_eq!(causation.root_of(harness::MessageId::from_u128(1)), None);
    /// ```
    pub fn root_of(&self, id: MessageId) -> Option<MessageId> {
        let mut node = *self.index.get(&id)?;
        // A cause always appears before its effects, so this ends.
        while let Some(cause) = self.nodes[node].cause {
            node = cause;
        }
        Some(self.nodes[node].message.id)
    }

    /// The messages that started a conversation, in the order they were sent.
    pub fn roots(&self) -> Vec<MessageId> {
        self.nodes
            .iter()
            .filter(|node| node.cause.is_none())
            .map(|node| node.message.id)
            .collect()
    }

    /// The tree of the conversation `id` belongs to (from its root), as
    /// indented text; `None` when the trace does not know `id`.
    pub fn tree(&self, id: MessageId) -> Option<String> {
        let root = self.index[&self.root_of(id)?];
        let mut out = String::new();
        self.render(root, "", "", &mut out);
        Some(out)
    }

    /// Every tree, in the order their roots were sent, a blank line between
    /// two; at most `limit` of them, then a line saying how many more.
    pub fn trees(&self, limit: usize) -> String {
        self.render_trees(&self.roots(), limit)
    }

    /// [`Causation::trees`] for a failure's page: first the conversations
    /// with a message the check points at (`labels`: `m3`), then those with
    /// a message dead-lettered or not finished, then the rest.
    pub(crate) fn trees_for_page(
        &self,
        limit: usize,
        labels: &std::collections::BTreeSet<String>,
    ) -> String {
        let mut roots: Vec<(u8, MessageId)> = self
            .roots()
            .into_iter()
            .map(|root| {
                let nodes = self.subtree(self.index[&root]);
                let rank = if nodes
                    .iter()
                    .any(|&n| labels.contains(&self.nodes[n].message.label))
                {
                    0
                } else if nodes.iter().any(|&n| self.nodes[n].went_wrong()) {
                    1
                } else {
                    2
                };
                (rank, root)
            })
            .collect();
        roots.sort_by_key(|(rank, _)| *rank);
        let roots: Vec<MessageId> = roots.into_iter().map(|(_, root)| root).collect();
        self.render_trees(&roots, limit)
    }

    /// `node` and everything it caused.
    fn subtree(&self, node: usize) -> Vec<usize> {
        let mut nodes = vec![node];
        let mut next = 0;
        while next < nodes.len() {
            nodes.extend(self.nodes[nodes[next]].children.iter().copied());
            next += 1;
        }
        nodes
    }

    fn render_trees(&self, roots: &[MessageId], limit: usize) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            let _ = writeln!(
                out,
                "(the trace forgot its first {} events: early messages are missing)\n",
                self.dropped
            );
        }
        for (n, root) in roots.iter().take(limit).enumerate() {
            if n > 0 {
                out.push('\n');
            }
            out.push_str(&self.tree(*root).unwrap_or_default());
        }
        if roots.len() > limit {
            let _ = writeln!(out, "\n… and {} more conversations", roots.len() - limit);
        }
        out
    }

    fn node(&mut self, message: &MessageRef) -> usize {
        if let Some(&node) = self.index.get(&message.id) {
            return node;
        }
        self.nodes.push(Node {
            message: message.clone(),
            sent: None,
            cause: None,
            children: Vec::new(),
            queues: Vec::new(),
        });
        self.index.insert(message.id, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// Records a send; only the first send of an id places it in the tree.
    fn sent(&mut self, message: &MessageRef, cause: Option<MessageId>, sending: Sending) {
        let node = self.node(message);
        if self.nodes[node].sent.is_some() {
            return;
        }
        self.nodes[node].sent = Some(sending);
        let cause = cause
            .filter(|cause| *cause != message.id)
            .and_then(|cause| self.index.get(&cause).copied());
        if let Some(cause) = cause
            && self.nodes[node].cause.is_none()
            && self.nodes[node].children.is_empty()
        {
            self.nodes[node].cause = Some(cause);
            self.nodes[cause].children.push(node);
        }
    }

    fn history(&mut self, message: &MessageRef, queue: &str) -> &mut QueueHistory {
        let node = self.node(message);
        let queues = &mut self.nodes[node].queues;
        let at = match queues.iter().position(|history| history.queue == queue) {
            Some(at) => at,
            None => {
                queues.push(QueueHistory {
                    queue: queue.to_string(),
                    stays: vec![Stay::default()],
                });
                queues.len() - 1
            }
        };
        &mut queues[at]
    }

    /// The current stay of `message` in `queue`.
    fn stay(&mut self, message: &MessageRef, queue: &str) -> &mut Stay {
        self.history(message, queue)
            .stays
            .last_mut()
            .expect("a history starts with a stay")
    }

    fn render(&self, node: usize, first: &str, rest: &str, out: &mut String) {
        let Node {
            message,
            sent,
            children,
            queues,
            ..
        } = &self.nodes[node];
        let _ = write!(out, "{first}{message} id {}", short_id(message.id));
        match sent {
            Some(sent) => {
                let verb = if sent.to.starts_with("on ") {
                    "published"
                } else {
                    "sent"
                };
                let _ = writeln!(out, " · {verb} by {} at {} {}", sent.by, sent.at, sent.to);
            }
            None => out.push_str(" · sent before the trace begins\n"),
        }
        let bar = if children.is_empty() { "  " } else { "│ " };
        for history in queues {
            let _ = writeln!(out, "{rest}{bar}{}", history.describe());
        }
        for (n, child) in children.iter().enumerate() {
            let last = n + 1 == children.len();
            let (first, more) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            self.render(
                *child,
                &format!("{rest}{first}"),
                &format!("{rest}{more}"),
                out,
            );
        }
    }
}

impl fmt::Display for Causation {
    /// Every tree ([`Causation::trees`] without a limit).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.trees(usize::MAX))
    }
}

impl Node {
    /// A copy of it was dead-lettered, or has not finished.
    fn went_wrong(&self) -> bool {
        self.queues
            .iter()
            .flat_map(|history| &history.stays)
            .any(|stay| !stay.dead_lettered.is_empty() || stay.acked.is_empty())
    }
}

impl Sending {
    fn new(at: SimTime, by: &str, to: String) -> Sending {
        Sending {
            at,
            by: by.to_string(),
            to,
        }
    }
}

impl QueueHistory {
    /// `orders: handled by orders 2×, retried 1× (database down), acked at t=1.000s`
    fn describe(&self) -> String {
        let stays: Vec<String> = self
            .stays
            .iter()
            .map(|stay| {
                let told = stay.describe();
                match stay.replayed_at {
                    Some(at) => format!("replayed at {at}: {told}"),
                    None => told,
                }
            })
            .collect();
        format!("{}: {}", self.queue, stays.join(" → "))
    }
}

impl Stay {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.deliveries == 0 {
            parts.push("not delivered yet".to_string());
        } else if self.handlers.is_empty() {
            parts.push(format!("delivered {}×", self.deliveries));
        } else {
            parts.push(format!(
                "handled by {} {}×",
                self.handlers.join(" and "),
                self.deliveries
            ));
        }
        if self.retried > 0 {
            let why = self.errors.last().map_or("", String::as_str);
            parts.push(format!("retried {}× ({why})", self.retried));
        }
        match self.acked.as_slice() {
            [] => {}
            [at] => parts.push(format!("acked at {at}")),
            times => {
                let times: Vec<String> = times.iter().map(SimTime::to_string).collect();
                parts.push(format!(
                    "{} copies acked at {}",
                    times.len(),
                    times.join(", ")
                ));
            }
        }
        for (at, reason) in &self.dead_lettered {
            parts.push(format!("dead-lettered at {at}: {reason}"));
        }
        if self.acked.is_empty() && self.dead_lettered.is_empty() && self.deliveries > 0 {
            parts.push("not finished".to_string());
        }
        parts.join(", ")
    }
}

/// The first eight hex digits of an id: enough to find it in a log.
fn short_id(id: MessageId) -> String {
    id.to_string().chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Broker, Envelope, FaultRule, HandlerContext, HandlerError, Sim, World};

    /// Orders fails once on "flaky", dead-letters "poison" and publishes
    /// `ItemAdded` otherwise; Billing sends a letter.
    fn world(sim: &Sim) -> (Broker, World) {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        world.add_endpoint("orders", |ctx: &mut HandlerContext, m: &Envelope| {
            if m.body == "poison" && ctx.sim().now().as_millis() < 5_000 {
                return Err(HandlerError::unrecoverable("no such filling"));
            }
            if m.body == "flaky" && ctx.attempt() == 1 {
                return Err(HandlerError::transient("database down"));
            }
            ctx.publish(
                "ItemAdded",
                Envelope::new(ctx.new_message_id(), "ItemAdded", &m.body),
            )?;
            Ok(())
        });
        world.add_endpoint("billing", |ctx: &mut HandlerContext, m: &Envelope| {
            ctx.send(
                "mailer",
                Envelope::new(ctx.new_message_id(), "Letter", &m.body),
            )?;
            Ok(())
        });
        world.add_endpoint("marketing", |_ctx: &mut HandlerContext, _m: &Envelope| {
            Ok(())
        });
        world.add_endpoint("mailer", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
        world.subscribe("ItemAdded", "billing").unwrap();
        world.subscribe("ItemAdded", "marketing").unwrap();
        (broker, world)
    }

    /// The tree without the random ids, for comparing.
    fn without_ids(tree: &str) -> String {
        tree.lines()
            .map(|line| match line.find(" id ") {
                Some(at) => format!("{} id …{}", &line[..at], &line[at + 12..]),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_dead_letter_and_its_replay_are_one_line_of_the_message_s_queue() {
        let sim = Sim::new(3);
        let (broker, mut world) = world(&sim);
        let poison = Envelope::new(sim.new_message_id(), "AddItem", &"poison");
        world.send("orders", poison.clone()).unwrap();
        world.run_until_quiet(50).unwrap();
        sim.advance(std::time::Duration::from_secs(5));
        broker.replay_dead_letter("orders", poison.id).unwrap();
        world.run_until_quiet(50).unwrap();
        let tree = Causation::from_trace(&sim.trace()).tree(poison.id).unwrap();
        assert_eq!(
            without_ids(&tree),
            "AddItem(m1) id … · sent by test at t=0.000s to orders\n\
             │ orders: handled by orders 1×, dead-lettered at t=0.000s: no such filling → replayed at t=5.000s: handled by orders 1×, acked at t=5.000s\n\
             └─ ItemAdded(m2) id … · published by orders at t=5.000s on ItemAdded\n   \
             │ billing: handled by billing 1×, acked at t=5.000s\n   \
             │ marketing: handled by marketing 1×, acked at t=5.000s\n   \
             └─ Letter(m3) id … · sent by billing at t=5.000s to mailer\n        \
             mailer: handled by mailer 1×, acked at t=5.000s"
        );
    }

    #[test]
    fn retries_lost_leases_and_duplicates_are_told_per_queue() {
        let sim = Sim::new(4);
        let (_broker, mut world) = world(&sim);
        sim.inject(FaultRule::at("broker.mailer.send").duplicate());
        sim.inject(FaultRule::at("broker.marketing.ack").fail_before());
        let flaky = Envelope::new(sim.new_message_id(), "AddItem", &"flaky");
        world.send("orders", flaky.clone()).unwrap();
        world.run_until_quiet(100).unwrap();
        let causation = Causation::from_trace(&sim.trace());
        let tree = causation.tree(flaky.id).unwrap();
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(
            lines[1],
            "│ orders: handled by orders 2×, retried 1× (database down), acked at t=0.000s"
        );
        assert!(
            lines.contains(
                &"   │ marketing: handled by marketing 2×, retried 1× (the lease ran out), acked at t=30.000s"
            ),
            "{tree}"
        );
        assert!(
            lines.contains(
                &"        mailer: handled by mailer 2×, 2 copies acked at t=0.000s, t=0.000s"
            ),
            "{tree}"
        );
        assert_eq!(causation.roots(), [flaky.id]);
    }

    #[test]
    fn two_conversations_are_two_trees_and_each_message_finds_its_root() {
        let sim = Sim::new(5);
        let (broker, mut world) = world(&sim);
        let meat = Envelope::new(sim.new_message_id(), "AddItem", &"meat");
        let cheese = Envelope::new(sim.new_message_id(), "AddItem", &"cheese");
        // Two workers each: the two conversations' handlings interleave.
        world.set_workers("orders", 2).unwrap();
        world.set_workers("billing", 2).unwrap();
        world.send("orders", meat.clone()).unwrap();
        world.send("orders", cheese.clone()).unwrap();
        world.run_until_quiet(100).unwrap();
        let causation = Causation::from_trace(&sim.trace());
        assert_eq!(causation.roots(), [meat.id, cheese.id]);
        let letters = broker.sent_to("mailer").unwrap();
        let roots: Vec<Option<MessageId>> = letters
            .iter()
            .map(|letter| causation.root_of(letter.id))
            .collect();
        // Each letter leads back to its own AddItem, whatever the interleaving.
        let bodies: Vec<&serde_json::Value> = letters.iter().map(|l| &l.body).collect();
        for (body, root) in bodies.iter().zip(&roots) {
            let expected = if **body == "meat" { meat.id } else { cheese.id };
            assert_eq!(*root, Some(expected));
        }
        let all = causation.trees(1);
        assert!(all.starts_with("AddItem(m1)"), "{all}");
        assert!(all.ends_with("… and 1 more conversations\n"), "{all}");
    }

    #[test]
    fn a_failure_s_page_shows_the_trees_and_a_run_without_messages_leaves_them_out() {
        let sim = Sim::new(7);
        let (_broker, mut world) = world(&sim);
        let add = Envelope::new(sim.new_message_id(), "AddItem", &"<b>meat</b>");
        world.send("orders", add).unwrap();
        world.run_until_quiet(50).unwrap();
        let page = crate::Failure::new(&sim, "lost a letter").html();
        let section = page
            .split("<h2>Conversations</h2>")
            .nth(1)
            .expect("a section");
        assert!(section.contains("│ orders: handled by orders 1×, acked at t=0.000s"));
        assert!(section.contains("└─ Letter(m3) id "));
        let empty = crate::Failure::new(&Sim::new(7), "nothing").html();
        assert!(!empty.contains("<h2>Conversations</h2>"));
    }

    #[test]
    fn the_page_puts_first_the_conversation_the_check_points_at_then_those_that_went_wrong() {
        let sim = Sim::new(8);
        let (_broker, mut world) = world(&sim);
        for filling in ["meat", "cheese", "poison", "onion"] {
            let add = Envelope::new(sim.new_message_id(), "AddItem", &filling);
            world.send("orders", add).unwrap();
        }
        world.run_until_quiet(100).unwrap();
        let firsts = |page: &str| -> Vec<String> {
            let section = page.split("<pre class=\"causation\">").nth(1).unwrap();
            let section = section.split("</pre>").next().unwrap();
            section
                .lines()
                .filter(|line| line.starts_with("AddItem("))
                .map(|line| line[..line.find(')').unwrap() + 1].to_string())
                .collect()
        };
        let plain = crate::Failure::new(&sim, "x").html();
        // The dead-lettered poison (m3) first, then the others in order.
        assert_eq!(
            firsts(&plain),
            ["AddItem(m3)", "AddItem(m1)", "AddItem(m2)", "AddItem(m4)"]
        );
        let pointed = crate::Failure::new(&sim, "x")
            .highlight_message("m4")
            .html();
        assert_eq!(
            firsts(&pointed),
            ["AddItem(m4)", "AddItem(m3)", "AddItem(m1)", "AddItem(m2)"]
        );
    }

    #[test]
    fn a_message_still_waiting_says_so() {
        let sim = Sim::new(6);
        let broker = Broker::new(&sim);
        broker.declare_queue("orders");
        let ping = Envelope::new(sim.new_message_id(), "Ping", &());
        broker.send("orders", ping.clone()).unwrap();
        let tree = Causation::from_trace(&sim.trace()).tree(ping.id).unwrap();
        assert!(tree.ends_with("  orders: not delivered yet\n"), "{tree}");
        let _delivery = broker.receive("orders").unwrap().unwrap();
        let tree = Causation::from_trace(&sim.trace()).tree(ping.id).unwrap();
        assert!(
            tree.ends_with("  orders: delivered 1×, not finished\n"),
            "{tree}"
        );
    }
}
