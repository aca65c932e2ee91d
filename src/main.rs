//! The `msgaudit` binary: parse the command line, run it, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = msgaudit::cli::Cli::parse();
    msgaudit::cli::init_logging(&cli);
    let format = cli.log_format;
    match msgaudit::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", msgaudit::cli::failure_line(&e, format));
            ExitCode::FAILURE
        }
    }
}
