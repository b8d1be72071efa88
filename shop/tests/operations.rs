//! The operator's view: the conversation tracker follows conversation and
//! causation ids across queues, and says complete / parked / in progress
//! from what the broker holds, under duplicates, delays, lost leases,
//! dead letters and their replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::{
    Broker, CopyState, Envelope, FaultRule, HandlerContext, HandlerError, MessageId, Sim, World,
    headers,
};
use shop::operations::{Conversations, Progress, run_until_settled};

/// Orders takes `AddItem` and publishes `ItemAdded` to Billing and
/// Marketing; Billing sends `SendInvoice` to the mailer. "sauerkraut" is a
/// poison message (dead-lettered at once) until the fix's flag is set; "flaky" fails once, then works.
fn shop_world(sim: &Sim) -> (Broker, World) {
    shop_world_with_fix(sim, Arc::new(AtomicBool::new(false)))
}

fn shop_world_with_fix(sim: &Sim, fixed: Arc<AtomicBool>) -> (Broker, World) {
    let broker = Broker::new(sim);
    let mut world = World::new(sim, &broker);
    world.add_endpoint(
        "orders",
        move |ctx: &mut HandlerContext, message: &Envelope| {
            if message.body == "sauerkraut" && !fixed.load(Ordering::SeqCst) {
                return Err(HandlerError::unrecoverable("no such filling: sauerkraut"));
            }
            if message.body == "flaky" && ctx.attempt() == 1 {
                return Err(HandlerError::transient("database down"));
            }
            let added = Envelope::new(ctx.new_message_id(), "ItemAdded", &message.body)
                .with_header(headers::CORRELATION_ID, "o-1");
            ctx.publish("ItemAdded", added)?;
            Ok(())
        },
    );
    world.add_endpoint("billing", |ctx: &mut HandlerContext, message: &Envelope| {
        let invoice = Envelope::new(ctx.new_message_id(), "SendInvoice", &message.body);
        ctx.send("mailer", invoice)?;
        Ok(())
    });
    world.add_endpoint("marketing", |_ctx: &mut HandlerContext, _m: &Envelope| {
        Ok(())
    });
    world.add_endpoint("mailer", |_ctx: &mut HandlerContext, _m: &Envelope| Ok(()));
    world.subscribe("ItemAdded", "billing").unwrap();
    world.subscribe("ItemAdded", "marketing").unwrap();
    (broker, world)
}

fn add_item(sim: &Sim, filling: &str) -> Envelope {
    Envelope::new(sim.new_message_id(), "AddItem", &filling)
}

fn types(conversations: &Conversations, index: usize) -> Vec<String> {
    conversations.all()[index]
        .messages
        .iter()
        .map(|message| message.name())
        .collect()
}

#[test]
fn a_conversation_follows_its_causes_across_three_queues_and_two_subscribers() {
    let sim = Sim::new(1);
    let (broker, mut world) = shop_world(&sim);
    let add = add_item(&sim, "meat");
    world.send("orders", add.clone()).unwrap();
    let conversations = run_until_settled(&mut world, 100);

    assert!(conversations.all_complete(), "{conversations}");
    assert_eq!(conversations.all().len(), 1);
    assert_eq!(
        types(&conversations, 0),
        ["AddItem(m1)", "ItemAdded(m2)", "SendInvoice(m3)"]
    );
    let conversation = &conversations.all()[0];
    assert_eq!(conversation.id, add.id.to_string());
    assert_eq!(conversation.root().unwrap().id, add.id);
    let added = conversation.caused_by(add.id);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].landed_in, ["billing", "marketing"]);
    assert_eq!(added[0].sender.as_deref(), Some("orders"));
    let invoice = conversation.caused_by(added[0].id);
    assert_eq!(invoice[0].message_type, "SendInvoice");
    assert_eq!(invoice[0].destination.as_deref(), Some("mailer"));
    assert_eq!(conversation.correlation_ids(), ["o-1"]);
    assert_eq!(conversation.name(), "AddItem(m1), about o-1");
    assert_eq!(broker.queue_status("mailer").unwrap().delivered, 1);
}

#[test]
fn one_subscriber_s_copy_left_keeps_the_conversation_in_progress_and_says_where() {
    let sim = Sim::new(1);
    let (broker, mut world) = shop_world(&sim);
    world.send("orders", add_item(&sim, "meat")).unwrap();
    // Orders publishes; Billing's copy is taken and held by hand (a worker
    // that has not answered yet); Marketing's waits.
    assert!(world.step());
    let held = broker.receive("billing").unwrap().unwrap();
    let conversations = Conversations::read(&broker);
    assert!(!conversations.all_complete_or_parked());
    let conversation = &conversations.all()[0];
    assert_eq!(conversation.progress(), Progress::InProgress);
    let waiting: Vec<(String, String, CopyState)> = conversation
        .waiting()
        .into_iter()
        .map(|(message, copy)| (message.name(), copy.queue.clone(), copy.state))
        .collect();
    assert_eq!(
        waiting,
        [
            (
                "ItemAdded(m2)".to_string(),
                "billing".to_string(),
                CopyState::InFlight {
                    until: harness::SimTime::ZERO + harness::DEFAULT_VISIBILITY_TIMEOUT
                }
            ),
            (
                "ItemAdded(m2)".to_string(),
                "marketing".to_string(),
                CopyState::Ready
            ),
        ]
    );
    // Marketing done, Billing's copy still leased: still in progress.
    broker
        .ack(&broker.receive("marketing").unwrap().unwrap())
        .unwrap();
    assert_eq!(
        Conversations::read(&broker).all()[0].progress(),
        Progress::InProgress
    );
    broker.ack(&held).unwrap();
    // Billing was handled by hand, so it sent no invoice: complete.
    assert!(Conversations::read(&broker).all_complete());
}

#[test]
fn a_poison_message_parks_its_conversation_and_a_replay_completes_it() {
    let sim = Sim::new(2);
    let fixed = Arc::new(AtomicBool::new(false));
    let (broker, mut world) = shop_world_with_fix(&sim, fixed.clone());
    let poison = add_item(&sim, "sauerkraut");
    world.send("orders", add_item(&sim, "meat")).unwrap();
    world.send("orders", poison.clone()).unwrap();
    let conversations = run_until_settled(&mut world, 100);

    assert!(conversations.all_complete_or_parked(), "{conversations}");
    assert!(!conversations.all_complete());
    assert_eq!(conversations.count(Progress::Complete), 1);
    let parked = conversations.get(&poison.id.to_string()).unwrap();
    assert_eq!(parked.progress(), Progress::Parked);
    let [(message, copy)] = parked.parked()[..] else {
        panic!("one dead letter: {parked}")
    };
    assert_eq!(message.id, poison.id);
    assert_eq!(copy.queue, "orders");
    assert_eq!(copy.reason, "no such filling: sauerkraut");
    assert_eq!(
        conversations.to_string(),
        "2 conversations: 1 complete, 1 parked, 0 in progress\n  conversation AddItem(m2): \
         parked; AddItem(m2) dead-lettered on orders after 1 delivery: no such filling: sauerkraut"
    );

    // The fix: the replayed message is no longer poison for a new Orders.
    fixed.store(true, Ordering::SeqCst);
    broker.replay_dead_letter("orders", poison.id).unwrap();
    assert_eq!(
        Conversations::read(&broker)
            .of_message(poison.id)
            .unwrap()
            .progress(),
        Progress::InProgress
    );
    let conversations = run_until_settled(&mut world, 100);
    assert!(conversations.all_complete(), "{conversations}");
    assert_eq!(conversations.all().len(), 2);
    // The replay carried on the conversation: its event and invoice are in it.
    let replayed = conversations.of_message(poison.id).unwrap();
    let names: Vec<String> = replayed.messages.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["AddItem(m2)", "ItemAdded(m5)", "SendInvoice(m6)"]);
}

#[test]
fn a_retried_message_waits_ready_between_its_attempts() {
    let sim = Sim::new(3);
    let (broker, mut world) = shop_world(&sim);
    world.send("orders", add_item(&sim, "flaky")).unwrap();
    assert!(world.step());
    let conversations = Conversations::read(&broker);
    let [(message, copy)] = conversations.all()[0].waiting()[..] else {
        panic!("one copy waits: {conversations}")
    };
    assert_eq!(message.message_type, "AddItem");
    assert_eq!((copy.state, copy.attempts), (CopyState::Ready, 1));
    assert_eq!(
        conversations.all()[0].to_string(),
        "conversation AddItem(m1): in progress; AddItem(m1) ready on orders after 1 delivery"
    );
    let conversations = run_until_settled(&mut world, 100);
    assert!(conversations.all_complete(), "{conversations}");
    assert_eq!(broker.queue_status("orders").unwrap().retried, 1);
}

#[test]
fn a_duplicate_copy_keeps_the_conversation_open_until_it_too_is_handled() {
    let sim = Sim::new(4);
    let (broker, mut world) = shop_world(&sim);
    sim.inject(FaultRule::at("broker.mailer.send").duplicate());
    world.send("orders", add_item(&sim, "meat")).unwrap();
    let mut saw_one_copy_left = false;
    while world.step() {
        let invoices = broker.queue_status("mailer").unwrap();
        let left = invoices.ready + invoices.in_flight;
        if invoices.delivered == 1 && left == 1 {
            saw_one_copy_left = true;
            let conversations = Conversations::read(&broker);
            assert_eq!(
                conversations.all()[0].progress(),
                Progress::InProgress,
                "{conversations}"
            );
        }
    }
    assert!(saw_one_copy_left, "the run never had one copy left");
    let conversations = Conversations::read(&broker);
    assert!(conversations.all_complete(), "{conversations}");
    let invoice = &conversations.all()[0].messages[2];
    assert_eq!(invoice.landed_in, ["mailer", "mailer"]);
}

#[test]
fn a_delayed_message_is_in_progress_and_settling_waits_for_it_on_the_simulated_clock() {
    let sim = Sim::new(5);
    let (broker, mut world) = shop_world(&sim);
    sim.inject(FaultRule::at("broker.mailer.send").delay(Duration::from_secs(90)));
    world.send("orders", add_item(&sim, "meat")).unwrap();
    for _ in 0..3 {
        world.step();
    }
    let conversations = Conversations::read(&broker);
    let waiting = conversations.all()[0].waiting();
    assert!(
        waiting
            .iter()
            .any(|(message, copy)| message.message_type == "SendInvoice"
                && matches!(copy.state, CopyState::Delayed { .. })),
        "{conversations}"
    );
    let conversations = run_until_settled(&mut world, 100);
    assert!(conversations.all_complete(), "{conversations}");
    assert!(sim.now().as_millis() >= 90_000);
}

#[test]
fn messages_without_a_conversation_id_follow_their_cause_then_their_correlation_id() {
    let sim = Sim::new(6);
    let broker = Broker::new(&sim);
    broker.declare_queue("orders");
    broker.declare_queue("billing");
    let first = Envelope::new(MessageId::from_u128(1), "SubmitOrder", &())
        .with_header(headers::CONVERSATION_ID, "c-1");
    // Sent by a poller, not a handler: a cause but no conversation id.
    let caused = Envelope::new(MessageId::from_u128(2), "ChargeCard", &())
        .with_header(headers::CAUSATION_ID, first.id.to_string());
    // Two about order o-9, with neither conversation nor known cause.
    let late_a = Envelope::new(MessageId::from_u128(3), "Ship", &())
        .with_header(headers::CORRELATION_ID, "o-9");
    let late_b = Envelope::new(MessageId::from_u128(4), "Ship", &())
        .with_header(headers::CORRELATION_ID, "o-9")
        .with_header(headers::CAUSATION_ID, MessageId::from_u128(99).to_string());
    let alone = Envelope::new(MessageId::from_u128(5), "Ping", &());
    for envelope in [&first, &caused, &late_a, &late_b, &alone] {
        broker.send("orders", envelope.clone()).unwrap();
    }
    let conversations = Conversations::read(&broker);
    let ids: Vec<(&str, usize)> = conversations
        .all()
        .iter()
        .map(|c| (c.id.as_str(), c.messages.len()))
        .collect();
    assert_eq!(
        ids,
        [
            ("c-1", 2),
            ("o-9", 2),
            ("00000000-0000-0000-0000-000000000005", 1)
        ]
    );
    assert_eq!(
        conversations.get("c-1").unwrap().caused_by(first.id)[0].id,
        caused.id
    );
    // A cause outside the conversation: the message is a root of its own.
    assert_eq!(
        conversations.get("o-9").unwrap().root().unwrap().id,
        late_a.id
    );
    assert_eq!(conversations.count(Progress::InProgress), 3);
}

#[test]
fn the_tracker_still_sees_waiting_messages_the_history_forgot() {
    let sim = Sim::new(7);
    let (broker, mut world) = shop_world(&sim);
    broker.set_history_limit(1);
    let stuck = Envelope::new(sim.new_message_id(), "Refund", &());
    broker.declare_queue("refunds"); // nobody reads it
    world.send("refunds", stuck.clone()).unwrap();
    world.send("orders", add_item(&sim, "meat")).unwrap();
    let conversations = run_until_settled(&mut world, 100);
    assert!(!conversations.all_complete_or_parked(), "{conversations}");
    let waiting = conversations.of_message(stuck.id).unwrap();
    assert_eq!(waiting.progress(), Progress::InProgress);
    assert_eq!(waiting.waiting()[0].1.queue, "refunds");
    // The sent log kept only the last send; the rest are complete and forgotten.
    assert_eq!(broker.sent_log().len(), 1);
    assert_eq!(conversations.count(Progress::InProgress), 1);
}

#[test]
fn the_causation_trees_of_two_conversations_one_parked_then_replayed() {
    let sim = Sim::new(8);
    let fixed = Arc::new(AtomicBool::new(false));
    let (broker, mut world) = shop_world_with_fix(&sim, fixed.clone());
    sim.inject(FaultRule::at("broker.billing.ack").fail_before());
    let flaky = add_item(&sim, "flaky");
    let poison = add_item(&sim, "sauerkraut");
    world.send("orders", flaky.clone()).unwrap();
    world.send("orders", poison.clone()).unwrap();
    let parked = run_until_settled(&mut world, 100);
    // At 3 a.m.: the operator fixes the filling list and replays.
    sim.advance(Duration::from_secs(3 * 60));
    fixed.store(true, Ordering::SeqCst);
    broker.replay_dead_letter("orders", poison.id).unwrap();
    let settled = run_until_settled(&mut world, 100);

    let trace = sim.trace();
    let mut report = format!("before the replay: {parked}\n\nafter the replay: {settled}\n");
    for conversation in settled.all() {
        report.push_str(&format!("\n{}\n", conversation.tree(&trace)));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn every_request_of_the_pierogi_town_is_one_complete_conversation() {
    let sim = Sim::new(9);
    let mut town = shop::town::Town::open(&sim, shop::orders::documents::Orders::new(&sim));
    let ola = town.place_order("c-1", "Ola", &["ruskie"]).unwrap();
    let kuba = town.place_order("c-2", "Kuba", &["ruskie"]).unwrap();
    town.add_item("Ola", &ola, "meat").unwrap();
    town.add_item("Kuba", &kuba, "sauerkraut").unwrap();
    town.book_payment(&ola, 40).unwrap();
    town.deliver().unwrap();

    let conversations = Conversations::read(&town.broker);
    assert!(conversations.all_complete(), "{conversations}");
    // One conversation per request from outside (a customer, the payment
    // service), and each of its messages leads back to that request.
    let requests: Vec<MessageId> = town
        .broker
        .sent_log()
        .iter()
        .filter(|sent| sent.handling.is_none())
        .map(|sent| sent.envelope.id)
        .collect();
    let roots: Vec<MessageId> = conversations
        .all()
        .iter()
        .map(|conversation| conversation.root().unwrap().id)
        .collect();
    assert_eq!(roots, requests);
    for conversation in conversations.all() {
        let root = conversation.root().unwrap();
        for message in &conversation.messages {
            let mut cause = message.id;
            while let Some(parent) = conversation.message(cause).and_then(|m| m.cause) {
                cause = parent;
            }
            assert_eq!(
                cause,
                root.id,
                "{} strays from {}",
                message.name(),
                root.name()
            );
        }
    }
    // The adds caused more than themselves: Billing and Marketing heard of them.
    let add = conversations
        .all()
        .iter()
        .find(|conversation| conversation.root().unwrap().message_type == "AddItem")
        .unwrap();
    assert!(add.messages.len() > 1, "{add}");
    let tree = add.tree(&sim.trace());
    assert!(tree.contains("ItemAdded("), "{tree}");
}
