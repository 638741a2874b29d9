//! The streaming pipeline: capture → decode → flows → protocol events → models → alerts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::alert::Alert;
use crate::capture::{CaptureError, CaptureReader, Frame};
use crate::config::Thresholds;
use crate::decode::{Packet, decode};
use crate::event::Event;
use crate::flow::{Flow, FlowTable, Timeouts};
use crate::life::Life;
use crate::models::{self, Model};
use crate::net::Cidr;
use crate::proto::dns::{self, AnswerData};
use crate::proto::http::Message;
use crate::zeek_log::ConnLog;

/// Most requests kept waiting for a response on one connection (pipelining bound).
const MAX_PENDING: usize = 64;

#[derive(Clone, Debug)]
pub struct Options {
    /// The organisation's address space; devices are internal addresses.
    pub internal: Vec<Cidr>,
    /// Learning period from the first packet, in seconds.
    pub learning_secs: u64,
    pub thresholds: Thresholds,
    /// Also write Zeek-format logs.
    pub zeek_logs: bool,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub packets: u64,
    /// Frames that were not IP or could not be decoded.
    pub skipped: u64,
    pub flows: u64,
    pub alerts: BTreeMap<String, u64>,
    pub alerts_path: PathBuf,
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
    life: Life,
    models: Vec<Box<dyn Model>>,
    alerts: BufWriter<File>,
    alerts_path: PathBuf,
    conn_log: Option<ConnLog>,
    io_error: Option<RunError>,
    summary: Summary,
    scratch: Vec<Alert>,
    ended: Vec<Flow>,
}

/// Runs every model over `capture`, writing `out_dir/alerts.jsonl` (and Zeek logs if asked).
pub fn run(capture: &Path, out_dir: &Path, opts: &Options) -> Result<Summary, RunError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::Io { path, source }
    };
    let mut reader = CaptureReader::open(capture).map_err(RunError::Open)?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let alerts_path = out_dir.join("alerts.jsonl");
    let alerts = BufWriter::new(File::create(&alerts_path).map_err(io(&alerts_path))?);
    let conn_path = out_dir.join("conn.log");
    let conn_log = if opts.zeek_logs {
        Some(ConnLog::create(&conn_path).map_err(io(&conn_path))?)
    } else {
        None
    };
    let mut engine = Engine {
        table: FlowTable::new(Timeouts::default()),
        life: Life::new(opts.internal.clone(), opts.learning_secs.saturating_mul(1_000_000_000)),
        models: models::all(&opts.thresholds),
        alerts,
        alerts_path: alerts_path.clone(),
        conn_log,
        io_error: None,
        summary: Summary {
            alerts_path,
            ..Summary::default()
        },
        scratch: Vec::new(),
        ended: Vec::new(),
    };
    let outcome = reader.for_each(|frame| engine.frame(frame));
    engine.finish(outcome.err())
}

fn dispatch(models: &mut [Box<dyn Model>], life: &Life, ev: &Event<'_>, out: &mut Vec<Alert>) {
    for m in models.iter_mut() {
        m.on_event(ev, life, out);
    }
}

impl Engine {
    fn frame(&mut self, frame: &Frame<'_>) {
        match decode(frame.ts, frame.linktype, frame.data) {
            Ok(p) => self.packet(&p),
            Err(_) => self.summary.skipped += 1,
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
            ..
        } = self;
        if update.new {
            let flow = table.get(update.flow);
            dispatch(models, life, &Event::FlowStart { ts: p.ts, flow }, scratch);
            life.observe_flow_start(p.ts, flow.id.orig, flow.id.resp);
        }
        if p.proto == 6 && p.payload_len > 0 {
            let flow = table.get_mut(update.flow);
            if !flow.app.not_http
                && let Some(t) = p.tcp
            {
                let mut msgs = Vec::new();
                let stream = if update.from_orig {
                    &mut flow.app.http_orig
                } else {
                    &mut flow.app.http_resp
                };
                stream.feed(t.seq, p.payload, p.payload_len, update.from_orig, &mut msgs);
                if stream.is_broken() && stream.messages == 0 {
                    flow.app.not_http = true;
                }
                for m in msgs {
                    match m {
                        Message::Request(r) => {
                            flow.service = Some("http");
                            dispatch(
                                models,
                                life,
                                &Event::HttpRequest {
                                    ts: p.ts,
                                    flow,
                                    request: &r,
                                },
                                scratch,
                            );
                            if flow.app.pending.len() < MAX_PENDING {
                                flow.app.pending.push_back(r);
                            }
                        }
                        Message::Response(_) => {
                            flow.app.pending.pop_front();
                        }
                    }
                }
            }
        } else if p.proto == 17 && (p.src_port == 53 || p.dst_port == 53) && !p.payload.is_empty() {
            let flow = table.get_mut(update.flow);
            if let Some(msg) = dns::parse(p.payload) {
                flow.service = Some("dns");
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
                        life.observe_dns(p.dst, name, &addrs);
                    }
                }
            }
        }
        self.flush_alerts();
    }

    fn flow_end(&mut self, f: Flow, now: u64) {
        self.summary.flows += 1;
        if let Some(log) = &mut self.conn_log
            && let Err(e) = log.write(&f)
        {
            self.io_error.get_or_insert(RunError::Io {
                path: "conn.log".into(),
                source: e,
            });
        }
        dispatch(
            &mut self.models,
            &self.life,
            &Event::FlowEnd {
                ts: now.max(f.ts_last),
                flow: &f,
            },
            &mut self.scratch,
        );
        self.flush_alerts();
    }

    fn flush_alerts(&mut self) {
        for a in self.scratch.drain(..) {
            *self.summary.alerts.entry(a.model.clone()).or_default() += 1;
            let r = serde_json::to_writer(&mut self.alerts, &a)
                .map_err(std::io::Error::from)
                .and_then(|()| self.alerts.write_all(b"\n"));
            if let Err(e) = r {
                self.io_error.get_or_insert(RunError::Io {
                    path: self.alerts_path.clone(),
                    source: e,
                });
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
        let path = self.alerts_path.clone();
        self.alerts.flush().map_err(|source| RunError::Io { path, source })?;
        if let Some(log) = self.conn_log {
            log.finish().map_err(|source| RunError::Io {
                path: "conn.log".into(),
                source,
            })?;
        }
        self.summary.capture_error = capture_error;
        Ok(self.summary)
    }
}
