//! stateright's Explorer for the handler model, and exercise 10's
//! `explore` command that serves it: `cargo xtask explore 10` runs
//! `cargo run -p ex10-model-checking --example explore -- --addr 127.0.0.1:3000`.

use std::process::ExitCode;

use stateright::Model;

use crate::message_handler::{Config, HandlerModel, HandlerSteps};

/// Where `cargo xtask explore 10` serves the Explorer by default.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:3000";

const USAGE: &str =
    "usage: cargo run -p <this package> --example explore [-- --addr 127.0.0.1:3000]";

/// The Explorer's address of a path (as [`crate::Counterexample`]'s
/// `explorer_path` spells it), for a server at `address`.
///
/// ```
/// let url = handler_model::explorer_url("127.0.0.1:3000", "0/0/0/1");
/// assert_eq!(url, "http://127.0.0.1:3000/#/steps/0/0/0/1");
/// ```
pub fn explorer_url(address: &str, explorer_path: &str) -> String {
    format!("http://{address}/#/steps/{explorer_path}")
}

/// The `explore [--addr ADDRESS]` command of an exercise's binary (`args`
/// after the program's name): serves the Explorer for the model of `steps`
/// on the loopback interface unless told otherwise, until the process is
/// stopped. Usage errors exit with 2, a port in use with 1.
pub fn command(steps: HandlerSteps, args: &[String]) -> ExitCode {
    let address = match args {
        [] => DEFAULT_ADDRESS,
        [flag, address] if flag == "--addr" => address.as_str(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(steps, address) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the Explorer for the model of `steps` (the tests' configuration,
/// every invariant on) at `address`, and prints its URL. Blocks until the
/// process is stopped.
pub fn serve(steps: HandlerSteps, address: &str) -> Result<(), String> {
    // stateright's server panics when it cannot listen: try first, to say why.
    std::net::TcpListener::bind(address).map_err(|err| {
        format!(
            "cannot listen on {address}: {err}. Is an Explorer already running? \
             Another port: cargo xtask explore 10 --port 3001"
        )
    })?;
    let model = HandlerModel::new(steps, Config::DEFAULT);
    println!("The Explorer for exercise 10's model: http://{address}/");
    println!(
        "A failing test prints a link to its counterexample (…/#/steps/0/…): open it while this runs."
    );
    println!("Press Ctrl-C to stop.");
    model.checker().serve(address);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attempt, Step};

    fn nothing(_: &mut Attempt) {}

    const IDLE: HandlerSteps = HandlerSteps {
        order: &[Step::Ack],
        update_store: nothing,
        send: nothing,
    };

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn a_command_it_does_not_know_is_a_usage_error() {
        for wrong in [&["serve"][..], &["explore"], &["--port", "3001"]] {
            assert_eq!(command(IDLE, &args(wrong)), ExitCode::from(2), "{wrong:?}");
        }
    }

    #[test]
    fn a_port_in_use_is_an_error_that_says_so() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = taken.local_addr().expect("its address").to_string();
        let err = serve(IDLE, &address).expect_err("the port is taken");
        assert!(err.contains("Is an Explorer already running?"), "{err}");
        let run = command(IDLE, &args(&["--addr", &address]));
        assert_eq!(run, ExitCode::FAILURE);
    }
}
