//! A handler told "not now, retry in 2 s" (a `429 Too Many Requests` with
//! `Retry-After`) answers `HandlerError::retry_after`: the world gives the
//! message back invisible until the simulated clock has passed the delay,
//! other messages go on meanwhile, and the trace and the failure story say
//! why it waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{Broker, Envelope, EventKind, HandlerContext, HandlerError, Sim, SimTime, World};

const WAIT: Duration = Duration::from_secs(2);

fn world(seed: u64) -> (Sim, Broker, World) {
    let sim = Sim::new(seed);
    let broker = Broker::new(&sim);
    let world = World::new(&sim, &broker);
    (sim, broker, world)
}

/// When each delivery of each message type started, in order.
fn starts(sim: &Sim) -> Vec<(String, SimTime)> {
    sim.trace()
        .events()
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::HandlerStarted { message, .. } => {
                Some((message.message_type.clone(), event.at))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_retry_comes_no_sooner_than_the_delay_and_others_go_on_meanwhile() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("payments", |ctx: &mut HandlerContext, m: &Envelope| {
        if m.message_type == "BookPayment" && ctx.attempt() == 1 {
            return Err(HandlerError::retry_after(WAIT, "the provider said 429"));
        }
        Ok(())
    });
    let first = Envelope::new(sim.new_message_id(), "BookPayment", &());
    let second = Envelope::new(sim.new_message_id(), "RefundPayment", &());
    world.send("payments", first.clone()).unwrap();
    world.send("payments", second.clone()).unwrap();
    world.run_until_quiet(100).unwrap();

    let starts = starts(&sim);
    let kinds: Vec<&str> = starts.iter().map(|(kind, _)| kind.as_str()).collect();
    // The waiting payment does not block the queue: the refund goes first.
    assert_eq!(kinds, ["BookPayment", "RefundPayment", "BookPayment"]);
    let waited = starts[2].1.since(starts[0].1);
    assert!(waited >= WAIT, "retried after {waited:?}, before {WAIT:?}");
    // Both were handled once they could be: acknowledged, nothing dead.
    let acked: Vec<_> = broker.finished_log().iter().map(|f| f.acked).collect();
    assert_eq!(acked, [true, true]);
    assert!(broker.dead_letters("payments").unwrap().is_empty());

    let trace = sim.trace().to_string();
    assert!(
        trace.contains("retry after 2 s: the provider said 429; it is back at t=2.000s"),
        "{trace}"
    );
    let story = harness::report::narrate(&sim.trace());
    assert!(
        story.contains("retry after 2 s: the provider said 429"),
        "{story}"
    );
}

#[test]
fn a_refusal_that_never_ends_is_dead_lettered_with_its_reason() {
    let (sim, broker, mut world) = world(1);
    world.add_endpoint("payments", |_ctx: &mut HandlerContext, _m: &Envelope| {
        Err(HandlerError::retry_after(WAIT, "the provider said 429"))
    });
    broker.set_max_attempts("payments", 3).unwrap();
    let payment = Envelope::new(sim.new_message_id(), "BookPayment", &());
    world.send("payments", payment).unwrap();
    world.run_until_quiet(100).unwrap();

    let dead = broker.dead_letters("payments").unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0]
            .reason
            .contains("retry after 2 s: the provider said 429"),
        "{}",
        dead[0].reason
    );
    // Three attempts, each after the wait the one before was told.
    let times: Vec<SimTime> = starts(&sim).into_iter().map(|(_, at)| at).collect();
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        assert!(pair[1].since(pair[0]) >= WAIT, "{times:?}");
    }
}

#[test]
fn each_attempt_waits_as_long_as_it_was_told() {
    // The second answer asks for a longer wait than the first: the clock
    // follows each, not the first one for ever.
    let (sim, _broker, mut world) = world(1);
    let told = Arc::new(Mutex::new(Vec::new()));
    let log = told.clone();
    world.add_endpoint(
        "payments",
        move |ctx: &mut HandlerContext, _m: &Envelope| {
            log.lock().unwrap().push(ctx.sim().now());
            match ctx.attempt() {
                1 => Err(HandlerError::retry_after(Duration::from_millis(500), "429")),
                2 => Err(HandlerError::retry_after(Duration::from_secs(5), "503")),
                _ => Ok(()),
            }
        },
    );
    let payment = Envelope::new(sim.new_message_id(), "BookPayment", &());
    world.send("payments", payment).unwrap();
    world.run_until_quiet(100).unwrap();

    let times = told.lock().unwrap().clone();
    assert_eq!(times.len(), 3);
    assert!(times[1].since(times[0]) >= Duration::from_millis(500));
    assert!(times[2].since(times[1]) >= Duration::from_secs(5));
    let trace = sim.trace().to_string();
    assert!(trace.contains("retry after 0.5 s: 429"), "{trace}");
    assert!(trace.contains("retry after 5 s: 503"), "{trace}");
}

#[test]
fn a_transient_error_is_retried_at_once() {
    // The contrast: without a delay, the message is ready again at once.
    let (sim, _broker, mut world) = world(1);
    world.add_endpoint("payments", |ctx: &mut HandlerContext, _m: &Envelope| {
        if ctx.attempt() == 1 {
            return Err(HandlerError::transient("database down"));
        }
        Ok(())
    });
    let payment = Envelope::new(sim.new_message_id(), "BookPayment", &());
    world.send("payments", payment).unwrap();
    world.run_until_quiet(100).unwrap();
    let times: Vec<SimTime> = starts(&sim).into_iter().map(|(_, at)| at).collect();
    assert_eq!(times.len(), 2);
    assert!(times[1].since(times[0]) < WAIT, "{times:?}");
}
