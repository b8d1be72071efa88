//! Every kind of trace event, as the trace, the numbered steps and the
//! diagrams show it: one run that records each kind at least once (and the
//! repeating ones again), so that a change in how any kind reads shows here.

use harness::{EventKind, MessageId, MessageRef, Sim};

fn message(sim: &Sim, id: u128, message_type: &str) -> MessageRef {
    sim.message_ref(&harness::Envelope::new(
        MessageId::from_u128(id),
        message_type,
        &(),
    ))
}

fn every_kind() -> Sim {
    let sim = Sim::new(13);
    let submit = message(&sim, 1, "SubmitOrder");
    let placed = message(&sim, 2, "OrderPlaced");
    let queue = || "orders".to_string();
    sim.set_actor("test");
    for _ in 0..2 {
        sim.record(EventKind::Sent {
            queue: queue(),
            message: submit.clone(),
        });
    }
    sim.set_actor("orders");
    for attempt in [1, 1, 2] {
        sim.record(EventKind::Delivered {
            queue: queue(),
            message: submit.clone(),
            attempt,
        });
        sim.record(EventKind::HandlerStarted {
            endpoint: queue(),
            message: submit.clone(),
        });
    }
    sim.record(EventKind::Read {
        store: "orders".into(),
        key: "o-1".into(),
        version: None,
    });
    sim.record(EventKind::Read {
        store: "orders".into(),
        key: "o-1".into(),
        version: Some(3),
    });
    sim.record(EventKind::FaultInjected {
        point: "kv.orders.put".into(),
        fault: "fail after".into(),
    });
    sim.record(EventKind::Wrote {
        store: "orders".into(),
        key: "o-1".into(),
        version: Some(4),
    });
    sim.record(EventKind::Wrote {
        store: "orders".into(),
        key: "o-2".into(),
        version: None,
    });
    sim.record(EventKind::Conflict {
        store: "orders".into(),
        key: "o-1".into(),
        expected: "v3".into(),
        actual: "v4".into(),
    });
    sim.record(EventKind::Statement {
        store: "db".into(),
        sql: "INSERT INTO orders VALUES (?1)".into(),
    });
    sim.record(EventKind::Committed { store: "db".into() });
    sim.record(EventKind::RolledBack { store: "db".into() });
    sim.record(EventKind::Blob {
        store: "labels".into(),
        path: "o-1.pdf".into(),
        action: "stored".into(),
    });
    for method in ["GET", "GET", "POST", "POST"] {
        sim.record(EventKind::Request {
            service: "payments".into(),
            method: method.into(),
            path: "/charges".into(),
        });
    }
    sim.record(EventKind::Response {
        service: "payments".into(),
        status: 201,
    });
    sim.record(EventKind::ResponseLost {
        service: "payments".into(),
        method: "POST".into(),
        path: "/charges".into(),
    });
    for subscribers in [vec!["billing".to_string()], Vec::new()] {
        sim.record(EventKind::Published {
            topic: "OrderPlaced".into(),
            message: placed.clone(),
            subscribers,
        });
    }
    sim.record(EventKind::HandlerSucceeded {
        endpoint: queue(),
        message: submit.clone(),
    });
    sim.record(EventKind::HandlerFailed {
        endpoint: queue(),
        message: submit.clone(),
        error: "database down".into(),
    });
    sim.set_actor("test");
    sim.record(EventKind::HandlerStarted {
        endpoint: queue(),
        message: placed.clone(),
    });
    sim.record(EventKind::Acked {
        queue: queue(),
        message: submit.clone(),
    });
    sim.record(EventKind::Abandoned {
        queue: queue(),
        message: submit.clone(),
        reason: "handler failed".into(),
    });
    sim.record(EventKind::LeaseExpired {
        queue: queue(),
        message: submit.clone(),
    });
    sim.record(EventKind::DeadLettered {
        queue: queue(),
        message: submit.clone(),
        reason: "too many attempts".into(),
    });
    sim.record(EventKind::Replayed {
        queue: queue(),
        message: submit.clone(),
    });
    sim.record(EventKind::Rejected {
        queue: queue(),
        message: placed,
        reason: "too large".into(),
    });
    sim.note("every kind recorded");
    sim
}

#[test]
fn every_event_kind_in_the_trace() {
    insta::assert_snapshot!(every_kind().trace().to_string());
}

#[test]
fn every_event_kind_in_the_steps() {
    insta::assert_snapshot!(harness::report::narrate(&every_kind().trace()));
}

#[test]
fn every_event_kind_in_the_mermaid_diagram() {
    insta::assert_snapshot!(harness::report::mermaid(&every_kind().trace()));
}

#[test]
fn every_event_kind_in_the_svg_diagram() {
    insta::assert_snapshot!(harness::report::svg(&every_kind().trace()));
}

#[test]
fn a_report_highlights_every_step_about_a_message() {
    let sim = every_kind();
    let report = harness::Failure::new(&sim, "m2 went wrong").highlight_message("m2");
    insta::assert_snapshot!(report.narration());
}
