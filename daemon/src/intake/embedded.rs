//! The file source's task loop (embedded mode): reads JSON lines through the [`file`](mod@super::file) reader,
//! writes rejected lines to the rejects file, takes HTTP feedback as a side shard acknowledged
//! after its checkpoint, and checkpoints through the [`Checkpointer`](super::Checkpointer).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::file::{self, FileMsg, Input, ReaderOptions};
use super::{FeedbackError, LocalFeedback, Summary, TaskCtx, dispatch};

use crate::intake::pipeline::{Outcome, Pipeline};

use crate::contract::adapt::{Format, Record};
use crate::contract::event::Rejection;
use crate::intake::config::FileSourceConfig;
use crate::intake::shard::checkpoint_key;

/// The shard name of a file source.
fn file_shard(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    format!("file/{}", abs.display())
}

/// Writes rejected lines as JSON, one per line.
struct RejectsWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    len: u64,
}

impl RejectsWriter {
    /// Opens the rejects file, truncated back to `len` (its length at the last checkpoint; 0 when
    /// there is no checkpoint), so a restart never writes a rejected line twice.
    fn open(path: &Path, len: Option<u64>) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the rejects file {}", path.display()))?;
        let cur = file.metadata()?.len();
        // No checkpoint: the shard starts from offset 0 and writes every reject again.
        let len = len.unwrap_or(0);
        let len = if len < cur {
            file.set_len(len)?;
            len
        } else {
            cur
        };
        Ok(RejectsWriter {
            path: path.to_owned(),
            file: std::io::BufWriter::new(file),
            len,
        })
    }

    fn write(&mut self, r: &Rejection, offset: u64, next: u64, raw: Option<&[u8]>) {
        #[derive(serde::Serialize)]
        struct Rec<'a> {
            reason: &'a str,
            detail: &'a str,
            offset: u64,
            length: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            line: Option<std::borrow::Cow<'a, str>>,
        }
        let rec = Rec {
            reason: r.reason.as_str(),
            detail: &r.detail,
            offset,
            length: next - offset,
            line: raw.map(String::from_utf8_lossy),
        };
        let mut line = serde_json::to_vec(&rec).expect("reject record serialises");
        line.push(b'\n');
        match self.file.write_all(&line) {
            Ok(()) => self.len += line.len() as u64,
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the rejects file")
            }
        }
    }

    /// Makes the written records durable; returns the file length to checkpoint.
    fn sync(&mut self) -> std::io::Result<u64> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        Ok(self.len)
    }
}

/// The file source loop (embedded mode). Returns a summary when the input ends.
pub async fn run_file(
    cfg: FileSourceConfig,
    max_line: usize,
    mut p: Pipeline,
    mut ctx: TaskCtx,
    mut feedback: mpsc::Receiver<LocalFeedback>,
) -> anyhow::Result<Option<Summary>> {
    let stdin = cfg.path == Path::new("-");
    let format = cfg.adapter.format;
    let shard: Arc<str> = if stdin {
        "stdin".into()
    } else {
        file_shard(&cfg.path).into()
    };
    // HTTP feedback in embedded mode: its own shard, offset = item sequence number; acknowledged
    // only once checkpointed.
    let http_shard: Arc<str> = "http-feedback".into();
    let mut shutdown = ctx.shutdown.clone();
    let restored = if stdin {
        ctx.checkpointer.volatile.push(checkpoint_key(&shard));
        Some(None)
    } else {
        ctx.checkpointer.load(&shard, &mut shutdown).await
    };
    let Some(restored) = restored else {
        return Ok(None);
    };
    let Some(http_restored) = ctx.checkpointer.load(&http_shard, &mut shutdown).await else {
        return Ok(None);
    };
    let rejects_path = cfg.effective_rejects_path();
    let mut rejects =
        RejectsWriter::open(&rejects_path, restored.as_ref().and_then(|s| s.rejects_len))?;
    let start = restored.as_ref().map_or(0, |s| s.next_offset);
    p.open_shard(shard.clone(), restored);
    // HTTP feedback has no clock worth waiting for: it never holds the watermark back.
    p.open_side_shard(http_shard.clone(), http_restored);
    let mut rx = file::spawn_reader(ReaderOptions {
        input: if stdin {
            Input::Stdin
        } else {
            Input::Path(cfg.path.clone())
        },
        start,
        follow: cfg.follow,
        poll_interval: cfg.poll_interval,
        max_line,
        // The parse stage: lines are parsed on the reader thread, beside this task (contract v1
        // only: an adapter's lines are converted here, where the halves wait for their pair).
        parse: (format == Format::DriftdV1).then(|| p.parse_options()),
    });
    ctx.health.source_up.store(true, Ordering::Relaxed);
    ctx.metrics.source_up.set(1);
    ctx.health.started.store(true, Ordering::Relaxed);
    tracing::info!(shard = %shard, start, follow = cfg.follow, rejects = %rejects_path.display(), "reading events");

    let mut pending_acks: Vec<tokio::sync::oneshot::Sender<Result<(), FeedbackError>>> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut eof = false;
    // When the file last delivered a line. The file is one partition read locally: once the
    // reader has found nothing new for two of its polls (and at least a second) it has caught up
    // with the writer and no longer holds the event-time watermark back (the Kafka source's
    // idle_timeout is for partitions read over the network, whose producers may stall).
    let mut last_line = std::time::Instant::now();
    let caught_up_after = (cfg.poll_interval * 2).max(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(c) = ctx.control.recv() => dispatch(&mut p, c),
            Some(fb) = feedback.recv() => {
                let state = p.shard(&http_shard).expect("http shard is open");
                let mut seq = state.next_offset;
                for item in &fb.items {
                    // Validated by the handler; a rejection here (e.g. the model cap) is counted.
                    let rec = Record { body: item.clone(), ..Record::default() };
                    if let Outcome::Rejected(r) = p.process_record(&http_shard, seq, seq + 1, fb.format, &rec) {
                        tracing::warn!(reason = %r.reason, detail = %r.detail, "HTTP feedback rejected by the pipeline");
                    }
                    seq += 1;
                }
                pending_acks.push(fb.ack);
                // Group commit: everything queued so far becomes durable in one checkpoint.
                while let Ok(more) = feedback.try_recv() {
                    for item in &more.items {
                        let rec = Record { body: item.clone(), ..Record::default() };
                        let _ = p.process_record(&http_shard, seq, seq + 1, more.format, &rec);
                        seq += 1;
                    }
                    pending_acks.push(more.ack);
                }
                checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
            }
            _ = tick.tick() => {
                ctx.checkpointer.probe().await;
                p.set_idle(&shard, last_line.elapsed() >= caught_up_after);
                // What was released or skipped as too soon since is published now.
                p.publish_stale();
                if ctx.checkpointer.due(&p) {
                    checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                }
            }
            msg = rx.recv(), if !eof => match msg {
                Some(FileMsg::Batch(mut b)) => {
                    last_line = std::time::Instant::now();
                    let mut parsed = std::mem::take(&mut b.parsed).into_iter();
                    for l in &b.lines {
                        let input = &b.data[l.start..l.end];
                        // In step with `lines` (`None` for an oversized line).
                        let pre = parsed.next().flatten();
                        let outcome = if l.oversized {
                            // Never buffered whole: reported without its content.
                            p.process_oversized(&shard, l.offset, l.next, max_line)
                        } else if let Some(ev) = pre {
                            p.process_parsed(&shard, l.offset, l.next, ev)
                        } else if format != Format::DriftdV1 {
                            p.process_record(&shard, l.offset, l.next, format, &Record::from_line(input))
                        } else {
                            p.process(&shard, l.offset, l.next, input)
                        };
                        if let Outcome::Rejected(r) = outcome {
                            rejects.write(&r, l.offset, l.next, (!l.oversized).then_some(input));
                            ctx.metrics.dead_letter.with_label_values(&["written"]).inc();
                        }
                    }
                    if rx.is_empty() {
                        // Caught up with the reader: apply what was released now rather than
                        // when a batch fills (a slow stream's onsets are not held back).
                        p.flush();
                    }
                    if ctx.checkpointer.due(&p) {
                        checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                    }
                }
                Some(FileMsg::Reset) => {
                    if let Some(s) = p.shard_mut(&shard) {
                        s.next_offset = 0;
                    }
                }
                Some(FileMsg::Error(e)) => {
                    tracing::error!(error = %e, "events source error");
                    if !cfg.follow {
                        ctx.health.source_up.store(false, Ordering::Relaxed);
                        ctx.metrics.source_up.set(0);
                        checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                        anyhow::bail!("reading events: {e}");
                    }
                }
                Some(FileMsg::Eof) | None => {
                    eof = true;
                    tracing::info!(shard = %shard, "end of input");
                    if !cfg.follow {
                        // Nothing more is coming: every half still waiting for its pair is an
                        // event alone, and every held event is due.
                        p.drain_pairs(&shard);
                        p.flush_order();
                        break;
                    }
                }
            },
        }
    }
    // Drain: everything read has been applied; make it durable.
    let mut tries = 0;
    while !checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await {
        tries += 1;
        if tries >= 3 {
            tracing::error!(
                "final checkpoint failed; the next start resumes from the last successful one"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for ack in pending_acks.drain(..) {
        let _ = ack.send(Err(FeedbackError::ShuttingDown));
    }
    let summary = p.shard(&shard).cloned().map(|state| Summary {
        state,
        rejects_path,
    });
    p.dispose();
    Ok(summary)
}

async fn checkpoint_file(
    p: &mut Pipeline,
    ctx: &mut TaskCtx,
    shard: &str,
    rejects: &mut RejectsWriter,
    acks: &mut Vec<tokio::sync::oneshot::Sender<Result<(), FeedbackError>>>,
) -> bool {
    match rejects.sync() {
        Ok(len) => {
            if let Some(s) = p.shard_mut(shard) {
                s.rejects_len = Some(len);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot sync the rejects file; checkpoint deferred");
            ctx.checkpointer.defer();
            return false;
        }
    }
    let ok = ctx.checkpointer.write(p).await;
    if ok {
        for ack in acks.drain(..) {
            let _ = ack.send(Ok(()));
        }
    }
    ok
}
