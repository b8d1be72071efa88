//! Exercise 10: model-checking the message handler.
//!
//! Your part is `src/model/handler.rs`: the order of the handler's steps and
//! what two of them do. The model, the checker, its reports and the
//! Explorer live in the `handler-model` crate (`handler-model/src/`); this
//! file only hands your handler to them.

pub mod model {
    //! The handler, as the model checker runs it.
    pub mod handler;
}

/// The handler of `src/model/handler.rs`, as the model checker runs it.
pub const HANDLER: handler_model::HandlerSteps = handler_model::HandlerSteps {
    order: model::handler::STEPS,
    update_store: model::handler::update_store,
    send: model::handler::send,
};
