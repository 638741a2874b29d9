//! Time-ordered merge of all sessions' packets into a pcapng or pcap file.
//!
//! Memory is bounded by the sessions open at one moment, not by the simulated span: sources
//! yield sessions lazily in start order, each session is rendered when it starts, and a heap
//! keyed by (time, stable id) interleaves their packets. The stable id makes ties deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{Endianness, TsResolution};

use crate::render::{Packet, Rendered, render};
use crate::scenario::CaptureFormat;
use crate::session::Session;

pub const SNAPLEN: u32 = 262_144;

/// A capture file being written.
pub enum CaptureWriter {
    Pcapng(PcapNgWriter<BufWriter<File>>),
    Pcap(PcapWriter<BufWriter<File>>),
}

impl CaptureWriter {
    pub fn create(path: &Path, format: CaptureFormat) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        Ok(match format {
            CaptureFormat::Pcapng => {
                // Fixed byte order and no host-specific options: the same seed gives the same
                // bytes on every machine.
                let shb = SectionHeaderBlock {
                    endianness: Endianness::Little,
                    options: vec![SectionHeaderOption::UserApplication("netbehave simulator".into())],
                    ..Default::default()
                };
                let mut w = PcapNgWriter::with_section_header(out, shb)?;
                // pcap-file writes EPB timestamps in nanoseconds, so declare if_tsresol = 9.
                let idb = InterfaceDescriptionBlock {
                    linktype: DataLink::ETHERNET,
                    snaplen: SNAPLEN,
                    options: vec![
                        InterfaceDescriptionOption::IfTsResol(9),
                        InterfaceDescriptionOption::IfName("sim0".into()),
                    ],
                };
                w.write_pcapng_block(idb)?;
                CaptureWriter::Pcapng(w)
            }
            CaptureFormat::Pcap => {
                let header = PcapHeader {
                    version_major: 2,
                    version_minor: 4,
                    ts_correction: 0,
                    ts_accuracy: 0,
                    snaplen: SNAPLEN,
                    datalink: DataLink::ETHERNET,
                    ts_resolution: TsResolution::NanoSecond,
                    endianness: Endianness::Little,
                };
                CaptureWriter::Pcap(PcapWriter::with_header(out, header)?)
            }
        })
    }

    pub fn write(&mut self, p: &Packet, data: &[u8], comment: Option<&str>) -> Result<()> {
        let ts = StdDuration::from_nanos(p.ts);
        match self {
            CaptureWriter::Pcapng(w) => {
                let options = comment
                    .map(|c| vec![EnhancedPacketOption::Comment(c.into())])
                    .unwrap_or_default();
                w.write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: ts,
                    original_len: p.orig_len,
                    data: data.into(),
                    options,
                })?;
            }
            CaptureWriter::Pcap(w) => {
                w.write_packet(&PcapPacket {
                    timestamp: ts,
                    orig_len: p.orig_len,
                    data: data.into(),
                })?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let mut out = match self {
            CaptureWriter::Pcapng(w) => w.into_inner(),
            CaptureWriter::Pcap(w) => w.into_writer(),
        };
        out.flush()?;
        Ok(())
    }
}

struct Active {
    rendered: Rendered,
    next: usize,
}

/// Counts from one merge.
#[derive(Clone, Copy, Debug, Default)]
pub struct MergeStats {
    pub sessions: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Merges `sources` (each in non-decreasing start order) into `writer`; `on_session` sees every
/// session once it is rendered (for truth records).
pub fn merge<'a>(
    sources: Vec<Box<dyn Iterator<Item = Session> + 'a>>,
    writer: &mut CaptureWriter,
    mut on_session: impl FnMut(&Session, &Rendered) -> Result<()>,
) -> Result<MergeStats> {
    let mut sources = sources;
    let n_sources = sources.len() as u64;
    let mut pending: Vec<Option<Session>> = sources.iter_mut().map(|s| s.next()).collect();
    // (time, order, slot): slot < n_sources is a source; otherwise an index into `active`.
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    for (i, s) in pending.iter().enumerate() {
        if let Some(s) = s {
            heap.push(Reverse((s.start, i as u64, i)));
        }
    }
    let mut active: Vec<Option<Active>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut order = n_sources;
    let mut stats = MergeStats::default();
    while let Some(Reverse((_, _, slot))) = heap.pop() {
        if (slot as u64) < n_sources {
            let Some(session) = pending[slot].take() else {
                continue;
            };
            let rendered = render(&session);
            on_session(&session, &rendered)?;
            stats.sessions += 1;
            if let Some(next) = sources[slot].next() {
                debug_assert!(next.start >= session.start, "source yielded sessions out of order");
                heap.push(Reverse((next.start.max(session.start), slot as u64, slot)));
                pending[slot] = Some(next);
            }
            if let Some(first) = rendered.packets.first() {
                let ts = first.ts;
                let idx = free.pop().unwrap_or_else(|| {
                    active.push(None);
                    active.len() - 1
                });
                active[idx] = Some(Active { rendered, next: 0 });
                heap.push(Reverse((ts, order, n_sources as usize + idx)));
                order += 1;
            }
        } else {
            let idx = slot - n_sources as usize;
            let Some(a) = active[idx].as_mut() else {
                continue;
            };
            // Write this session's packets while they stay strictly earlier than anything else
            // pending: the heap would return them next anyway, so skip its push/pop.
            loop {
                let p = &a.rendered.packets[a.next];
                writer.write(p, p.data(&a.rendered.buf), a.rendered.comment.as_deref())?;
                stats.packets += 1;
                stats.bytes += u64::from(p.len);
                a.next += 1;
                match a.rendered.packets.get(a.next) {
                    Some(p) if heap.peek().is_none_or(|Reverse((ts, _, _))| p.ts < *ts) => {}
                    Some(p) => {
                        heap.push(Reverse((p.ts, order, slot)));
                        order += 1;
                        break;
                    }
                    None => {
                        active[idx] = None;
                        free.push(idx);
                        break;
                    }
                }
            }
        }
    }
    Ok(stats)
}
