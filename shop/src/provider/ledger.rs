//! The provider's books: every charge it made, and the authorisation codes
//! it hands out. Both faces of the provider charge through here.

use serde::{Deserialize, Serialize};

/// What a caller asks the provider to charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// The shop's order.
    pub order_id: String,
    /// How much, in grosze (more than zero).
    pub amount: u64,
}

/// The provider's answer to a charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charged {
    /// The charge, in the provider's ledger.
    pub charge_id: String,
    /// The shop's order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
    /// The authorisation code of this answer: the provider hands out a new
    /// one with every answer, even for a charge it made before.
    pub auth_code: String,
}

/// One charge in the ledger: money taken from the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Its id, `ch-1`, `ch-2` ... in the order they were made.
    pub charge_id: String,
    /// The shop's order.
    pub order_id: String,
    /// How much, in grosze.
    pub amount: u64,
    /// The caller's idempotency reference (face a), if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The id of the stored request it executed (face b), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The authorisation code of the first answer.
    pub auth_code: String,
}

/// Where a charge came from: an idempotency reference, a stored request,
/// or neither (a bare `POST /charges`).
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The caller's idempotency reference (face a).
    pub reference: Option<String>,
    /// The stored request's id (face b).
    pub request: Option<String>,
}

/// Every charge made, in order.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    charges: Vec<Charge>,
    answers: u64,
}

impl Ledger {
    /// Takes the money: a new charge, and its first answer.
    pub fn charge(&mut self, request: &ChargeRequest, origin: Origin) -> Charged {
        let charge = Charge {
            charge_id: format!("ch-{}", self.charges.len() + 1),
            order_id: request.order_id.clone(),
            amount: request.amount,
            reference: origin.reference,
            request: origin.request,
            auth_code: self.next_auth_code(),
        };
        let answer = Charged {
            charge_id: charge.charge_id.clone(),
            order_id: charge.order_id.clone(),
            amount: charge.amount,
            auth_code: charge.auth_code.clone(),
        };
        self.charges.push(charge);
        answer
    }

    /// Answers again for a charge made before (a repeated reference): no
    /// money moves, but the answer has a new authorisation code.
    pub fn answer_again(&mut self, charge: &Charge) -> Charged {
        Charged {
            charge_id: charge.charge_id.clone(),
            order_id: charge.order_id.clone(),
            amount: charge.amount,
            auth_code: self.next_auth_code(),
        }
    }

    /// The charge made under the idempotency reference, if any.
    pub fn with_reference(&self, reference: &str) -> Option<&Charge> {
        self.charges
            .iter()
            .find(|charge| charge.reference.as_deref() == Some(reference))
    }

    /// Every charge, in the order made.
    pub fn charges(&self) -> &[Charge] {
        &self.charges
    }

    /// Authorisation codes count up: `AUTH-000001`, `AUTH-000002` ...
    fn next_auth_code(&mut self) -> String {
        self.answers += 1;
        format!("AUTH-{:06}", self.answers)
    }
}
