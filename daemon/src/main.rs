//! The `driftd` binary: parses the command line and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use driftd::cli::run::{self, RunOptions};
use driftd::config;
use driftd::telemetry;

/// mimalloc instead of the system allocator: the monitors' hot path allocates per event (parsed
/// features, join-store ids that do not fit inline), and glibc's malloc spent a fifth of a
/// monitoring run in its own bookkeeping (`malloc_consolidate`, `unlink_chunk`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// driftd watches machine-learning models in production: it consumes prediction and feedback
/// events, measures drift and accuracy, alerts, retrains and promotes.
#[derive(Parser, Debug)]
#[command(
    name = "driftd",
    version,
    about,
    after_help = "Examples:\n  \
      driftd run --events tests/data/sample-events.jsonl     # embedded default, no services\n  \
      tail -f events.jsonl | driftd run --events -           # events from stdin\n  \
      driftd run --config /etc/driftd/driftd.toml            # the daemon, as configured\n  \
      driftd check-config /etc/driftd/driftd.toml            # list every problem, then exit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    #[command(
        after_help = "Without --config, driftd runs the embedded default: events from \
        --events (a JSON-lines file, or - for stdin), state in ./driftd-state.redb, alerts to the log."
    )]
    Run {
        /// Configuration file (TOML). Without it, built-in defaults apply.
        #[arg(short, long, env = "DRIFTD_CONFIG")]
        config: Option<PathBuf>,
        /// Read events from this JSON-lines file (or - for stdin) instead of the configured source.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Keep reading the events file as it grows.
        #[arg(long)]
        follow: bool,
        /// Embedded state store file, overriding [state].
        #[arg(long)]
        state: Option<PathBuf>,
        /// HTTP listen address, overriding http.listen (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Serve predictions with the registry's live model versions (hot-swapped when `live`
    /// moves) and emit one prediction event per answer to `[serve.events]`.
    #[command(
        after_help = "POST /v1/models/{model}/predict with {\"features\": {...}} or an array of them         (a bearer token of role predict from [[serve.tokens]] or [serve] predict_tokens). The signing key comes from [registry]         signing_key or DRIFTD_REGISTRY_KEY.\n\nExample:\n  driftd serve --config driftd.toml"
    )]
    Serve {
        /// Configuration file (TOML). Without it, built-in defaults apply.
        #[arg(short, long, env = "DRIFTD_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding serve.listen (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// The whole loop in one process, no external service, under a minute: a synthetic stream
    /// with a concept drift; detection, alert, retraining, shadow test, promotion, recovery,
    /// printed as a timeline, with /metrics live meanwhile.
    Demo {
        /// Prediction requests in all (the concept flips after a third of them).
        #[arg(long, default_value_t = 60_000)]
        requests: u64,
        /// Requests per second.
        #[arg(long, default_value_t = 3_000)]
        rate: u64,
        /// Where /metrics and the admin API listen (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        /// Keep the events file and the state store in this directory (default: a temporary one).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Validate a configuration file and print every problem with its key path.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Write the project's seeded benchmark streams with known drift (predictions, feedback, truth)
    /// — for backtests with `driftd replay`.
    Streams {
        /// Where the files go (NAME.predictions.jsonl, NAME.feedback.jsonl, NAME.truth.json).
        #[arg(long)]
        out_dir: PathBuf,
        /// Which streams (default: all): stable, covariate_shift, categorical_shift, concept, gradual.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Prediction events per stream.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Seed (the same seed gives the same bytes).
        #[arg(long, default_value_t = 20260101)]
        seed: u64,
    },
    /// Backtest: run recorded events through the monitors in event time and report every drift
    /// onset (no wall clock, no external service; the same input gives the same report).
    #[command(
        after_help = "Example:\n  driftd replay --events churn.predictions.jsonl \
        --feedback churn.feedback.jsonl --truth churn.truth.json --report onsets.jsonl"
    )]
    Replay {
        /// Recorded events (JSON lines in event-time order; may hold feedback too).
        #[arg(long)]
        events: PathBuf,
        /// Recorded feedback, merged with the events by event time.
        #[arg(long)]
        feedback: Option<PathBuf>,
        /// Configuration ([monitor], [models], [events]); built-in defaults without it.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Where the report goes: one JSON line per onset, then a summary line.
        #[arg(long)]
        report: PathBuf,
        /// Ground truth (drift onsets and affected features) to score the onsets against.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Backtest the `[alerting]` rules: one JSON line per notification they would have sent
        /// (event time), then a summary line.
        #[arg(long, value_name = "FILE")]
        alerts: Option<PathBuf>,
        /// Join-store entries kept in memory per model and kind; older ones go to a temporary
        /// file, so memory stays flat on long inputs (0: everything in memory). Same results.
        #[arg(long, value_name = "N", default_value_t = 4_000)]
        join_memory: usize,
        /// Directory for the join store's temporary files (default: the system's).
        #[arg(long, value_name = "DIR")]
        spill_dir: Option<PathBuf>,
        /// Write an HTML report (self-contained, SVG charts): per model the drift timeline, each
        /// feature's reference against the current window, the tests, labels and accuracy over
        /// time, and with `--alerts` the alerts.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Simulate experts with a labelling budget: only this share of the predictions (e.g.
        /// 0.02) get their feedback, chosen by `--label-policy`; the rest is withheld.
        #[arg(long, value_name = "SHARE")]
        label_budget: Option<f64>,
        /// Which predictions the budget labels: `review` (the review queue's choice) or `random`.
        #[arg(long, value_enum, default_value = "review", requires = "label_budget")]
        label_policy: driftd::offline::replay::LabelPolicy,
    },
    /// The model registry: list, show, train, promote, roll back, import and export model
    /// versions in the configured state store.
    #[command(
        after_help = "The state store is the config's [state] (default: ./driftd-state.redb). The \
        signing key comes from [registry] signing_key or the environment variable \
        DRIFTD_REGISTRY_KEY (at least 32 bytes); train, import and export need it.\n\n\
        Examples:\n  \
        driftd models --config driftd.toml train churn --examples churn.jsonl\n  \
        driftd models --config driftd.toml list\n  \
        driftd models --config driftd.toml promote churn 2\n  \
        driftd models --config driftd.toml rollback churn"
    )]
    Models {
        /// Configuration file (TOML). Without it, built-in defaults apply.
        #[arg(short, long, env = "DRIFTD_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: driftd::cli::models::Command,
    },
}

/// The configuration file, or the built-in defaults without one; `None` after printing every
/// problem of an invalid file.
fn load_config(path: Option<&std::path::Path>) -> Option<config::Loaded> {
    match path {
        Some(path) => match config::load_file(path) {
            Ok(l) => Some(l),
            Err(e) => {
                eprint!("{}: {e}", path.display());
                None
            }
        },
        None => Some(config::load_str("").expect("the built-in defaults are valid")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match config::load_file(&file) {
            Ok(_) => {
                println!("{}: OK", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Command::Streams {
            out_dir,
            streams,
            events,
            seed,
        } => {
            use driftd::offline::streams::{StreamKind, StreamSpec, generate, write_to_dir};
            let kinds: Result<Vec<StreamKind>, _> = if streams.is_empty() {
                Ok(StreamKind::ALL.to_vec())
            } else {
                streams.iter().map(|s| s.parse::<StreamKind>()).collect()
            };
            let kinds = match kinds {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("driftd streams: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = std::fs::create_dir_all(&out_dir) {
                eprintln!("driftd streams: cannot create {}: {e}", out_dir.display());
                return ExitCode::FAILURE;
            }
            for kind in kinds {
                let spec = StreamSpec::new(kind).events(events).seed(seed);
                let written = generate(&spec).map_err(|e| e.to_string()).and_then(|g| {
                    write_to_dir(&g, &out_dir, kind.name()).map_err(|e| e.to_string())
                });
                match written {
                    Ok(()) => println!("{}: {events} predictions", kind.name()),
                    Err(e) => {
                        eprintln!("driftd streams: {}: {e}", kind.name());
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::Replay {
            events,
            feedback,
            config,
            report,
            truth,
            alerts,
            join_memory,
            spill_dir,
            html,
            label_budget,
            label_policy,
        } => {
            if let Some(b) = label_budget
                && !(b > 0.0 && b <= 1.0)
            {
                eprintln!("driftd replay: --label-budget must be in (0, 1]");
                return ExitCode::from(2);
            }
            let Some(loaded) = load_config(config.as_deref()) else {
                return ExitCode::from(2);
            };
            let opts = driftd::offline::replay::ReplayOptions {
                events: &events,
                feedback: feedback.as_deref(),
                report: &report,
                truth: truth.as_deref(),
                alerts: alerts.as_deref(),
                join_memory: (join_memory > 0).then_some(join_memory),
                spill_dir: spill_dir.as_deref(),
                html: html.as_deref(),
                label_budget: label_budget.map(|b| (b, label_policy)),
            };
            match driftd::offline::replay::replay(&loaded.config, &opts) {
                Ok(s) => {
                    println!(
                        "driftd replay: {} events, {} onsets, report in {}",
                        s.events,
                        s.onsets,
                        report.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("driftd replay: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Models {
            config,
            json,
            command,
        } => {
            let Some(loaded) = load_config(config.as_deref()) else {
                return ExitCode::from(2);
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("driftd: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let out = rt.block_on(driftd::cli::models::run_command(
                &loaded.config,
                &loaded.secrets,
                command,
                json,
            ));
            match out {
                Ok(text) if json => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("driftd models: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config, listen } => {
            let Some(loaded) = load_config(config.as_deref()) else {
                return ExitCode::from(2);
            };
            let _log = telemetry::init(&loaded.config.log.level, loaded.config.log.format);
            let Some(rt) = runtime("driftd-serve") else {
                return ExitCode::FAILURE;
            };
            match rt.block_on(driftd::serve::serve(loaded.serve_setup(), listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "driftd serve failed");
                    eprintln!("driftd serve: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo {
            requests,
            rate,
            listen,
            dir,
        } => {
            let log = telemetry::init("error", driftd::telemetry::LogFormat::Text);
            let listen = if listen.port() == 0 {
                match std::net::TcpListener::bind(listen).and_then(|l| l.local_addr()) {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("driftd demo: cannot pick a port: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                listen
            };
            let Some(rt) = runtime("driftd") else {
                return ExitCode::FAILURE;
            };
            let opts = driftd::cli::demo::DemoOptions {
                requests,
                rate,
                listen,
                dir,
            };
            let r = rt.block_on(driftd::cli::demo::demo(opts, log));
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            match r {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("driftd demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            config,
            events,
            follow,
            state,
            listen,
        } => {
            let Some(loaded) = load_config(config.as_deref()) else {
                return ExitCode::from(2);
            };
            let log = telemetry::init(&loaded.config.log.level, loaded.config.log.format);
            let opts = RunOptions {
                config_path: config,
                events,
                follow,
                state,
                listen,
                ..RunOptions::default()
            };
            let Some(rt) = runtime("driftd") else {
                return ExitCode::FAILURE;
            };
            match rt.block_on(run::run(loaded, opts, log)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "driftd failed");
                    eprintln!("driftd: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The multi-threaded tokio runtime every long-running command uses (`None`, reported, if the OS
/// refuses it threads).
fn runtime(thread_name: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("driftd: cannot start the async runtime: {e}");
            None
        }
    }
}
