//! The fault profiles of the whole system: seeded, both before and after
//! the effect, at every store, the broker, the blob store and both HTTP
//! APIs (the shop's edge and the provider).

use harness::{Fault, RandomFaults};

use super::System;
use crate::chaos::DuplicateWhen;

/// Which faults are loose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// The sunny day.
    None,
    /// The broker and the saga send some messages twice.
    Duplicates,
    /// Every key-value store fails some writes and reads, before or after.
    Stores,
    /// The broker fails some sends, publishes and acknowledgements.
    Broker,
    /// HTTP calls fail, some after the provider or the shop did the work.
    Http,
    /// The blob store fails some uploads, reads and deletes.
    Blobs,
    /// All of the above.
    All,
}

impl Profile {
    /// Every profile, in the order the demo runs them.
    pub const ALL: [Profile; 7] = [
        Profile::None,
        Profile::Duplicates,
        Profile::Stores,
        Profile::Broker,
        Profile::Http,
        Profile::Blobs,
        Profile::All,
    ];

    /// Its name, as `--chaos` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Duplicates => "duplicates",
            Profile::Stores => "stores",
            Profile::Broker => "broker",
            Profile::Http => "http",
            Profile::Blobs => "blobs",
            Profile::All => "all",
        }
    }

    fn has(self, wanted: Profile) -> bool {
        self == wanted || self == Profile::All
    }
}

/// Lets the faults of `profile` loose on `system`.
pub fn loose(system: &System, profile: Profile) {
    let sim = &system.sim;
    let both = |faults: RandomFaults, pattern: &str, probability: f64| {
        faults.with(pattern, Fault::FailBefore, probability).with(
            pattern,
            Fault::FailAfter,
            probability,
        )
    };
    if profile.has(Profile::Duplicates) {
        sim.inject_random(RandomFaults::new().with("broker.*.send", Fault::Duplicate, 0.1));
        sim.inject_random(RandomFaults::new().with("broker.*.publish", Fault::Duplicate, 0.1));
        let saga = DuplicateWhen::new(|message| message.message_type != "ReserveStock");
        system.monkeys.add(saga);
    }
    if profile.has(Profile::Stores) {
        let mut faults = RandomFaults::new();
        for store in [
            "sagas",
            "payments",
            "shipments",
            "kitchen",
            "marketing",
            "tokens",
            "shop",
        ] {
            faults = both(faults, &format!("kv.{store}.put"), 0.04);
            faults = faults.with(&format!("kv.{store}.get"), Fault::FailBefore, 0.02);
        }
        faults = both(faults, "kv.tokens.delete", 0.04);
        faults = both(faults, "kv.*.batch", 0.04);
        sim.inject_random(faults);
    }
    if profile.has(Profile::Broker) {
        let mut faults = RandomFaults::new();
        faults = both(faults, "broker.*.send", 0.04);
        faults = both(faults, "broker.*.publish", 0.04);
        faults = faults.with("broker.*.ack", Fault::FailAfter, 0.04);
        sim.inject_random(faults);
    }
    if profile.has(Profile::Http) {
        let mut faults = RandomFaults::new();
        faults = both(faults, "http.provider.post", 0.1);
        faults = both(faults, "http.shop.*", 0.05);
        sim.inject_random(faults);
    }
    if profile.has(Profile::Blobs) {
        let mut faults = RandomFaults::new();
        for operation in ["put", "get", "delete"] {
            faults = both(faults, &format!("blob.payloads.{operation}"), 0.04);
        }
        sim.inject_random(faults);
    }
}
