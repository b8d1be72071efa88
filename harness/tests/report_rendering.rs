//! How a failure reads and how its run is drawn, on a small pierogi-shop run
//! with a few sends, a fault, a redelivery and a conflict. The broker's events
//! are recorded directly (as the broker will record them); the store's come
//! from the real `DocumentStore`.

use harness::{
    Condition, DocumentStore, Envelope, EventKind, Failure, FaultRule, MessageId, MessageRef, Sim,
};

/// The user submits cart c-1; the orders endpoint creates the order, but the
/// store's acknowledgement is lost (fail after); the message is redelivered
/// and the create-only write conflicts; meanwhile billing hears of the item.
fn pierogi_run() -> Sim {
    let sim = Sim::new(42);
    let orders = DocumentStore::new(&sim, "orders");
    sim.inject(FaultRule::at("kv.orders.put").nth(1).fail_after());
    let submit = message(&sim, 1, "SubmitOrder");
    let item = message(&sim, 2, "ItemAdded");

    sim.set_actor("alice");
    sim.note("clicks Submit on cart c-1 <3 pierogi & a drink>");
    sim.record(EventKind::Sent {
        queue: "orders".into(),
        message: submit.clone(),
    });

    sim.set_actor("orders");
    deliver(&sim, "orders", &submit, 1);
    let _ = orders.get::<String>("c-1", "order");
    assert!(
        orders
            .put("c-1", "order", &"3 pierogi", Condition::CreateOnly)
            .is_err()
    );
    sim.record(EventKind::Published {
        topic: "items".into(),
        message: item.clone(),
        subscribers: vec!["billing".into()],
    });
    sim.record(EventKind::HandlerFailed {
        endpoint: "orders".into(),
        message: submit.clone(),
        error: "the store said the write failed".into(),
    });
    sim.record(EventKind::Abandoned {
        queue: "orders".into(),
        message: submit.clone(),
        reason: "handler failed".into(),
    });

    sim.set_actor("billing");
    deliver(&sim, "billing", &item, 1);
    sim.record(EventKind::Acked {
        queue: "billing".into(),
        message: item.clone(),
    });

    sim.set_actor("orders");
    deliver(&sim, "orders", &submit, 2);
    let conflict = orders.put("c-1", "order", &"3 pierogi", Condition::CreateOnly);
    assert!(conflict.unwrap_err().is_conflict());
    sim.record(EventKind::Published {
        topic: "items".into(),
        message: item,
        subscribers: vec!["billing".into()],
    });
    sim
}

fn message(sim: &Sim, id: u128, message_type: &str) -> MessageRef {
    sim.message_ref(&Envelope::new(MessageId::from_u128(id), message_type, &()))
}

fn deliver(sim: &Sim, queue: &str, message: &MessageRef, attempt: u32) {
    sim.record(EventKind::Delivered {
        queue: queue.into(),
        message: message.clone(),
        attempt,
    });
    sim.record(EventKind::HandlerStarted {
        endpoint: sim.actor(),
        message: message.clone(),
    });
}

fn pierogi_failure() -> Failure {
    let sim = pierogi_run();
    Failure::new(
        &sim,
        "ItemAdded(m2) was published twice: billing will charge for the pierogi twice",
    )
    .detail(
        "the redelivered SubmitOrder(m1) published again after the create-only write conflicted",
    )
    .highlight_message("m2")
    .test_name("tests::pierogi")
}

#[test]
fn the_report_tells_the_run_in_the_course_words() {
    insta::assert_snapshot!("narration", pierogi_failure().render());
}

#[test]
fn the_mermaid_diagram_has_one_row_per_step() {
    insta::assert_snapshot!("mermaid", pierogi_failure().mermaid());
}

#[test]
fn the_svg_diagram_is_drawn_without_any_library() {
    insta::assert_snapshot!("svg", pierogi_failure().svg());
}

#[test]
fn the_html_page_stands_alone() {
    let page = pierogi_failure().html();
    assert!(
        !page.contains("<script"),
        "no scripts: the venue is offline"
    );
    assert!(!page.contains("http://") || !page.contains("src=\"http"));
    insta::assert_snapshot!("html", page);
}

#[test]
fn a_long_run_is_trimmed_to_its_ends_and_its_marked_steps() {
    let sim = Sim::new(7);
    let store = DocumentStore::new(&sim, "inbox");
    sim.inject(FaultRule::at("kv.inbox.put").nth(100).fail_before());
    for i in 0..200 {
        let _ = store.put("p", &format!("k{i}"), &i, Condition::Always);
    }
    let failure =
        Failure::new(&sim, "message 100 never reached the inbox").test_name("tests::long");
    insta::assert_snapshot!("long_narration", failure.render());
}

#[test]
fn an_explorer_schedule_is_part_of_the_replay() {
    let sim = Sim::scripted(5, vec![1, 0, 2]);
    sim.choose("which copy first", 2);
    sim.choose("crash here", 2);
    sim.choose("which worker", 3);
    sim.choose("anything else", 2);
    let report = Failure::new(&sim, "m1 applied twice")
        .test_name("tests::explored")
        .render();
    // The schedule, and the run's fingerprint: 4 choices, and its history at the last.
    assert!(
        report.contains("Replay:  HARNESS_SEED=5 HARNESS_SCRIPT=1,0,2 HARNESS_RUN=4:"),
        "{report}"
    );
    assert!(
        report.contains(" cargo test -p harness -- --exact tests::explored"),
        "{report}"
    );
    assert!(
        report.contains("Sim::scripted(5, vec![1, 0, 2])"),
        "{report}"
    );
}

#[test]
fn the_replay_command_names_this_test() {
    let report = Failure::new(&Sim::new(3), "lost").render();
    assert!(
        report.contains(
            "HARNESS_SEED=3 cargo test -p harness -- --exact the_replay_command_names_this_test"
        ),
        "{report}"
    );
}

#[test]
fn a_failing_check_panics_with_the_report_and_writes_the_diagrams() {
    let sim = pierogi_run();
    let outcome = std::panic::catch_unwind(|| {
        harness::ensure(false, &sim, || "two orders exist for cart c-1");
    });
    let payload = outcome.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    assert!(
        message.starts_with("two orders exist for cart c-1\n"),
        "{message}"
    );
    assert!(message.contains("What happened (17 steps):"), "{message}");
    let html = message
        .lines()
        .find_map(|line| line.strip_prefix("Diagram: file://"))
        .and_then(|rest| rest.strip_suffix(" (open it in a browser)"))
        .expect("the report names the diagram");
    assert!(html.ends_with(
        "harness-traces/harness/a_failing_check_panics_with_the_report_and_writes_the_diagrams.html"
    ));
    let page = std::fs::read_to_string(html).expect("the page was written");
    assert!(page.contains("two orders exist for cart c-1"));
    let mermaid = message
        .lines()
        .find_map(|line| line.strip_prefix("Mermaid: "))
        .expect("the report names the Mermaid file");
    assert!(
        std::fs::read_to_string(mermaid)
            .unwrap()
            .starts_with("sequenceDiagram")
    );
}

#[test]
fn ensure_eq_shows_both_values() {
    let sim = Sim::new(1);
    let outcome = std::panic::catch_unwind(|| {
        harness::ensure_eq(6, 3, &sim, || "the order counts its pierogi twice");
    });
    let payload = outcome.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("\n    expected: 3\n    actual:   6\n"),
        "{message}"
    );
}

#[test]
fn user_data_is_escaped_in_every_format() {
    let sim = Sim::new(1);
    sim.set_actor("eve; <b>#1</b> -->> x: y");
    sim.note("end\n%% not a comment; #35; \"quoted\" <script>alert('x')</script> & more");
    let store = DocumentStore::new(&sim, "a:b,c-d");
    store
        .put("p<1>", "k&\"2\"", &"value", Condition::Always)
        .unwrap();
    let failure = Failure::new(&sim, "<img src=x onerror=alert(1)>").test_name("tests::escaping");
    insta::assert_snapshot!("escaping_mermaid", failure.mermaid());
    let drawing = failure.svg();
    assert!(!drawing.contains("<script>"), "{drawing}");
    assert!(
        drawing.contains("eve; &lt;b&gt;#1&lt;/b&gt; --&gt;&gt; x: y"),
        "{drawing}"
    );
    let page = failure.html();
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
}
