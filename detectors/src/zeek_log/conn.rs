//! conn.log: one record per flow, Zeek's default columns plus `community_id` (as Zeek's
//! community-id policy script adds it).

use super::{Schema, Val};
use crate::flow::Flow;
use crate::net::Cidr;

pub static SCHEMA: Schema = Schema {
    path: "conn",
    fields: &[
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("proto", "enum"),
        ("service", "string"),
        ("duration", "interval"),
        ("orig_bytes", "count"),
        ("resp_bytes", "count"),
        ("conn_state", "string"),
        ("local_orig", "bool"),
        ("local_resp", "bool"),
        ("missed_bytes", "count"),
        ("history", "string"),
        ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"),
        ("resp_pkts", "count"),
        ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
        ("ip_proto", "count"),
        ("community_id", "string"),
    ],
};

pub fn row<'a>(f: &'a Flow, internal: &[Cidr]) -> Vec<Val<'a>> {
    // Zeek leaves duration and byte counts unset for a connection of a single packet.
    let single = f.orig.pkts + f.resp.pkts <= 1;
    let unless_single = |v: Val<'a>| if single { Val::Unset } else { v };
    let local = |ip| internal.iter().any(|c| c.contains(ip));
    vec![
        Val::Time(f.ts_first),
        Val::Str(&f.uid),
        Val::Addr(f.id.orig),
        Val::Port(f.id.orig_port),
        Val::Addr(f.id.resp),
        Val::Port(f.id.resp_port),
        Val::Str(f.id.proto_name()),
        f.service().map_or(Val::Unset, Val::Owned),
        unless_single(Val::Interval(f.duration_ns())),
        unless_single(Val::Count(f.orig_bytes())),
        unless_single(Val::Count(f.resp_bytes())),
        Val::Str(f.conn_state()),
        Val::Bool(local(f.id.orig)),
        Val::Bool(local(f.id.resp)),
        Val::Count(f.missed_bytes()),
        if f.history.is_empty() {
            Val::Unset
        } else {
            Val::Str(&f.history)
        },
        Val::Count(f.orig.pkts),
        Val::Count(f.orig.ip_bytes),
        Val::Count(f.resp.pkts),
        Val::Count(f.resp.ip_bytes),
        Val::Unset,
        Val::Count(u64::from(f.id.proto)),
        Val::Str(&f.community_id),
    ]
}
