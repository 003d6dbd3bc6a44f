//! The container image and the compose stack. There is no Docker engine here, so the image is
//! built from the `Dockerfile` by buildah and run by podman (Debian's packages;
//! `scripts/container.sh`), on a Debian base made locally with debootstrap and with this build's
//! binary (`BINARY_FROM=prebuilt`; the Dockerfile's compile stage needs the Rust image from a
//! registry this machine does not reach). The image starts as a non-root user, answers `/readyz`,
//! processes a file of events into its state volume and stops cleanly on SIGTERM. `compose.yaml`
//! is read by podman-compose (interpolation, dependency conditions) and checked for what a compose
//! engine would refuse at `up`, and the configurations it mounts pass `driftd check-config` and
//! `promtool check config`.

use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value as Json;

use crate::harness::*;

const TAG: &str = "localhost/driftd:e2e";

fn container(args: &[&str]) -> Output {
    let out = Command::new(repo_root().join("scripts/container.sh"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/container.sh {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Stops the container when the test ends, however it ends.
struct Running(&'static str);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/container.sh"))
            .args(["stop", self.0])
            .output();
    }
}

#[test]
fn the_image_runs_as_a_non_root_user_answers_readyz_and_processes_a_file_of_events() {
    container(&["build", env!("CARGO_BIN_EXE_driftd"), TAG]);
    let size: u64 = String::from_utf8(container(&["size", TAG]).stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eprintln!("image size: {size} bytes (this build's binary, debug sections stripped)");
    let user = container(&[
        "podman",
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        TAG,
    ]);
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001:10001");

    let dir = tempfile::tempdir().unwrap();
    let (etc, state) = (dir.path().join("etc"), dir.path().join("state"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let port = free_port();
    std::fs::write(
        etc.join("driftd.toml"),
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n\n[source]\nkind = \"file\"\n\
             path = \"/var/lib/driftd/events.jsonl\"\nfollow = true\n\n[state]\n\
             kind = \"embedded\"\npath = \"/var/lib/driftd/state.redb\"\n"
        ),
    )
    .unwrap();
    let n = 500;
    let mut lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"kind":"prediction","id":"c{i}","model":"boxed","ts":"2026-05-01T00:00:{:02}.{:03}Z","features":{{"x":{}}},"prediction":{{"label":"1","score":0.7}}}}"#,
                i / 1000,
                i % 1000,
                i % 7
            )
        })
        .collect();
    lines.push("not json".into());
    write_lines(&state.join("events.jsonl"), &lines);
    // The image's user owns its state volume.
    for p in [&state, &state.join("events.jsonl")] {
        std::os::unix::fs::chown(p, Some(10001), Some(10001)).unwrap();
    }
    let etc_mount = format!("{}:/etc/driftd:ro", etc.display());
    let state_mount = format!("{}:/var/lib/driftd", state.display());
    container(&[
        "run",
        TAG,
        "driftd-e2e",
        "-v",
        &etc_mount,
        "-v",
        &state_mount,
    ]);
    let running = Running("driftd-e2e");
    let base = format!("http://127.0.0.1:{port}");
    wait_for("/readyz answers 200", Duration::from_secs(60), || {
        http_get(&format!("{base}/readyz")).filter(|(c, _)| *c == 200)
    });
    let m = wait_for("every event counted", Duration::from_secs(60), || {
        let (_, text) = http_get(&format!("{base}/metrics"))?;
        let m = Metrics::parse(&text);
        (m.sum("driftd_events_total", &[("model", "boxed")]) >= n as f64
            && m.sum("driftd_events_rejected_total", &[]) >= 1.0)
            .then_some(m)
    });
    assert_eq!(
        m.sum("driftd_events_total", &[("model", "boxed")]),
        n as f64
    );
    assert_eq!(
        m.sum(
            "driftd_events_rejected_total",
            &[("reason", "invalid_json")]
        ),
        1.0
    );
    // Stopped by SIGTERM (through the init): a clean stop, its checkpoint in the volume.
    container(&["podman", "stop", "-t", "15", "driftd-e2e"]);
    let code = container(&[
        "podman",
        "inspect",
        "--format",
        "{{.State.ExitCode}}",
        "driftd-e2e",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "a clean stop"
    );
    drop(running);
    let redb = std::fs::metadata(state.join("state.redb")).expect("the state in the volume");
    assert_eq!(redb.uid(), 10001, "written by the image's non-root user");
    let rejects = std::fs::read_to_string(state.join("events.jsonl.rejects.jsonl")).unwrap();
    assert!(rejects.contains("invalid_json"));
}

/// `compose.yaml` as podman-compose reads it, as JSON (PyYAML), with the secrets it requires set.
fn compose_config(env: &[(&str, &str)]) -> Result<Json, String> {
    let bin = python().parent().unwrap().join("podman-compose");
    let mut cmd = Command::new(&bin);
    cmd.current_dir(repo_root())
        .args(["-f", "compose.yaml", "config"]);
    for k in [
        "DRIFTD_REGISTRY_KEY",
        "DRIFTD_FEEDBACK_TOKEN",
        "DRIFTD_ADMIN_TOKEN",
        "DRIFTD_PREDICT_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let json = Command::new(python())
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(&out.stdout)?;
            c.wait_with_output()
        })
        .unwrap();
    Ok(serde_json::from_slice(&json.stdout).expect("podman-compose printed YAML"))
}

const SECRETS: &[(&str, &str)] = &[
    (
        "DRIFTD_REGISTRY_KEY",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("DRIFTD_FEEDBACK_TOKEN", "compose-feedback-token-0123456789"),
    ("DRIFTD_ADMIN_TOKEN", "compose-admin-token-0123456789"),
    ("DRIFTD_PREDICT_TOKEN", "compose-predict-token-0123456789"),
];

#[test]
fn the_compose_stack_is_valid_and_every_configuration_it_mounts_checks() {
    let missing = compose_config(&[]).expect_err("the secrets are required");
    assert!(missing.contains("DRIFTD_REGISTRY_KEY"), "{missing}");
    let c = compose_config(SECRETS).unwrap();
    let services = c["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for want in [
        "broker",
        "redis",
        "driftd-run",
        "driftd-serve",
        "prometheus",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let volumes = c["volumes"].as_object().cloned().unwrap_or_default();
    for (name, s) in services {
        // What `up` would refuse: a dependency on no service, an undeclared named volume, a bind
        // mount of a file that is not in the tree.
        if let Some(deps) = s["depends_on"].as_object() {
            for d in deps.keys() {
                assert!(services.contains_key(d), "{name} depends on unknown {d}");
            }
        }
        for v in s["volumes"].as_array().into_iter().flatten() {
            let spec = v.as_str().unwrap();
            let source = spec.split(':').next().unwrap();
            if source.starts_with('.') || source.starts_with('/') {
                assert!(
                    repo_root().join(source).exists(),
                    "{name} mounts missing {source}"
                );
            } else {
                assert!(
                    volumes.contains_key(source),
                    "{name}: volume {source} undeclared"
                );
            }
        }
        assert!(
            s["image"].is_string() || s["build"].is_object() || s["build"].is_string(),
            "{name}"
        );
    }
    assert_eq!(
        services["driftd-run"]["image"], services["driftd-serve"]["image"],
        "one image"
    );
    assert_eq!(
        services["driftd-run"]["environment"]["DRIFTD_REGISTRY_KEY"],
        SECRETS[0].1
    );
    // The configurations it mounts.
    let check = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["check-config", "config/compose/driftd.toml"])
        .current_dir(repo_root())
        .envs(SECRETS.iter().copied())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let image_cfg = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["check-config", "config/container.toml"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        image_cfg.status.success(),
        "{}",
        String::from_utf8_lossy(&image_cfg.stdout)
    );
    // Prometheus' file beside the rules it loads, as the stack mounts them.
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("config/compose/prometheus.yml", "prometheus.yml"),
        ("dashboards/prometheus/driftd-rules.yml", "driftd-rules.yml"),
    ] {
        std::fs::copy(repo_root().join(from), dir.path().join(to)).unwrap();
    }
    let promtool = find_tool("DRIFTD_PROMTOOL", &["promtool"], "run scripts/test.sh");
    let out = Command::new(promtool)
        .args(["check", "config"])
        .arg(dir.path().join("prometheus.yml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("1 rule files found"),
        "the rules are loaded: {said}"
    );
}
