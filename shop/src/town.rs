//! The whole pierogi town in one place, for the tests and the demo: the
//! shop's front end, Orders, Billing, Marketing and the mailer over one
//! broker, and the order page the customers click on.
//!
//! Orders comes in three shapes ([`AnyOrders`]): on the document store
//! (Part B until exercise 08), on SQL with the outbox (exercises 09–11), or
//! on an internet-scale key-value store (Part D). The town, the demo and
//! the consistency report work with each.

use std::collections::BTreeMap;

use harness::{Broker, Envelope, Error, Failure, Sim, World};

use crate::Order;
use crate::audit::Audit;
use crate::chaos::Chaos;
use crate::downstream::Subscriber;
use crate::ids::{OutgoingId, outgoing_id};
use crate::intent::Intent;
use crate::mailer::Mailer;
use crate::order_page::OrderPage;
use crate::orders::documents::{self, Moments};
use crate::orders::kv::{self, TokenStore};
use crate::orders::{self as sql_orders};
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
    pub orders: AnyOrders,
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
    ///
    /// ```
    /// use harness::Sim;
    /// use shop::orders::documents::Orders;
    /// use shop::town::Town;
    ///
    /// let sim = Sim::new(1);
    /// let mut town = Town::open(&sim, Orders::new(&sim));
    /// let order = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    /// town.add_item("Ola", &order, "meat").unwrap();
    /// town.deliver().unwrap();
    /// assert!(town.audit().unwrap().is_consistent());
    /// ```
    pub fn open(sim: &Sim, orders: impl Into<AnyOrders>) -> Town {
        let orders = orders.into();
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let shop = Shop::new(sim, &broker);
        let mut billing = Subscriber::billing(sim).naming_with(orders.outgoing_ids());
        let mut marketing = Subscriber::marketing(sim).naming_with(orders.outgoing_ids());
        if let Some(tokens) = orders.tokens() {
            billing = billing.with_tokens(tokens.clone());
            marketing = marketing.with_tokens(tokens);
        }
        let mailer = Mailer::new(sim);
        shop.add_to(&mut world);
        orders.add_to(&mut world);
        billing.add_to(&mut world);
        marketing.add_to(&mut world);
        mailer.add_to(&mut world);
        let mut page = OrderPage::new(sim, &broker);
        if let Some(tokens) = orders.tokens() {
            page = page.with_tokens(tokens);
        }
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
    ///
    /// # Panics
    ///
    /// With the run's report, when a delivery never finished (a handler
    /// that retries for ever inside one delivery): the world has stopped,
    /// and a test must fail saying so rather than unwrap an error.
    #[track_caller]
    pub fn deliver(&mut self) -> Result<(), Error> {
        match self.world.run_until_quiet(MAX_STEPS) {
            Ok(_) => Ok(()),
            Err(runaway @ Error::Runaway { .. }) => {
                Failure::new(&self.sim, runaway.to_string()).panic()
            }
            Err(err) => Err(err),
        }
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

/// The Orders service of a town, in one of its shapes.
#[derive(Clone)]
pub enum AnyOrders {
    /// Orders on the document store (exercises 05–08).
    Documents(documents::Orders),
    /// Orders on SQL, every request through the outbox (exercises 09–11).
    Sql(sql_orders::Orders),
    /// Orders on an internet-scale key-value store (Part D).
    Kv(kv::Orders),
}

impl From<kv::Orders> for AnyOrders {
    fn from(orders: kv::Orders) -> AnyOrders {
        AnyOrders::Kv(orders)
    }
}

impl From<documents::Orders> for AnyOrders {
    fn from(orders: documents::Orders) -> AnyOrders {
        AnyOrders::Documents(orders)
    }
}

impl From<sql_orders::Orders> for AnyOrders {
    fn from(orders: sql_orders::Orders) -> AnyOrders {
        AnyOrders::Sql(orders)
    }
}

impl AnyOrders {
    /// Orders on SQL, if that is this town's shape (for the outbox's
    /// reports).
    pub fn as_sql(&self) -> Option<&sql_orders::Orders> {
        match self {
            AnyOrders::Documents(_) | AnyOrders::Kv(_) => None,
            AnyOrders::Sql(orders) => Some(orders),
        }
    }

    /// Adds the service to the world as the endpoint of the `orders` queue.
    pub fn add_to(&self, world: &mut World) {
        match self {
            AnyOrders::Documents(orders) => orders.add_to(world),
            AnyOrders::Sql(orders) => orders.add_to(world),
            AnyOrders::Kv(orders) => orders.add_to(world),
        }
    }

    /// The chaos monkeys on what Orders sends.
    pub fn monkeys(&self) -> &Chaos {
        match self {
            AnyOrders::Documents(orders) => orders.monkeys(),
            AnyOrders::Sql(orders) => orders.monkeys(),
            AnyOrders::Kv(orders) => orders.monkeys(),
        }
    }

    /// Every order made from the cart.
    pub fn of_cart(&self, cart_id: &str) -> Result<Vec<Order>, Error> {
        match self {
            AnyOrders::Documents(orders) => orders.of_cart(cart_id),
            AnyOrders::Sql(orders) => orders.of_cart(cart_id),
            AnyOrders::Kv(orders) => orders.of_cart(cart_id),
        }
    }

    /// What was added to the order after it was placed and not removed.
    pub fn added_to(&self, order_id: &str) -> Result<Vec<String>, Error> {
        match self {
            AnyOrders::Documents(orders) => orders.added_to(order_id),
            AnyOrders::Sql(orders) => orders.added_to(order_id),
            AnyOrders::Kv(orders) => orders.added_to(order_id),
        }
    }

    /// Whether the order's payment is booked.
    pub fn payment_booked(&self, order_id: &str) -> Result<bool, Error> {
        match self {
            AnyOrders::Documents(orders) => orders.payment_booked(order_id),
            AnyOrders::Sql(orders) => orders.payment_booked(order_id),
            AnyOrders::Kv(orders) => orders.payment_booked(order_id),
        }
    }

    /// The token store, in a town of tokens (exercise 14).
    pub fn tokens(&self) -> Option<TokenStore> {
        match self {
            AnyOrders::Kv(orders) if orders.uses_tokens() => Some(orders.tokens().clone()),
            AnyOrders::Documents(_) | AnyOrders::Sql(_) | AnyOrders::Kv(_) => None,
        }
    }

    /// Whether Orders takes requests of `message_type` (Orders on SQL
    /// takes every request of the order page).
    pub fn takes(&self, message_type: &str) -> bool {
        match self {
            AnyOrders::Documents(orders) => orders.takes(message_type),
            AnyOrders::Sql(_) | AnyOrders::Kv(_) => true,
        }
    }

    /// Whether `AddItem` tells Marketing of first items and coupons.
    pub fn moments(&self) -> Moments {
        match self {
            AnyOrders::Documents(orders) => orders.moments(),
            AnyOrders::Sql(_) | AnyOrders::Kv(_) => Moments::Announced,
        }
    }

    /// How the town's services name what they send: Orders' own way
    /// (exercise 07 plugs its own into Orders on documents).
    pub fn outgoing_ids(&self) -> OutgoingId {
        match self {
            AnyOrders::Documents(orders) => orders.outgoing_ids(),
            AnyOrders::Sql(_) | AnyOrders::Kv(_) => outgoing_id,
        }
    }
}
