//! The embedded source: JSON lines from a file or stdin.
//!
//! A blocking reader thread reads large chunks, splits them into lines and hands batches to the
//! pipeline task over a bounded channel (backpressure: the reader waits when the pipeline is busy).
//! The byte offset of each line is its offset in the shard, so a restart seeks straight to the
//! checkpoint. A line longer than the event limit is never buffered whole: it is skipped up to its
//! newline and reported as `oversized` with its offset and length. When following a growing file,
//! truncation or replacement (log rotation) restarts from offset 0 of the new content.
//!
//! **The parse stage.** With [`ReaderOptions::parse`] set, the reader thread also parses every
//! line of a batch (into a copy of its bytes, [`parse_owned`]) before handing the batch over, so
//! parsing runs on one core while the pipeline task validates, orders and monitors on another.
//! Parsing is pure and the batches keep their order, so the pipeline sees exactly what it would
//! have parsed itself: the same outcomes, the same state, byte-identical reports.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::contract::event::ParseOptions;
use crate::intake::pipeline::{Parsed, parse_owned};

/// One line of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Byte range of the line in [`Batch::data`] (without the newline).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// File offset of the line's first byte.
    pub offset: u64,
    /// File offset just after the line's newline.
    pub next: u64,
    /// The line exceeded the limit and was skipped; `start..end` is empty, `next - offset` is its
    /// length.
    pub oversized: bool,
}

/// Lines read together.
#[derive(Default)]
pub struct Batch {
    /// The bytes the lines point into.
    pub data: Vec<u8>,
    /// The lines, in file order.
    pub lines: Vec<Line>,
    /// With [`ReaderOptions::parse`]: each line parsed (`None` for an oversized line), in the
    /// order of `lines`; empty otherwise.
    pub parsed: Vec<Option<Parsed>>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("bytes", &self.data.len())
            .field("lines", &self.lines)
            .field("parsed", &self.parsed.len())
            .finish()
    }
}

impl Batch {
    /// Parses every line that is not oversized (the parse stage).
    fn parse(&mut self, opts: &ParseOptions) {
        self.parsed = self
            .lines
            .iter()
            .map(|l| (!l.oversized).then(|| parse_owned(&self.data[l.start..l.end], opts)))
            .collect();
    }
}

/// What the reader thread sends.
#[derive(Debug)]
pub enum FileMsg {
    /// More lines.
    Batch(Batch),
    /// The file was truncated or replaced; offsets restart at 0.
    Reset,
    /// End of input (only without `follow`).
    Eof,
    /// The file cannot be read; the reader retries when following, else stops.
    Error(ReadError),
}

/// Why the events file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening it.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Seeking to the checkpointed offset.
    #[error("cannot seek {}: {source}", path.display())]
    Seek {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading.
    #[error("read error: {0}")]
    Read(std::io::Error),
}

/// Where the reader reads from.
#[derive(Debug, Clone)]
pub enum Input {
    /// Standard input (not resumable).
    Stdin,
    /// A file, from a byte offset.
    Path(PathBuf),
}

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Input.
    pub input: Input,
    /// Byte offset to start at (a line start, from the checkpoint).
    pub start: u64,
    /// Keep reading as the file grows.
    pub follow: bool,
    /// How often to look for growth at end of file.
    pub poll_interval: Duration,
    /// Longest line accepted; longer ones are reported as oversized.
    pub max_line: usize,
    /// Parse each line on the reader thread with these options (the parse stage).
    pub parse: Option<ParseOptions>,
}

const CHUNK: usize = 256 * 1024;
/// Lines per batch: with the parse stage on, a batch waiting in the channel holds its events parsed
/// (about 1.5 KB each with 25 features), so the channel's four batches stay within some 6 MB.
const MAX_LINES_PER_BATCH: usize = 1024;

/// Starts the reader thread. It stops when the receiver is dropped.
pub fn spawn_reader(opts: ReaderOptions) -> mpsc::Receiver<FileMsg> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::Builder::new()
        .name("driftd-file-reader".into())
        .spawn(move || {
            let r = match &opts.input {
                Input::Stdin => read_loop(std::io::stdin().lock(), &opts, &tx, None).map(|_| ()),
                Input::Path(p) => read_path(p, &opts, &tx),
            };
            if let Err(e) = r {
                let _ = tx.blocking_send(FileMsg::Error(e));
            }
        })
        .expect("spawn reader thread");
    rx
}

fn read_path(
    path: &Path,
    opts: &ReaderOptions,
    tx: &mpsc::Sender<FileMsg>,
) -> Result<(), ReadError> {
    let mut start = opts.start;
    // A followed file that does not exist yet is reported once, then waited for quietly.
    let mut missing_reported = false;
    loop {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(source) if opts.follow => {
                let missing = source.kind() == std::io::ErrorKind::NotFound;
                let e = ReadError::Open {
                    path: path.to_owned(),
                    source,
                };
                if !(missing && missing_reported) && tx.blocking_send(FileMsg::Error(e)).is_err() {
                    return Ok(());
                }
                missing_reported |= missing;
                std::thread::sleep(opts.poll_interval.max(Duration::from_millis(500)));
                continue;
            }
            Err(source) => {
                return Err(ReadError::Open {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if start > len {
            // The file is shorter than the checkpoint: it was truncated or replaced while we were
            // down. Start over on the new content.
            tracing::warn!(path = %path.display(), checkpoint = start, len, "events file is shorter than the checkpoint; reading it from the start");
            if tx.blocking_send(FileMsg::Reset).is_err() {
                return Ok(());
            }
            start = 0;
        }
        f.seek(SeekFrom::Start(start))
            .map_err(|source| ReadError::Seek {
                path: path.to_owned(),
                source,
            })?;
        match read_loop(
            f,
            &ReaderOptions {
                start,
                ..opts.clone()
            },
            tx,
            Some(path),
        )? {
            Some(()) => {
                // rotated or truncated: reopen from 0
                if tx.blocking_send(FileMsg::Reset).is_err() {
                    return Ok(());
                }
                start = 0;
            }
            None => return Ok(()),
        }
    }
}

#[cfg(unix)]
fn same_file(open: &File, path: &Path, pos: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (open.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev() && b.len() >= pos,
        _ => true, // momentarily missing during rotation: keep the old one for now
    }
}

#[cfg(not(unix))]
fn same_file(_open: &File, path: &Path, pos: u64) -> bool {
    std::fs::metadata(path)
        .map(|m| m.len() >= pos)
        .unwrap_or(true)
}

/// Reads until EOF (or forever when following). Returns `Some(())` when the followed file was
/// rotated or truncated, `None` when done or the receiver went away.
fn read_loop<R: Read + AsFile>(
    mut r: R,
    opts: &ReaderOptions,
    tx: &mpsc::Sender<FileMsg>,
    path: Option<&Path>,
) -> Result<Option<()>, ReadError> {
    let mut st = SplitState {
        pos: opts.start,
        buf: Vec::with_capacity(CHUNK * 2),
        skipping: None,
    };
    loop {
        // Hand over every complete line already buffered.
        loop {
            let mut batch = st.drain(opts.max_line);
            let full = batch.lines.len() >= MAX_LINES_PER_BATCH;
            if let Some(p) = &opts.parse {
                batch.parse(p);
            }
            if !batch.lines.is_empty() && tx.blocking_send(FileMsg::Batch(batch)).is_err() {
                return Ok(None);
            }
            if !full {
                break;
            }
        }
        let old = st.buf.len();
        st.buf.resize(old + CHUNK, 0);
        let n = match r.read(&mut st.buf[old..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(ReadError::Read(e)),
        };
        st.buf.truncate(old + n);
        if n > 0 {
            continue;
        }
        if !opts.follow {
            let mut batch = st.finish();
            if let Some(p) = &opts.parse {
                batch.parse(p);
            }
            if !batch.lines.is_empty() && tx.blocking_send(FileMsg::Batch(batch)).is_err() {
                return Ok(None);
            }
            let _ = tx.blocking_send(FileMsg::Eof);
            return Ok(None);
        }
        if tx.is_closed() {
            return Ok(None);
        }
        if let (Some(p), Some(f)) = (path, r.as_file())
            && !same_file(f, p, st.pos + st.buf.len() as u64)
        {
            tracing::warn!(path = %p.display(), "events file was rotated or truncated; reading the new file from the start");
            return Ok(Some(()));
        }
        std::thread::sleep(opts.poll_interval);
    }
}

/// Line splitting state: `buf` holds the bytes from file offset `pos` on.
struct SplitState {
    pos: u64,
    buf: Vec<u8>,
    /// Start offset of an over-long line being skipped up to its newline.
    skipping: Option<u64>,
}

impl SplitState {
    /// Takes up to `MAX_LINES_PER_BATCH` complete lines out of the buffer.
    fn drain(&mut self, max_line: usize) -> Batch {
        let mut batch = Batch::default();
        let mut line_start = 0usize;
        while batch.lines.len() < MAX_LINES_PER_BATCH {
            let Some(i) = memchr::memchr(b'\n', &self.buf[line_start..]) else {
                break;
            };
            let nl = line_start + i;
            let offset = self.pos + line_start as u64;
            let next = self.pos + nl as u64 + 1;
            if let Some(s) = self.skipping.take() {
                batch.lines.push(Line {
                    start: 0,
                    end: 0,
                    offset: s,
                    next,
                    oversized: true,
                });
            } else if nl - line_start > max_line {
                batch.lines.push(Line {
                    start: 0,
                    end: 0,
                    offset,
                    next,
                    oversized: true,
                });
            } else if !self.buf[line_start..nl].iter().all(u8::is_ascii_whitespace) {
                batch.lines.push(Line {
                    start: line_start,
                    end: trim_cr(&self.buf, nl),
                    offset,
                    next,
                    oversized: false,
                });
            }
            line_start = nl + 1;
        }
        let tail = self.buf.split_off(line_start);
        batch.data = std::mem::replace(&mut self.buf, tail);
        self.pos += line_start as u64;
        if batch.lines.len() < MAX_LINES_PER_BATCH
            && (self.skipping.is_some() || self.buf.len() > max_line)
        {
            // An over-long line with no newline yet: drop what we have and skip to its end.
            self.skipping.get_or_insert(self.pos);
            self.pos += self.buf.len() as u64;
            self.buf.clear();
        }
        batch
    }

    /// At end of input: the last line may lack its newline.
    fn finish(&mut self) -> Batch {
        let mut batch = Batch::default();
        let end = self.pos + self.buf.len() as u64;
        if let Some(s) = self.skipping.take() {
            batch.lines.push(Line {
                start: 0,
                end: 0,
                offset: s,
                next: end,
                oversized: true,
            });
        } else if !self.buf.iter().all(u8::is_ascii_whitespace) {
            batch.lines.push(Line {
                start: 0,
                end: trim_cr(&self.buf, self.buf.len()),
                offset: self.pos,
                next: end,
                oversized: false,
            });
            batch.data = std::mem::take(&mut self.buf);
        }
        self.pos = end;
        batch
    }
}

fn trim_cr(buf: &[u8], end: usize) -> usize {
    if end > 0 && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// Access to the underlying file, for rotation checks.
trait AsFile {
    fn as_file(&self) -> Option<&File>;
}
impl AsFile for File {
    fn as_file(&self) -> Option<&File> {
        Some(self)
    }
}
impl AsFile for std::io::StdinLock<'_> {
    fn as_file(&self) -> Option<&File> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(path: &Path, start: u64, max_line: usize) -> Vec<(String, u64, u64, bool)> {
        let mut rx = spawn_reader(ReaderOptions {
            input: Input::Path(path.to_owned()),
            start,
            follow: false,
            poll_interval: Duration::from_millis(10),
            max_line,
            parse: None,
        });
        let mut out = vec![];
        while let Some(m) = rx.blocking_recv() {
            match m {
                FileMsg::Batch(b) => {
                    for l in b.lines {
                        out.push((
                            String::from_utf8_lossy(&b.data[l.start..l.end]).into_owned(),
                            l.offset,
                            l.next,
                            l.oversized,
                        ));
                    }
                }
                FileMsg::Eof => break,
                m => panic!("{m:?}"),
            }
        }
        out
    }

    #[test]
    fn splits_lines_with_offsets_and_handles_oversized_and_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        let long = "x".repeat(1000);
        std::fs::write(&p, format!("a\r\n\n  \nbb\n{long}\nccc")).unwrap();
        let got = collect(&p, 0, 100);
        assert_eq!(
            got,
            vec![
                ("a".into(), 0, 3, false),
                ("bb".into(), 7, 10, false),
                ("".into(), 10, 1011, true),
                ("ccc".into(), 1011, 1014, false),
            ]
        );
        // resume from a checkpoint offset
        let got = collect(&p, 10, 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, "ccc");
    }

    #[test]
    fn oversized_line_spanning_chunks_is_skipped_without_buffering() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        let long = "y".repeat(3 * CHUNK + 17);
        std::fs::write(&p, format!("first\n{long}\nlast\n")).unwrap();
        let got = collect(&p, 0, 1024);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "first");
        assert_eq!(got[1], ("".into(), 6, 6 + long.len() as u64 + 1, true));
        assert_eq!(got[2].0, "last");
    }

    #[test]
    fn many_lines_survive_batch_limits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        let mut f = File::create(&p).unwrap();
        for i in 0..20_000 {
            writeln!(f, "{i}").unwrap();
        }
        drop(f);
        let got = collect(&p, 0, 100);
        assert_eq!(got.len(), 20_000);
        for (i, l) in got.iter().enumerate() {
            assert_eq!(l.0, i.to_string());
        }
    }

    /// The parse stage parses each line in step with `lines`: oversized lines have no parse, bad
    /// lines their rejection, good ones their event.
    #[test]
    fn the_parse_stage_parses_in_step_with_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        let good = |id: &str| {
            format!(
                r#"{{"kind":"feedback","id":"{id}","model":"m","ts":"2026-01-01T00:00:00Z","label":"1"}}"#
            )
        };
        let long = format!(r#"{{"pad":"{}"}}"#, "x".repeat(300));
        std::fs::write(
            &p,
            format!(
                "{}\n{long}\n{}\nnot json\n{}",
                good("a"),
                good("b"),
                good("c")
            ),
        )
        .unwrap();
        let mut rx = spawn_reader(ReaderOptions {
            input: Input::Path(p),
            start: 0,
            follow: false,
            poll_interval: Duration::from_millis(10),
            max_line: 200,
            parse: Some(ParseOptions::default()),
        });
        let mut seen = Vec::new();
        while let Some(m) = rx.blocking_recv() {
            match m {
                FileMsg::Batch(b) => {
                    assert_eq!(b.parsed.len(), b.lines.len());
                    for (l, parsed) in b.lines.iter().zip(b.parsed) {
                        seen.push(match parsed {
                            None => {
                                assert!(l.oversized);
                                "oversized".to_owned()
                            }
                            Some(Ok(ev)) => ev.get().id.to_string(),
                            Some(Err(r)) => r.reason.as_str().to_owned(),
                        });
                    }
                }
                FileMsg::Eof => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, ["a", "oversized", "b", "invalid_json", "c"]);
    }

    #[test]
    fn follow_sees_appends_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl");
        std::fs::write(&p, "one\n").unwrap();
        let mut rx = spawn_reader(ReaderOptions {
            input: Input::Path(p.clone()),
            start: 0,
            follow: true,
            poll_interval: Duration::from_millis(10),
            max_line: 100,
            parse: None,
        });
        let mut next_line = || match rx.blocking_recv().unwrap() {
            FileMsg::Batch(b) => {
                let l = b.lines[0];
                String::from_utf8_lossy(&b.data[l.start..l.end]).into_owned()
            }
            FileMsg::Reset => "<reset>".into(),
            m => panic!("{m:?}"),
        };
        assert_eq!(next_line(), "one");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(next_line(), "two");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "three\n").unwrap();
        assert_eq!(next_line(), "<reset>");
        assert_eq!(next_line(), "three");
    }
}
