//! The whole pierogi town in one place, for the tests and the demo: the
//! shop's front end, Orders, Billing, Marketing and the mailer over one
//! broker, and the order page the customers click on.

use std::collections::BTreeMap;

use harness::{Broker, Envelope, Error, Sim, World};

use crate::audit::Audit;
use crate::downstream::Subscriber;
use crate::intent::Intent;
use crate::mailer::Mailer;
use crate::order_page::OrderPage;
use crate::orders::Orders;
use crate::{Line, Shop};

/// Enough steps for a few hundred orders with their retries.
const MAX_STEPS: usize = 1_000_000;

/// Every service of the shop, wired to one broker.
pub struct Town {
    /// The simulation (seed, clock, trace).
    pub sim: Sim,
    /// The broker between the services.
    pub broker: Broker,
    /// Delivers the messages to the services.
    pub world: World,
    /// The shop's front end: carts, submit.
    pub shop: Shop,
    /// Makes orders and adds items to them; publishes `ItemAdded`.
    pub orders: Orders,
    /// Charges for added items.
    pub billing: Subscriber,
    /// Counts added items and bookings.
    pub marketing: Subscriber,
    /// Sends the customers the letters Billing and Marketing ask for.
    pub mailer: Mailer,
    /// Where customers change their placed orders.
    pub page: OrderPage,
    /// Each placed order as its customer wants it.
    intents: BTreeMap<String, Intent>,
}

impl Town {
    /// A town with no carts and no orders yet, around `orders` (made in
    /// `sim`).
    pub fn open(sim: &Sim, orders: Orders) -> Town {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let shop = Shop::new(sim, &broker);
        let billing = Subscriber::billing(sim);
        let marketing = Subscriber::marketing(sim);
        let mailer = Mailer::new(sim);
        shop.add_to(&mut world);
        orders.add_to(&mut world);
        billing.add_to(&mut world);
        marketing.add_to(&mut world);
        mailer.add_to(&mut world);
        let page = OrderPage::new(sim, &broker);
        Town {
            sim: sim.clone(),
            broker,
            world,
            shop,
            orders,
            billing,
            marketing,
            mailer,
            page,
            intents: BTreeMap::new(),
        }
    }

    /// Lets the broker deliver every message, until nothing is left.
    pub fn deliver(&mut self) -> Result<(), Error> {
        self.world.run_until_quiet(MAX_STEPS)?;
        Ok(())
    }

    /// `customer` fills cart `cart_id` with `items` and submits it; the
    /// shop sends `SubmitOrder` and Orders makes the order. Returns the
    /// order's id (the cart's).
    pub fn place_order(
        &mut self,
        cart_id: &str,
        customer: &str,
        items: &[&str],
    ) -> Result<String, Error> {
        let actor = self.sim.actor();
        self.sim.set_actor(customer);
        self.shop.create_cart(cart_id, customer)?;
        for (index, item) in items.iter().enumerate() {
            let line = Line {
                id: format!("l-{}", index + 1),
                name: item.to_string(),
            };
            self.shop.add_line(cart_id, line)?;
        }
        let submitted = self.shop.submit(cart_id, "Rynek 1, Kraków", None);
        self.sim.set_actor(&actor);
        if let Err(err) = submitted {
            return Err(Error::Other(format!(
                "the submit of {cart_id} failed: {err:?}"
            )));
        }
        self.deliver()?;
        self.intents
            .insert(cart_id.to_string(), Intent::placed_with(items.len()));
        Ok(cart_id.to_string())
    }

    /// `customer` adds `filling` to their placed order, on the order page.
    /// Returns the request sent.
    pub fn add_item(
        &mut self,
        customer: &str,
        order_id: &str,
        filling: &str,
    ) -> Result<Envelope, Error> {
        self.intent(order_id).add(filling);
        let page = self.page.clone();
        self.as_actor(customer, || page.add_item(order_id, filling))
    }

    /// `customer` takes `filling` off their placed order. Returns the
    /// request sent.
    pub fn remove_item(
        &mut self,
        customer: &str,
        order_id: &str,
        filling: &str,
    ) -> Result<Envelope, Error> {
        self.intent(order_id).remove(filling);
        let page = self.page.clone();
        self.as_actor(customer, || page.remove_item(order_id, filling))
    }

    /// The payment service books the order's payment. Returns the request
    /// sent.
    pub fn book_payment(&mut self, order_id: &str, amount: u64) -> Result<Envelope, Error> {
        self.intent(order_id).set_payment(true);
        let page = self.page.clone();
        self.as_actor("payments", || page.book_payment(order_id, amount))
    }

    /// The payment service cancels the order's payment. Returns the request
    /// sent.
    pub fn cancel_payment(&mut self, order_id: &str) -> Result<Envelope, Error> {
        self.intent(order_id).set_payment(false);
        let page = self.page.clone();
        self.as_actor("payments", || page.cancel_payment(order_id))
    }

    /// `who` sends `request` again, late: a copy of what was asked before,
    /// which asks for nothing new. Returns the message sent.
    pub fn resend(&self, who: &str, request: &Envelope) -> Result<Envelope, Error> {
        self.as_actor(who, || self.page.resend(request))
    }

    /// The order as its customer wants it.
    pub fn intent_of(&self, order_id: &str) -> Intent {
        self.intents.get(order_id).cloned().unwrap_or_default()
    }

    fn intent(&mut self, order_id: &str) -> &mut Intent {
        self.intents.entry(order_id.to_string()).or_default()
    }

    /// Runs `act` with `who` as the actor of the trace.
    fn as_actor<T>(&self, who: &str, act: impl FnOnce() -> T) -> T {
        let actor = self.sim.actor();
        self.sim.set_actor(who);
        let done = act();
        self.sim.set_actor(&actor);
        done
    }

    /// The consistency report over every order placed so far.
    pub fn audit(&self) -> Result<Audit, Error> {
        Audit::of(
            &self.orders,
            &[&self.billing, &self.marketing],
            &self.mailer,
            &self.broker,
            &self.intents,
        )
    }
}
