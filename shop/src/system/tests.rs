//! The system's own checks, with the docs' lesson (the exercise has the
//! thorough ones).

use harness::Sim;

use super::chaos::Profile;
use super::{Cart, Stage, System, doc_lesson};

fn carts() -> Vec<Cart> {
    vec![
        Cart::new("c-1", "Ola", &["ruskie", "meat"]),
        Cart::new("c-2", "Kuba", &["ruskie"; 7]),
        Cart::new("c-3", "Zosia", &["cabbage"; 20]),
    ]
}

#[test]
fn every_cart_ends_where_its_payment_says() {
    let sim = Sim::new(1);
    let mut system = System::open(&sim, doc_lesson(), Profile::None);
    for cart in carts() {
        system.submit(&cart).unwrap();
    }
    system.deliver();
    let report = system.report(&carts()).unwrap();
    assert!(report.is_consistent(), "{report}");
    assert_eq!(system.saga("c-1").unwrap().unwrap().stage, Stage::Shipped);
    assert_eq!(system.saga("c-3").unwrap().unwrap().stage, Stage::Cancelled);
    assert!(system.marketing.has_coupon("c-2").unwrap());
    assert!(!system.marketing.has_coupon("c-1").unwrap());
}

#[test]
fn every_profile_leaves_every_cart_consistent() {
    for profile in Profile::ALL {
        for seed in 1..=3 {
            let sim = Sim::new(seed);
            let mut system = System::open(&sim, doc_lesson(), profile);
            for cart in carts() {
                system.submit(&cart).unwrap();
            }
            system.deliver();
            let report = system.report(&carts()).unwrap();
            assert!(
                report.is_consistent() && report.parked.is_empty(),
                "{} seed {seed}: {report}",
                profile.name()
            );
        }
    }
}
