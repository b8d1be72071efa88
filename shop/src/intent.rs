//! What the customers asked for: each order as it should be if Orders
//! applied every request once, in the order the customer made them; and
//! what Marketing should hear of it. The consistency report compares the
//! orders and Marketing with it.

use crate::orders::{COUPON_AT, PORTION_PRICE};

/// One order as its customer wants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    /// How many portions the customer ordered with the cart.
    pub placed: usize,
    /// The fillings added and not removed since, one portion each.
    pub items: Vec<String>,
    /// True when the last payment request booked it.
    pub payment_booked: bool,
    /// Each filling added to the order when it had no added items: every
    /// one is a `FirstItemAdded` for Marketing.
    pub first_items: Vec<String>,
    /// True once an added item took the order to 100 zł: a coupon.
    pub coupon: bool,
}

impl Intent {
    /// An order placed with `portions` portions in the cart.
    pub fn placed_with(portions: usize) -> Intent {
        Intent {
            placed: portions,
            ..Intent::default()
        }
    }

    /// The customer added `filling`.
    pub fn add(&mut self, filling: &str) {
        if self.items.iter().any(|item| item == filling) {
            return;
        }
        let value_before = self.value();
        if self.items.is_empty() {
            self.first_items.push(filling.to_string());
        }
        self.items.push(filling.to_string());
        if value_before < COUPON_AT && self.value() >= COUPON_AT {
            self.coupon = true;
        }
    }

    /// The customer took `filling` off.
    pub fn remove(&mut self, filling: &str) {
        self.items.retain(|item| item != filling);
    }

    /// The payment was booked (`true`) or cancelled (`false`).
    pub fn set_payment(&mut self, booked: bool) {
        self.payment_booked = booked;
    }

    /// What the order is worth, in grosze.
    fn value(&self) -> u64 {
        (self.placed + self.items.len()) as u64 * PORTION_PRICE
    }
}
