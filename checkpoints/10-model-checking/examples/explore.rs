//! The model checker's Explorer for your handler, what `cargo xtask explore 10`
//! runs: `cargo run -p ex10-model-checking --example explore [-- --addr 127.0.0.1:3000]`.
//! (An example, not the package's binary: `cargo xtask verify` builds the
//! tests only, so a save never waits for this program to link.)

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    handler_model::explore::command(model_checking::HANDLER, &args)
}
