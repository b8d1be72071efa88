//! The whole pierogi town in one place, for the tests and the demo: the
//! shop's front end, Orders, Billing and Marketing over one broker, and the
//! order page the customers click on.

use harness::{Broker, Envelope, Error, Sim, World};

use crate::audit::Audit;
use crate::downstream::Subscriber;
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
    /// Counts added items.
    pub marketing: Subscriber,
    /// Where customers add items to their placed orders.
    pub page: OrderPage,
    placed: Vec<String>,
}

impl Town {
    /// A town with no carts and no orders yet.
    pub fn open(sim: &Sim) -> Town {
        let broker = Broker::new(sim);
        let mut world = World::new(sim, &broker);
        let shop = Shop::new(sim, &broker);
        let orders = Orders::new(sim);
        let billing = Subscriber::billing(sim);
        let marketing = Subscriber::marketing(sim);
        shop.add_to(&mut world);
        orders.add_to(&mut world);
        billing.add_to(&mut world);
        marketing.add_to(&mut world);
        let page = OrderPage::new(sim, &broker);
        Town {
            sim: sim.clone(),
            broker,
            world,
            shop,
            orders,
            billing,
            marketing,
            page,
            placed: Vec::new(),
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
        self.placed.push(cart_id.to_string());
        Ok(cart_id.to_string())
    }

    /// `customer` adds `filling` to their placed order, on the order page.
    /// Returns the request sent.
    pub fn add_item(
        &self,
        customer: &str,
        order_id: &str,
        filling: &str,
    ) -> Result<Envelope, Error> {
        let actor = self.sim.actor();
        self.sim.set_actor(customer);
        let sent = self.page.add_item(order_id, filling);
        self.sim.set_actor(&actor);
        sent
    }

    /// The consistency report over every order placed so far.
    pub fn audit(&self) -> Result<Audit, Error> {
        Audit::of(
            &self.orders,
            &[&self.billing, &self.marketing],
            &self.broker,
            &self.placed,
        )
    }
}
