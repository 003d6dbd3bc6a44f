//! `driftd models`: the command line over the model registry (list, show, promote, roll back,
//! import, export, train, retrain). It reads and writes the registry in the state store directly,
//! or asks a running daemon's admin API where the daemon owns the operation (retrain).

use std::path::{Path, PathBuf};

use anyhow::Context;
use driftd_retrain::{
    AlgorithmConfig, Artifact, EncoderConfig, Example, Target, Task, ValidationMetrics,
};
use secrecy::ExposeSecret;

use crate::config::Config;

use crate::contract::access::Role;
use crate::contract::event::valid_model_name;
use crate::contract::settings::Secrets;
use crate::registry::{
    Aliases, MANUAL_TRIGGER, Registry, RegistryError, VersionRecord, registry_keys,
};
use crate::store::open_configured;

/// A `driftd models` command (`driftd models --help`).
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Every model with its version count and aliases.
    List,
    /// A model's aliases and versions, or one version in detail.
    Show {
        /// The model.
        model: String,
        /// Show this version in detail.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Make a version live (the live one becomes previous).
    Promote {
        /// The model.
        model: String,
        /// The version.
        version: u64,
    },
    /// Swap live and previous.
    Rollback {
        /// The model.
        model: String,
    },
    /// Verify a signed artifact file and store it as the model's next version.
    Import {
        /// The model.
        model: String,
        /// The artifact file.
        file: PathBuf,
    },
    /// Write a version's artifact (verified first) to a file.
    Export {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// The output file.
        file: PathBuf,
    },
    /// Train on labelled examples, validate on the most recent ones, register the version.
    Train {
        /// The model.
        model: String,
        /// JSON lines of examples: {"ts_ms": 1, "features": {"x": 1.5, "c": "red"}, "target":
        /// {"label": "yes"}} ({"value": 2.5} for regression; the task follows the target kind).
        #[arg(long, value_name = "FILE")]
        examples: PathBuf,
        /// The algorithm as JSON, e.g. '{"algorithm": "decision_tree", "max_depth": 5}' (default:
        /// logistic regression or linear regression).
        #[arg(long, value_name = "JSON")]
        algorithm: Option<String>,
        /// Share of the most recent examples held out for validation.
        #[arg(long, default_value_t = 0.2)]
        validation_share: f64,
    },
    /// Ask a running `driftd run` to retrain a model now (its admin API: the retrain runs in the
    /// daemon, which has the training data, then shadow and promotion follow its config).
    Retrain {
        /// The model.
        model: String,
        /// The daemon's HTTP address (default: http.listen of the configuration).
        #[arg(long, value_name = "URL")]
        daemon: Option<String>,
        /// An operator or admin token (default: the first configured HTTP token whose role
        /// grants `operator`).
        #[arg(long, env = "DRIFTD_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// The actor recorded for a promotion or rollback with `driftd models`: `cli:` and the login name
/// (`$USER`, as the shell says; whoever can open the store can write the registry anyway).
fn cli_actor() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("cli:{u}"),
        _ => "cli".to_owned(),
    }
}

/// `driftd models retrain`: `POST /v1/models/{model}/retrain` on the running daemon.
async fn request_retrain(
    cfg: &Config,
    secrets: &Secrets,
    model: &str,
    daemon: Option<String>,
    token: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let base = daemon.unwrap_or_else(|| format!("http://{}", cfg.http.listen));
    let token = match token {
        Some(t) => t,
        None => secrets
            .http_tokens
            .iter()
            .find(|t| t.role.grants(Role::Operator))
            .map(|t| t.secret.expose_secret().to_owned())
            .context("no operator token: pass --token, set DRIFTD_ADMIN_TOKEN, or configure an [[http.tokens]] of role operator or admin")?,
    };
    let url = format!("{}/v1/models/{model}/retrain", base.trim_end_matches('/'));
    let (status, body) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        let r = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .send_empty()
            .with_context(|| format!("cannot reach the daemon at {url}"))?;
        let status = r.status().as_u16();
        let body = r.into_body().read_to_string().unwrap_or_default();
        anyhow::Ok((status, body))
    })
    .await
    .context("the HTTP request task failed")??;
    if status != 202 {
        anyhow::bail!("the daemon refused the retrain request ({status}): {body}");
    }
    if json {
        return Ok(body);
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    Ok(format!(
        "retrain of {model} requested (the loop was {}); follow it with GET /v1/models/{model}/retrain\n",
        v["phase"].as_str().unwrap_or("?")
    ))
}

/// Reads labelled examples: one JSON [`Example`] per line (blank lines skipped).
pub fn read_examples(path: &Path) -> anyhow::Result<Vec<Example>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not an example", path.display(), i + 1))
        })
        .collect()
}

fn fmt_metrics(m: &Option<ValidationMetrics>) -> String {
    match m {
        None => "none".into(),
        Some(ValidationMetrics::Classification(c)) => {
            let mut s = format!(
                "n={} accuracy={:.4} macro_f1={:.4}",
                c.n, c.accuracy, c.macro_f1
            );
            if let Some(l) = c.log_loss {
                s.push_str(&format!(" log_loss={l:.4}"));
            }
            s
        }
        Some(ValidationMetrics::Regression(r)) => {
            let mut s = format!("n={} mae={:.4} rmse={:.4}", r.n, r.mae, r.rmse);
            if let Some(r2) = r.r2 {
                s.push_str(&format!(" r2={r2:.4}"));
            }
            s
        }
    }
}

fn fmt_alias(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn fmt_aliases(a: &Aliases) -> String {
    format!(
        "live={} candidate={} previous={}",
        fmt_alias(a.live),
        fmt_alias(a.candidate),
        fmt_alias(a.previous)
    )
}

fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn version_line(r: &VersionRecord) -> String {
    format!(
        "  v{:<4} {:<10} {:<20} {:<8} {} trained on {} validation: {}",
        r.meta.version,
        r.status.to_string(),
        r.meta.algorithm,
        r.meta.trigger,
        fmt_time(r.meta.created_ms),
        r.meta.training_size,
        fmt_metrics(&r.meta.validation)
    )
}

fn version_detail(r: &VersionRecord) -> String {
    let m = &r.meta;
    let mut s = format!(
        "{} version {}\n  status:       {}\n  checksum:     sha256:{}\n  size:         {} bytes\n  algorithm:    {} {}\n  trained on:   {} examples, event time {} .. {}\n  validation:   {}\n  parent:       {}\n  created:      {}\n  trigger:      {}\n",
        m.model,
        m.version,
        r.status,
        r.checksum,
        r.size_bytes,
        m.algorithm,
        m.hyperparameters,
        m.training_size,
        fmt_time(m.training_window.from_ms),
        fmt_time(m.training_window.to_ms),
        fmt_metrics(&m.validation),
        fmt_alias(m.parent_version),
        fmt_time(m.created_ms),
        m.trigger,
    );
    if let Some(i) = &r.imported {
        s.push_str(&format!(
            "  imported:     from {} version {} (sha256:{})\n",
            i.model, i.version, i.checksum
        ));
    }
    for d in &r.decisions {
        s.push_str(&format!(
            "  decision:     {} {}{}{}\n",
            fmt_time(d.at_ms),
            d.action,
            d.replaced
                .map_or_else(String::new, |v| format!(" (replaced v{v})")),
            if d.note.is_empty() {
                String::new()
            } else {
                format!(": {}", d.note)
            }
        ));
    }
    s
}

fn task_of(examples: &[Example]) -> anyhow::Result<Task> {
    match examples.first().map(|e| &e.target) {
        Some(Target::Label(_)) => Ok(Task::Classification),
        Some(Target::Value(_)) => Ok(Task::Regression),
        None => anyhow::bail!("no examples"),
    }
}

/// Runs one `driftd models` command and returns what to print (text, or one JSON document with
/// `json`). The store comes from `[state]`, the key from `[registry]` or [`KEY_ENV`](crate::registry::config::KEY_ENV).
pub async fn run_command(
    cfg: &Config,
    secrets: &Secrets,
    command: Command,
    json: bool,
) -> anyhow::Result<String> {
    if let Command::Retrain {
        model,
        daemon,
        token,
    } = command
    {
        return request_retrain(cfg, secrets, &model, daemon, token, json).await;
    }
    let keys = registry_keys(secrets)?;
    let store = open_configured(&cfg.state, secrets)
        .await
        .context("opening the state store")?;
    let reg = Registry::with_keys(store, keys);
    let out = match command {
        Command::List => {
            let mut models = Vec::new();
            let mut text = String::new();
            for name in reg.list_models().await? {
                let aliases = reg.aliases(&name).await?;
                let versions = reg.versions(&name).await.map(|v| v.len()).unwrap_or(0);
                text.push_str(&format!(
                    "{name}: {versions} version(s), {}\n",
                    fmt_aliases(&aliases)
                ));
                models.push(serde_json::json!({
                    "model": name, "versions": versions, "aliases": aliases,
                }));
            }
            if models.is_empty() {
                text.push_str("no models in the registry\n");
            }
            if json {
                serde_json::json!({ "models": models }).to_string()
            } else {
                text
            }
        }
        Command::Show {
            model,
            version: Some(v),
        } => {
            let r = reg.show(&model, v).await?;
            if json {
                serde_json::to_string(&r)?
            } else {
                version_detail(&r)
            }
        }
        Command::Show {
            model,
            version: None,
        } => {
            let aliases = reg.aliases(&model).await?;
            let versions = reg.versions(&model).await?;
            if json {
                serde_json::json!({ "model": model, "aliases": aliases, "versions": versions })
                    .to_string()
            } else {
                let mut s = format!("{model}: {}\n", fmt_aliases(&aliases));
                for r in &versions {
                    s.push_str(&version_line(r));
                    s.push('\n');
                }
                s
            }
        }
        Command::Promote { model, version } => {
            let a = reg
                .promote(
                    &model,
                    version,
                    "manual (driftd models promote)",
                    None,
                    Some(&cli_actor()),
                )
                .await?;
            if json {
                serde_json::json!({ "model": model, "aliases": a }).to_string()
            } else {
                format!("{model}: version {version} is live ({})\n", fmt_aliases(&a))
            }
        }
        Command::Rollback { model } => {
            let a = reg
                .rollback(
                    &model,
                    "manual (driftd models rollback)",
                    Some(&cli_actor()),
                )
                .await?;
            if json {
                serde_json::json!({ "model": model, "aliases": a }).to_string()
            } else {
                format!(
                    "{model}: rolled back to version {} ({})\n",
                    fmt_alias(a.live),
                    fmt_aliases(&a)
                )
            }
        }
        Command::Import { model, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let r = reg.import(&model, &bytes).await?;
            if json {
                serde_json::to_string(&r)?
            } else {
                format!(
                    "{model}: imported {} as version {} (sha256:{})\n",
                    file.display(),
                    r.version,
                    r.checksum
                )
            }
        }
        Command::Export {
            model,
            version,
            file,
        } => {
            let bytes = reg.export(&model, version).await?;
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            let checksum = Artifact::checksum(&bytes);
            if json {
                serde_json::json!({
                    "model": model, "version": version, "checksum": checksum,
                    "file": file, "size_bytes": bytes.len(),
                })
                .to_string()
            } else {
                format!(
                    "{model}: version {version} written to {} ({} bytes, sha256:{checksum})\n",
                    file.display(),
                    bytes.len()
                )
            }
        }
        Command::Retrain { .. } => {
            anyhow::bail!("retrain requests go to the daemon, not the store")
        }
        Command::Train {
            model,
            examples,
            algorithm,
            validation_share,
        } => {
            if !valid_model_name(&model) {
                return Err(RegistryError::InvalidName(model).into());
            }
            // Fail before training when nothing could be signed.
            reg.signer()?;
            anyhow::ensure!(
                (0.0..1.0).contains(&validation_share),
                "--validation-share must be in [0, 1)"
            );
            let all = read_examples(&examples)?;
            let task = task_of(&all)?;
            let algo: AlgorithmConfig = match &algorithm {
                Some(text) => serde_json::from_str(text).context("--algorithm")?,
                None => AlgorithmConfig::default_for(task),
            };
            let (trained, validation) = tokio::task::spawn_blocking(move || {
                let (train_split, validation_split) =
                    driftd_retrain::split_by_time(all, validation_share);
                let trained =
                    driftd_retrain::train(task, &algo, &EncoderConfig::default(), &train_split)?;
                let validation = if validation_split.is_empty() {
                    None
                } else {
                    Some(driftd_retrain::evaluate(&trained, &validation_split)?)
                };
                anyhow::Ok((trained, validation))
            })
            .await
            .context("the training task failed")??;
            let r = reg
                .register(&model, &trained, validation.clone(), MANUAL_TRIGGER)
                .await?;
            if json {
                serde_json::json!({
                    "model": model, "version": r.version, "checksum": r.checksum,
                    "training_size": trained.training_size(), "validation": validation,
                })
                .to_string()
            } else {
                format!(
                    "{model}: registered version {} (sha256:{})\n  trained on {} examples with {}\n  validation: {}\n",
                    r.version,
                    r.checksum,
                    trained.training_size(),
                    trained.algorithm().name(),
                    fmt_metrics(&validation)
                )
            }
        }
    };
    Ok(out)
}
