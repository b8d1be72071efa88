//! The causation tree of one conversation, as text a person reads at 3 a.m.:
//! every message under the message whose handling sent it, and per queue who
//! handled it and how it ended. Drawn by the harness from the run's trace
//! ([`harness::report::Causation`]), the same trees a failing test's page
//! shows.

use harness::Trace;
use harness::report::Causation;

use super::Conversation;

impl Conversation {
    /// Its causation tree, from `trace` (the run's: `sim.trace()`). A
    /// conversation whose messages the trace links to more than one root
    /// (a message sent by a poller rather than a handler) gets one tree per
    /// root, a blank line between two.
    ///
    /// ```
    /// use harness::{Broker, Envelope, HandlerContext, Sim, World};
    /// use shop::operations::run_until_settled;
    ///
    /// let sim = Sim::new(1);
    /// let broker = Broker::new(&sim);
    /// let mut world = World::new(&sim, &broker);
    /// world.add_endpoint("orders", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    /// world.send("orders", Envelope::new(sim.new_message_id(), "AddItem", &"meat")).unwrap();
    /// let conversations = run_until_settled(&mut world, 10);
    /// let tree = conversations.all()[0].tree(&sim.trace());
    /// assert!(tree.ends_with("  orders: handled by orders 1×, acked at t=0.000s\n"), "{tree}");
    /// ```
    pub fn tree(&self, trace: &Trace) -> String {
        let causation = Causation::from_trace(trace);
        let mut roots = Vec::new();
        for message in &self.messages {
            if let Some(root) = causation.root_of(message.id)
                && !roots.contains(&root)
            {
                roots.push(root);
            }
        }
        if roots.is_empty() {
            return "(the trace holds none of its messages any more)\n".to_string();
        }
        let trees: Vec<String> = roots
            .iter()
            .filter_map(|root| causation.tree(*root))
            .collect();
        trees.join("\n")
    }
}
