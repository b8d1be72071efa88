//! The order page of the shop's app: once an order is placed, the customer
//! can still add pierogi to it. Each click sends `AddItem` to Orders,
//! through the page's chaos monkeys.

use harness::{Broker, Envelope, Error, Sim};

use crate::ORDERS_QUEUE;
use crate::chaos::Chaos;
use crate::orders::AddItem;

/// The order page. Cheap to clone: clones share the broker and the monkeys.
#[derive(Clone)]
pub struct OrderPage {
    sim: Sim,
    broker: Broker,
    monkeys: Chaos,
}

impl OrderPage {
    /// A page that sends to Orders through `broker`, with no monkeys yet.
    pub fn new(sim: &Sim, broker: &Broker) -> OrderPage {
        broker.declare_queue(ORDERS_QUEUE);
        OrderPage {
            sim: sim.clone(),
            broker: broker.clone(),
            monkeys: Chaos::new(sim),
        }
    }

    /// The chaos monkeys on what the page sends.
    pub fn monkeys(&self) -> &Chaos {
        &self.monkeys
    }

    /// The customer adds `filling` to the order: sends `AddItem`.
    pub fn add_item(&self, order_id: &str, filling: &str) -> Result<(), Error> {
        let add = AddItem {
            order_id: order_id.to_string(),
            filling: filling.to_string(),
        };
        let message = Envelope::new(self.sim.new_message_id(), "AddItem", &add);
        self.monkeys.send(&message, &mut |copy: &Envelope| {
            self.broker.send(ORDERS_QUEUE, copy.clone())
        })
    }
}
