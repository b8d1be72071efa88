//! What the customers asked for: each order as it should be if Orders
//! applied every request once, in the order the customer made them. The
//! consistency report compares the orders with it.

/// One order as its customer wants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    /// The fillings added and not removed since, one portion each.
    pub items: Vec<String>,
    /// True when the last payment request booked it.
    pub payment_booked: bool,
}

impl Intent {
    /// The customer added `filling`.
    pub fn add(&mut self, filling: &str) {
        if !self.items.iter().any(|item| item == filling) {
            self.items.push(filling.to_string());
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
}
