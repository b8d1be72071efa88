//! The model checker's Explorer for your handler:
//! `cargo run -p ex10-model-checking -- explore [--addr 127.0.0.1:3000]`
//! (what `cargo xtask explore 10` runs).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    handler_model::explore::command(model_checking::HANDLER, &args)
}
