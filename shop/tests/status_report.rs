//! The status report: queue numbers, health checks that only read, and
//! alerts where the deck puts them (dead letters, a late oldest message;
//! never depth alone).

use std::time::Duration;

use harness::{
    BlobStore, Broker, DocumentStore, Envelope, EventKind, FaultRule, MessageId, Sim, SqlStore,
};
use shop::operations::{Alert, Component, StatusReport, Thresholds};

fn message(n: u128, message_type: &str) -> Envelope {
    Envelope::new(MessageId::from_u128(n), message_type, &n)
}

struct System {
    sim: Sim,
    broker: Broker,
    orders_db: SqlStore,
    carts: DocumentStore,
    labels: BlobStore,
}

/// Orders (SQL), the front (documents) and Shipping (blobs), with their queues.
fn system(seed: u64) -> System {
    let sim = Sim::new(seed);
    let broker = Broker::new(&sim);
    for queue in ["orders", "shop", "shipping"] {
        broker.declare_queue(queue);
    }
    System {
        orders_db: SqlStore::in_memory(&sim, "orders"),
        carts: DocumentStore::new(&sim, "carts"),
        labels: BlobStore::in_memory(&sim, "labels"),
        sim,
        broker,
    }
}

fn components(system: &System) -> Vec<Component> {
    vec![
        Component::new("front")
            .consuming("shop")
            .reading_documents(&system.carts),
        Component::new("orders")
            .consuming("orders")
            .reading_sql(&system.orders_db),
        Component::new("shipping")
            .consuming("shipping")
            .reading_blobs(&system.labels),
    ]
}

/// Orders dead-letters a poison message and is slow: one message has
/// waited 95 s; Shipping has one in flight; the front has drained.
fn a_bad_night(system: &System) {
    let broker = &system.broker;
    broker.send("orders", message(1, "AddItem")).unwrap();
    let poison = broker.receive("orders").unwrap().unwrap();
    broker
        .dead_letter(&poison, "no such filling: sauerkraut")
        .unwrap();
    broker.send("orders", message(2, "AddItem")).unwrap();
    broker.send("shipping", message(3, "ShipOrder")).unwrap();
    for n in 10..13 {
        broker.send("shop", message(n, "SendSubmitOrder")).unwrap();
        let delivery = broker.receive("shop").unwrap().unwrap();
        broker.ack(&delivery).unwrap();
    }
    system.sim.advance(Duration::from_secs(95));
    let _held = broker.receive("shipping").unwrap().unwrap();
}

#[test]
fn the_report_at_3_am() {
    let system = system(1);
    a_bad_night(&system);
    system
        .sim
        .inject(FaultRule::at("sql.orders.query").fail_before());
    let report = StatusReport::read(&system.broker, &components(&system), Thresholds::default());
    insta::assert_snapshot!(report.to_string());
}

#[test]
fn colour_changes_nothing_but_the_colour() {
    let system = system(2);
    a_bad_night(&system);
    let report = StatusReport::read(&system.broker, &components(&system), Thresholds::default());
    let styled = report.render(true);
    let plain = report.render(false);
    assert!(styled.contains("\u{1b}["), "{styled}");
    assert!(!plain.contains('\u{1b}'), "{plain}");
    assert_eq!(anstream::adapter::strip_str(&styled).to_string(), plain);
}

#[test]
fn alerts_are_on_dead_letters_and_late_messages_never_on_depth() {
    let system = system(3);
    let broker = &system.broker;
    // A deep queue of fresh messages: no alert.
    for n in 0..100 {
        broker.send("orders", message(n, "AddItem")).unwrap();
    }
    let threshold = Thresholds::oldest_ready_age(Duration::from_secs(60));
    let read = || StatusReport::read(broker, &[], threshold);
    assert_eq!(read().alerts, []);
    // Exactly at the threshold: still fine; one millisecond more: late.
    system.sim.advance(Duration::from_secs(60));
    assert_eq!(read().alerts, []);
    system.sim.advance(Duration::from_millis(1));
    assert_eq!(
        read().alerts,
        [Alert::Late {
            queue: "orders".into(),
            age: Duration::from_millis(60_001),
            threshold: Duration::from_secs(60),
        }]
    );
    // Drained, but two dead letters on shipping: an alert naming the oldest.
    while let Some(delivery) = broker.receive("orders").unwrap() {
        broker.ack(&delivery).unwrap();
    }
    for n in [200, 201] {
        broker.send("shipping", message(n, "ShipOrder")).unwrap();
        let delivery = broker.receive("shipping").unwrap().unwrap();
        broker
            .dead_letter(&delivery, &format!("label {n} too large"))
            .unwrap();
    }
    let label = system.sim.label(MessageId::from_u128(200));
    assert_eq!(
        read().alerts,
        [Alert::DeadLetters {
            queue: "shipping".into(),
            count: 2,
            oldest: format!("ShipOrder({label}): label 200 too large"),
        }]
    );
    // Replayed and delivered: the alert goes away.
    for n in [200, 201] {
        broker
            .replay_dead_letter("shipping", MessageId::from_u128(n))
            .unwrap();
        let delivery = broker.receive("shipping").unwrap().unwrap();
        broker.ack(&delivery).unwrap();
    }
    assert_eq!(read().alerts, []);
}

#[test]
fn readiness_only_reads_and_sends_nothing() {
    let system = system(4);
    a_bad_night(&system);
    let before = system.sim.trace().events().len();
    let held_before: Vec<_> = ["orders", "shop", "shipping"]
        .iter()
        .map(|queue| system.broker.held(queue).unwrap())
        .collect();
    let report = StatusReport::read(&system.broker, &components(&system), Thresholds::default());
    assert!(report.health.iter().all(|health| health.ready.is_ok()));
    let trace = system.sim.trace();
    let during: Vec<&EventKind> = trace
        .events()
        .iter()
        .skip(before)
        .map(|e| &e.kind)
        .collect();
    for kind in &during {
        let read_only = match kind {
            EventKind::Read { .. } => true,
            EventKind::Statement { sql, .. } => sql.trim_start().starts_with("select"),
            EventKind::Blob { action, .. } => action == "found no" || action == "read",
            _ => false,
        };
        assert!(read_only, "a health check did more than read: {kind:?}");
    }
    assert_eq!(during.len(), 3, "one read per store: {during:?}");
    let held_after: Vec<_> = ["orders", "shop", "shipping"]
        .iter()
        .map(|queue| system.broker.held(queue).unwrap())
        .collect();
    assert_eq!(held_before, held_after, "a health check took or made work");
    assert!(system.carts.is_empty() && system.labels.is_empty());
}

#[test]
fn a_store_that_fails_a_read_makes_its_component_not_ready_and_only_it() {
    for (point, fault) in [
        ("kv.carts.get", FaultRule::at("kv.carts.get").fail_before()),
        ("kv.carts.get", FaultRule::at("kv.carts.get").fail_after()),
        (
            "blob.labels.get",
            FaultRule::at("blob.labels.get").fail_before(),
        ),
        (
            "sql.orders.query",
            FaultRule::at("sql.orders.query").fail_before(),
        ),
    ] {
        let system = system(5);
        system.sim.inject(fault);
        let components = components(&system);
        let report = StatusReport::read(&system.broker, &components, Thresholds::default());
        let not_ready: Vec<(&str, &str)> = report
            .health
            .iter()
            .filter_map(|health| {
                let why = health.ready.as_ref().err()?;
                Some((health.component.as_str(), why.as_str()))
            })
            .collect();
        assert_eq!(not_ready.len(), 1, "{point}: {not_ready:?}");
        assert!(not_ready[0].1.contains(point), "{point}: {not_ready:?}");
        assert!(report.health.iter().all(|health| health.live));
        // The fault struck once: the next check finds the store back.
        let again = StatusReport::read(&system.broker, &components, Thresholds::default());
        assert!(
            again.health.iter().all(|health| health.ready.is_ok()),
            "{point}"
        );
    }
}

#[test]
fn lag_is_the_age_of_the_oldest_ready_message_of_the_component_s_queue() {
    let system = system(6);
    a_bad_night(&system);
    let report = StatusReport::read(&system.broker, &components(&system), Thresholds::default());
    let lags: Vec<(&str, Option<Duration>)> = report
        .health
        .iter()
        .map(|health| (health.component.as_str(), health.lag))
        .collect();
    assert_eq!(
        lags,
        [
            ("front", None),
            ("orders", Some(Duration::from_secs(95))),
            // Its only message is in flight: nothing ready, no lag.
            ("shipping", None),
        ]
    );
    // A component whose queue does not exist is not ready, and says so.
    let ghost = Component::new("billing").consuming("billing");
    let health = ghost.check(&system.broker);
    assert_eq!(
        health.ready,
        Err("its queue: unknown queue `billing` (known: orders, shipping, shop)".to_string())
    );
}
