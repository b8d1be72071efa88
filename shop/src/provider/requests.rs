//! Face (b): the provider keeps no idempotency keys. It keeps requests
//! instead, each under an id the caller chose, and executes each at most
//! once: the stored request is the token (the idea of Part D's tokens,
//! carried over HTTP).
//!
//! - `PUT /requests/{id}` stores the body and does nothing else.
//! - `POST /requests/{id}` executes the stored request once and stores the
//!   response; a repeated `POST` replays the stored response. No stored
//!   request (never put, or deleted) is refused: nothing to execute.
//! - `DELETE /requests/{id}` forgets the request and its response.
//!
//! The response comes back from the `POST` itself, and again from every
//! repeated `POST`: no separate `GET` of the response is part of the
//! protocol (see the README of exercise 15 for why).

use std::collections::BTreeMap;

use super::ledger::{ChargeRequest, Charged, Ledger, Origin};

/// One stored request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Put, not executed: the token.
    Stored(ChargeRequest),
    /// Executed: the request and the response it got.
    Executed(ChargeRequest, Charged),
}

/// Why a verb was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `PUT` of another body under an id in use.
    OtherBody,
    /// `PUT` under the id of a request executed already.
    ExecutedAlready,
    /// `POST` with no stored request.
    NoRequest,
}

/// What a `PUT` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new request.
    New,
    /// The same body again: nothing changed.
    Again,
}

/// What a `POST` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    /// Executed now: money moved.
    Now(Charged),
    /// Executed before: the stored response, again.
    Before(Charged),
}

/// The stored requests, by id.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    slots: BTreeMap<String, Slot>,
}

impl Requests {
    /// `PUT`: stores the request under `id`.
    pub fn put(&mut self, id: &str, request: ChargeRequest) -> Result<Stored, Refusal> {
        match self.slots.get(id) {
            None => {
                self.slots.insert(id.to_string(), Slot::Stored(request));
                Ok(Stored::New)
            }
            Some(Slot::Stored(stored)) if *stored == request => Ok(Stored::Again),
            Some(Slot::Stored(_)) => Err(Refusal::OtherBody),
            Some(Slot::Executed(..)) => Err(Refusal::ExecutedAlready),
        }
    }

    /// `POST`: executes the stored request once, through `ledger`.
    pub fn execute(&mut self, id: &str, ledger: &mut Ledger) -> Result<Executed, Refusal> {
        let Some(slot) = self.slots.get_mut(id) else {
            return Err(Refusal::NoRequest);
        };
        match slot {
            Slot::Executed(_, response) => Ok(Executed::Before(response.clone())),
            Slot::Stored(request) => {
                let origin = Origin {
                    reference: None,
                    request: Some(id.to_string()),
                };
                let response = ledger.charge(request, origin);
                *slot = Slot::Executed(request.clone(), response.clone());
                Ok(Executed::Now(response))
            }
        }
    }

    /// `DELETE`: forgets the request and its response. Whether there was
    /// one.
    pub fn delete(&mut self, id: &str) -> bool {
        self.slots.remove(id).is_some()
    }

    /// The request stored under `id`, if any.
    pub fn get(&self, id: &str) -> Option<&Slot> {
        self.slots.get(id)
    }

    /// The ids of every request the provider still keeps.
    pub fn ids(&self) -> Vec<String> {
        self.slots.keys().cloned().collect()
    }
}
