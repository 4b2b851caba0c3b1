//! The `hookline` binary: parses configuration and wires the roles. Nothing else.

mod access;
mod config;
mod config_doc;
mod memory;
mod probe;
mod repair;
mod serve;
mod shutdown;
mod stores;
mod supervise;
mod telemetry;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Threads for blocking work (view transactions, log reads from files). Each keeps its
/// own allocator heap, so tokio's default of 512, reached when consumers fell behind
/// and read from files, held hundreds of megabytes; past this many, work queues.
const BLOCKING_THREADS: usize = 32;

#[derive(Parser)]
#[command(name = "hookline", version, about = "Webhook delivery on an event log")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole service in one process: REST API, ingest, delivery with tiered retries, projector.
    Serve(config::Settings),
    /// Creates the topics of the log (and the schema of a shared view store); idempotent.
    Migrate(config::Settings),
    /// Rebuilds the views by replaying the log from the start (stop the service first).
    RebuildViews(config::Settings),
    /// Moves the damaged parts of the embedded log aside, never deleting them, so that
    /// the service starts again; says how many records were lost (stop the service first).
    RepairLog(config::Settings),
    /// Asks a URL (e.g. `http://127.0.0.1:8000/ready`) and exits 0 on a 2xx answer, 1
    /// otherwise: the health check of containers.
    Probe(probe::ProbeArgs),
    /// Prints the configuration reference: every setting with its flag, environment
    /// variable, default and meaning (`--markdown`: docs/configuration.md).
    Config(config_doc::ConfigArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match &cli.command {
        Command::Serve(settings)
        | Command::Migrate(settings)
        | Command::RebuildViews(settings)
        | Command::RepairLog(settings) => settings,
        Command::Probe(args) => {
            return match probe::probe(args) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hookline probe: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Config(_) => {
            print!("{}", config_doc::markdown());
            return std::process::ExitCode::SUCCESS;
        }
    };
    telemetry::init(settings.log_format);
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(BLOCKING_THREADS).enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("hookline: cannot start the async runtime: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(settings) => serve::serve(settings).await,
            Command::Migrate(settings) => serve::migrate(settings).await,
            Command::RebuildViews(settings) => serve::rebuild_views(settings).await,
            Command::RepairLog(settings) => repair::repair_log(settings).await,
            Command::Probe(_) | Command::Config(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookline: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
