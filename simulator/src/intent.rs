//! `sessions.jsonl` (optional, `--sessions`): what the simulator meant to put on the wire, one
//! record per session — so an independent decoder (tshark) can be checked against intent.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::render::{Proto, Rendered};
use crate::session::{DnsType, Session, SessionKind};
use crate::truth::epoch_secs;

#[derive(Serialize)]
struct HttpIntent<'a> {
    method: &'a str,
    host: &'a str,
    uri: &'a str,
    user_agent: &'a str,
}

#[derive(Serialize)]
struct DnsIntent<'a> {
    name: &'a str,
    qtype: &'static str,
    answers: &'a [IpAddr],
}

#[derive(Serialize)]
struct Record<'a> {
    ts: f64,
    kind: &'static str,
    proto: Proto,
    src_ip: IpAddr,
    src_port: u16,
    dst_ip: IpAddr,
    dst_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    http: Vec<HttpIntent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<DnsIntent<'a>>,
    bytes_orig: u64,
    bytes_resp: u64,
    packets: usize,
}

pub struct IntentWriter {
    out: BufWriter<File>,
}

impl IntentWriter {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(IntentWriter {
            out: BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        })
    }

    pub fn write(&mut self, s: &Session, r: &Rendered) -> Result<()> {
        let f = &r.flow;
        let mut rec = Record {
            ts: epoch_secs(f.ts_start),
            kind: "",
            proto: f.proto,
            src_ip: f.src_ip,
            src_port: f.src_port,
            dst_ip: f.dst_ip,
            dst_port: f.dst_port,
            sni: None,
            http: Vec::new(),
            dns: None,
            bytes_orig: f.bytes_orig,
            bytes_resp: f.bytes_resp,
            packets: r.packets.len(),
        };
        match &s.kind {
            SessionKind::Dns(d) => {
                rec.kind = "dns";
                rec.dns = Some(DnsIntent {
                    name: &d.name,
                    qtype: match d.qtype {
                        DnsType::A => "A",
                        DnsType::Aaaa => "AAAA",
                    },
                    answers: &d.answers,
                });
            }
            SessionKind::Http(ex) => {
                rec.kind = "http";
                rec.http = ex
                    .iter()
                    .map(|e| HttpIntent {
                        method: e.method,
                        host: &e.host,
                        uri: &e.uri,
                        user_agent: &e.user_agent,
                    })
                    .collect();
            }
            SessionKind::Tls(t) => {
                rec.kind = "tls";
                rec.sni = t.sni.as_deref();
            }
            SessionKind::Failed(_) => rec.kind = "failed",
            SessionKind::Ntp => rec.kind = "ntp",
            SessionKind::Raw(_) => rec.kind = "raw",
            SessionKind::Media(_) => rec.kind = "media",
        }
        serde_json::to_writer(&mut self.out, &rec)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
