//! Exercise 01: submit a cart exactly once.
//!
//! Your file is `src/submit.rs`. The carts and their store live in the shop
//! crate (`shop/src/front/direct.rs`).

pub mod submit;

pub use shop::front::direct::{Cart, Carts};
pub use shop::{Order, SubmitError};
pub use submit::submit;
