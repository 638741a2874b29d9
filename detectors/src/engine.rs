//! The streaming pipeline: capture → decode → flows → protocol events → models → alerts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::alert::Alert;
use crate::capture::{CaptureError, CaptureReader, Frame};
use crate::config::Thresholds;
use crate::decode::{Decoded, Packet, Skip, decode_datagram, decode_frame};
use crate::defrag::Defrag;
use crate::event::Event;
use crate::flow::{Flow, FlowTable, Timeouts};
use crate::incidents::Correlator;
use crate::life::Life;
use crate::models::{self, Model};
use crate::net::Cidr;
use crate::proto::dns::{self, AnswerData};
use crate::proto::http;
use crate::zeek_log::{self, LogFormat, LogWriter};

/// UDP ports whose payload is DNS-formatted: DNS, NetBIOS name service, mDNS, LLMNR.
fn dns_port(port: u16) -> bool {
    matches!(port, 53 | 137 | 5353 | 5355)
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The organisation's address space; devices are internal addresses.
    pub internal: Vec<Cidr>,
    /// Learning period from the first packet, in seconds.
    pub learning_secs: u64,
    pub thresholds: Thresholds,
    /// Also write Zeek-format logs (conn, http, dns, ssl) in this format.
    pub zeek_logs: Option<LogFormat>,
}

#[derive(Debug, Default)]
pub struct Summary {
    /// IP packets processed (a reassembled datagram counts once).
    pub packets: u64,
    /// Frames that were not IP or could not be decoded.
    pub skipped: u64,
    /// Frames that were IP fragments (reassembled into packets where complete).
    pub fragments: u64,
    /// Frames captured shorter than they were on the wire (a snap length): normal for
    /// header-only captures; byte counts still come from the headers.
    pub snapped: u64,
    /// Frames that could not be decoded, by Zeek weird name: (count, first record number).
    pub weirds: BTreeMap<&'static str, (u64, u64)>,
    pub flows: u64,
    pub alerts: BTreeMap<String, u64>,
    pub alerts_path: PathBuf,
    /// Incidents raised (incidents.jsonl) and responses decided (responses.jsonl).
    pub incidents: u64,
    pub responses: u64,
    /// The capture was damaged after the packets counted above; outputs cover them.
    pub capture_error: Option<CaptureError>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file could not be opened or is not a capture at all.
    #[error("{0}")]
    Open(CaptureError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

struct Engine {
    table: FlowTable,
    defrag: Defrag,
    life: Life,
    models: Vec<Box<dyn Model>>,
    alerts: JsonLines,
    correlator: Correlator,
    incidents: JsonLines,
    responses: JsonLines,
    logs: Option<Logs>,
    internal: Vec<Cidr>,
    io_error: Option<RunError>,
    summary: Summary,
    scratch: Vec<Alert>,
    ended: Vec<Flow>,
    requests: Vec<http::Request>,
    http_done: Vec<http::Transaction>,
    dns_done: Vec<dns::Transaction>,
}

/// A JSON-lines output file; the first write error is kept.
struct JsonLines {
    out: BufWriter<File>,
    path: PathBuf,
}

impl JsonLines {
    fn create(path: PathBuf) -> Result<Self, RunError> {
        match File::create(&path) {
            Ok(f) => Ok(JsonLines {
                out: BufWriter::new(f),
                path,
            }),
            Err(source) => Err(RunError::Io { path, source }),
        }
    }

    fn write(&mut self, value: &impl serde::Serialize, err: &mut Option<RunError>) {
        let r = serde_json::to_writer(&mut self.out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(source) = r {
            err.get_or_insert(RunError::Io {
                path: self.path.clone(),
                source,
            });
        }
    }

    fn finish(mut self) -> Result<(), RunError> {
        self.out.flush().map_err(|source| RunError::Io {
            path: self.path,
            source,
        })
    }
}

/// The Zeek-format logs being written.
struct Logs {
    conn: LogWriter,
    http: LogWriter,
    dns: LogWriter,
    ssl: LogWriter,
    weird: LogWriter,
}

impl Logs {
    fn create(dir: &Path, format: LogFormat) -> Result<Logs, RunError> {
        let open = |schema| {
            LogWriter::create(dir, schema, format).map_err(|source| RunError::Io {
                path: dir.join(format!("{}.log", schema.path)),
                source,
            })
        };
        Ok(Logs {
            conn: open(&zeek_log::conn::SCHEMA)?,
            http: open(&zeek_log::http::SCHEMA)?,
            dns: open(&zeek_log::dns::SCHEMA)?,
            ssl: open(&zeek_log::ssl::SCHEMA)?,
            weird: open(&zeek_log::weird::SCHEMA)?,
        })
    }

    fn finish(self) -> Result<(), RunError> {
        for log in [self.conn, self.http, self.dns, self.ssl, self.weird] {
            let path = log.file().to_owned();
            log.finish().map_err(|source| RunError::Io { path, source })?;
        }
        Ok(())
    }
}

/// Keeps the first write error of a log (later records are still attempted).
fn log_write(log: &mut LogWriter, row: &[zeek_log::Val<'_>], err: &mut Option<RunError>) {
    if let Err(source) = log.write(row) {
        err.get_or_insert(RunError::Io {
            path: log.file().to_owned(),
            source,
        });
    }
}

/// Runs every model over `capture`, writing `out_dir/alerts.jsonl` (and Zeek logs if asked).
pub fn run(capture: &Path, out_dir: &Path, opts: &Options) -> Result<Summary, RunError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::Io { path, source }
    };
    let reader = CaptureReader::open(capture).map_err(RunError::Open)?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let alerts_path = out_dir.join("alerts.jsonl");
    let alerts = JsonLines::create(alerts_path.clone())?;
    let logs = match opts.zeek_logs {
        Some(format) => Some(Logs::create(out_dir, format)?),
        None => None,
    };
    let mut engine = Engine {
        table: FlowTable::new(Timeouts::default()),
        defrag: Defrag::default(),
        life: Life::new(opts.internal.clone(), opts.learning_secs.saturating_mul(1_000_000_000)),
        models: models::all(&opts.thresholds),
        alerts,
        correlator: Correlator::new(&opts.thresholds.incidents),
        incidents: JsonLines::create(out_dir.join("incidents.jsonl"))?,
        responses: JsonLines::create(out_dir.join("responses.jsonl"))?,
        logs,
        internal: opts.internal.clone(),
        io_error: None,
        summary: Summary {
            alerts_path,
            ..Summary::default()
        },
        scratch: Vec::new(),
        ended: Vec::new(),
        requests: Vec::new(),
        http_done: Vec::new(),
        dns_done: Vec::new(),
    };
    let outcome = read_ahead(reader, |frame| engine.frame(frame));
    engine.finish(outcome.err())
}

/// Frames copied out of the reader's buffer, to cross to the analysing thread in bulk.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// (ts, linktype, orig_len, record, end offset in `bytes`)
    frames: Vec<(u64, pcap_parser::Linktype, u32, u64, usize)>,
}

/// Frames per batch: large enough that the channel costs nothing per packet, small enough that
/// memory stays a few MiB.
const BATCH_FRAMES: usize = 4096;

/// Reads the capture on a second thread while `f` analyses on this one, in order: reading
/// (system calls, pcapng parsing) is about a third of the work, and the two overlap on a
/// multi-core machine. Output is identical to a single-threaded read; memory is bounded by the
/// channel's few batches in flight.
fn read_ahead(mut reader: CaptureReader, mut f: impl FnMut(&Frame<'_>)) -> Result<(), CaptureError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch>();
    let file = reader.file().to_owned();
    let handle = std::thread::spawn(move || {
        let mut batch = Batch::default();
        let outcome = reader.for_each(|frame| {
            batch.bytes.extend_from_slice(frame.data);
            batch.frames.push((
                frame.ts,
                frame.linktype,
                frame.orig_len,
                frame.record,
                batch.bytes.len(),
            ));
            if batch.frames.len() >= BATCH_FRAMES {
                let mut next = back_rx.try_recv().unwrap_or_default();
                next.bytes.clear();
                next.frames.clear();
                // The analysing side only goes away on a panic; stop reading then.
                let _ = tx.send(std::mem::replace(&mut batch, next));
            }
        });
        if !batch.frames.is_empty() {
            let _ = tx.send(batch);
        }
        outcome
    });
    for batch in rx.iter() {
        let mut start = 0;
        for &(ts, linktype, orig_len, record, end) in &batch.frames {
            f(&Frame {
                ts,
                linktype,
                data: &batch.bytes[start..end],
                orig_len,
                record,
            });
            start = end;
        }
        let _ = back_tx.send(batch);
    }
    handle.join().unwrap_or_else(|_| {
        Err(CaptureError {
            file,
            offset: 0,
            record: 0,
            what: "the capture reader thread failed".into(),
        })
    })
}

/// Every model judges the event against the pattern of life as it was; then the pattern of
/// life learns the event.
fn dispatch(models: &mut [Box<dyn Model>], life: &mut Life, ev: &Event<'_>, out: &mut Vec<Alert>) {
    for m in models.iter_mut() {
        m.on_event(ev, life, out);
    }
    life.observe(ev);
}

impl Engine {
    fn frame(&mut self, frame: &Frame<'_>) {
        self.summary.snapped += u64::from(frame.data.len() < frame.orig_len as usize);
        match decode_frame(frame.ts, frame.linktype, frame.data) {
            Ok(Decoded::Packet(p)) => self.packet(&p),
            Ok(Decoded::Fragment(f)) => {
                self.summary.fragments += 1;
                if let Some(datagram) = self.defrag.add(frame.ts, &f)
                    && let Ok(p) = decode_datagram(frame.ts, &datagram)
                {
                    self.packet(&p);
                }
            }
            Err(skip) => {
                self.summary.skipped += 1;
                let (name, source) = match skip {
                    Skip::Truncated(name) => (
                        name,
                        match name {
                            "truncated_ethernet_frame" | "truncated_link_header" => "ETHERNET",
                            "internally_truncated_header" => "TRANSPORT",
                            _ => "IP",
                        },
                    ),
                    Skip::UnsupportedLinktype(_) => ("unsupported_link_type", "LINK"),
                    Skip::NotIp | Skip::Fragment => return,
                };
                let entry = self.summary.weirds.entry(name).or_insert((0, frame.record));
                entry.0 += 1;
                if let Some(logs) = &mut self.logs {
                    let row = zeek_log::weird::row(frame.ts, name, frame.record, source);
                    log_write(&mut logs.weird, &row, &mut self.io_error);
                }
            }
        }
    }

    fn packet(&mut self, p: &Packet<'_>) {
        self.summary.packets += 1;
        self.life.observe_packet(p.ts);
        let mut ended = std::mem::take(&mut self.ended);
        self.table.expire(p.ts, &mut |f| ended.push(f));
        let update = self.table.update(p, &mut |f| ended.push(f));
        for f in ended.drain(..) {
            self.flow_end(f, p.ts);
        }
        self.ended = ended;

        let Engine {
            table,
            life,
            models,
            scratch,
            logs,
            io_error,
            requests,
            http_done,
            dns_done,
            ..
        } = self;
        if update.new {
            let flow = table.get(update.flow);
            dispatch(models, life, &Event::FlowStart { ts: p.ts, flow }, scratch);
        }
        if p.proto == 6 && p.payload_len > 0 {
            let flow = table.get_mut(update.flow);
            if !flow.app.http_off
                && let Some(t) = p.tcp
            {
                let conn = flow.app.http.get_or_insert_with(Default::default);
                let segment = http::Segment {
                    seq: t.seq,
                    captured: p.payload,
                    wire_len: p.payload_len,
                };
                conn.feed(p.ts, update.from_orig, segment, requests, http_done);
                if conn.not_http {
                    flow.app.http = None;
                    flow.app.http_off = true;
                }
                for request in requests.drain(..) {
                    flow.add_service("http");
                    dispatch(
                        models,
                        life,
                        &Event::HttpRequest {
                            ts: p.ts,
                            flow,
                            request: &request,
                        },
                        scratch,
                    );
                }
                if let Some(logs) = logs {
                    for tx in http_done.drain(..) {
                        log_write(&mut logs.http, &zeek_log::http::row(flow, &tx), io_error);
                    }
                }
                http_done.clear();
            }
            if !flow.app.tls_off
                && let Some(t) = p.tcp
            {
                let session = flow.app.tls.get_or_insert_with(Default::default);
                session.feed(update.from_orig, t.seq, p.payload, p.payload_len);
                let (gave_up, is_tls, done) = (session.gave_up(), session.is_tls(), session.is_done());
                if gave_up {
                    flow.app.tls = None;
                    flow.app.tls_off = true;
                } else if is_tls {
                    flow.add_service("ssl");
                    if done && !flow.app.tls_reported {
                        flow.app.tls_reported = true;
                        let flow = &*flow;
                        if let Some(session) = &flow.app.tls {
                            let info = session.info();
                            dispatch(models, life, &Event::Tls { ts: p.ts, flow, info }, scratch);
                        }
                    }
                }
            }
        } else if p.proto == 17 && (dns_port(p.src_port) || dns_port(p.dst_port)) && !p.payload.is_empty() {
            let flow = table.get_mut(update.flow);
            if let Some(msg) = dns::parse(p.payload) {
                flow.add_service("dns");
                if let Some(logs) = logs {
                    let netbios = p.src_port == 137 || p.dst_port == 137;
                    let state = flow.app.dns.get_or_insert_with(Default::default);
                    state.on_message(p.ts, &msg, netbios, dns_done);
                    for tx in dns_done.drain(..) {
                        log_write(&mut logs.dns, &zeek_log::dns::row(flow, &tx), io_error);
                    }
                }
                if msg.response
                    && let Some((name, _)) = &msg.query
                {
                    let addrs: Vec<IpAddr> = msg
                        .answers
                        .iter()
                        .filter_map(|a| match a.data {
                            AnswerData::Addr(ip) => Some(ip),
                            _ => None,
                        })
                        .collect();
                    if !addrs.is_empty() {
                        dispatch(
                            models,
                            life,
                            &Event::DnsAnswer {
                                ts: p.ts,
                                device: p.dst,
                                name,
                                addrs: &addrs,
                            },
                            scratch,
                        );
                    }
                }
            }
        }
        self.flush_alerts();
    }

    fn flow_end(&mut self, mut f: Flow, now: u64) {
        self.summary.flows += 1;
        if let Some(logs) = &mut self.logs {
            if let Some(conn) = &mut f.app.http {
                conn.close(&mut self.http_done);
                for tx in self.http_done.drain(..) {
                    log_write(&mut logs.http, &zeek_log::http::row(&f, &tx), &mut self.io_error);
                }
            }
            if let Some(session) = f.app.tls.as_ref().filter(|s| s.is_tls()) {
                log_write(
                    &mut logs.ssl,
                    &zeek_log::ssl::row(&f, session.info()),
                    &mut self.io_error,
                );
            }
            if let Some(state) = &mut f.app.dns {
                state.drain(&mut self.dns_done);
                for tx in self.dns_done.drain(..) {
                    log_write(&mut logs.dns, &zeek_log::dns::row(&f, &tx), &mut self.io_error);
                }
            }
            log_write(
                &mut logs.conn,
                &zeek_log::conn::row(&f, &self.internal),
                &mut self.io_error,
            );
        }
        if !f.app.tls_reported
            && let Some(session) = f.app.tls.as_ref().filter(|s| s.is_tls())
        {
            let ts = now.max(f.ts_last);
            let info = session.info();
            dispatch(
                &mut self.models,
                &mut self.life,
                &Event::Tls { ts, flow: &f, info },
                &mut self.scratch,
            );
        }
        dispatch(
            &mut self.models,
            &mut self.life,
            &Event::FlowEnd {
                ts: now.max(f.ts_last),
                flow: &f,
            },
            &mut self.scratch,
        );
        self.flush_alerts();
    }

    fn flush_alerts(&mut self) {
        for mut a in self.scratch.drain(..) {
            // Every alert lists the flows it rests on, its primary flow first.
            if a.flows.first() != Some(&a.flow) {
                a.flows.retain(|f| *f != a.flow);
                a.flows.insert(0, a.flow.clone());
            }
            *self.summary.alerts.entry(a.model.clone()).or_default() += 1;
            self.alerts.write(&a, &mut self.io_error);
            if let Some((incident, responses)) = self.correlator.on_alert(&a) {
                self.summary.incidents += 1;
                self.incidents.write(&incident, &mut self.io_error);
                for r in &responses {
                    self.summary.responses += 1;
                    self.responses.write(r, &mut self.io_error);
                }
            }
        }
    }

    fn finish(mut self, capture_error: Option<CaptureError>) -> Result<Summary, RunError> {
        let mut ended = Vec::new();
        self.table.drain(&mut |f| ended.push(f));
        let last = ended.iter().map(|f| f.ts_last).max().unwrap_or(0);
        for f in ended {
            self.flow_end(f, last);
        }
        if let Some(e) = self.io_error {
            return Err(e);
        }
        self.alerts.finish()?;
        self.incidents.finish()?;
        self.responses.finish()?;
        if let Some(logs) = self.logs {
            logs.finish()?;
        }
        self.summary.capture_error = capture_error;
        Ok(self.summary)
    }
}
