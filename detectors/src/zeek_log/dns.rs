//! dns.log: one record per query/response exchange.

use super::{Schema, Val};
use crate::flow::Flow;
use crate::proto::dns::Transaction;

pub static SCHEMA: Schema = Schema {
    path: "dns",
    fields: &[
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("proto", "enum"),
        ("trans_id", "count"),
        ("rtt", "interval"),
        ("query", "string"),
        ("qclass", "count"),
        ("qclass_name", "string"),
        ("qtype", "count"),
        ("qtype_name", "string"),
        ("rcode", "count"),
        ("rcode_name", "string"),
        ("AA", "bool"),
        ("TC", "bool"),
        ("RD", "bool"),
        ("RA", "bool"),
        ("Z", "count"),
        ("answers", "vector[string]"),
        ("TTLs", "vector[interval]"),
        ("rejected", "bool"),
        ("opcode", "count"),
        ("opcode_name", "string"),
    ],
};

pub fn qclass_name(c: u16) -> String {
    match c {
        1 => "C_INTERNET".into(),
        3 => "C_CHAOS".into(),
        4 => "C_HESIOD".into(),
        254 => "C_NONE".into(),
        255 => "C_ANY".into(),
        c => format!("unknown-{c}"),
    }
}

pub fn qtype_name(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        32 => "NIMLOC",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        252 => "AXFR",
        255 => "*",
        t => return format!("query-{t}"),
    };
    name.into()
}

pub fn rcode_name(r: u8) -> String {
    let name = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        r => return format!("unknown-{r}"),
    };
    name.into()
}

fn opcode_name(op: u8, netbios: bool) -> String {
    let base = match op {
        0 => "query",
        1 => "iquery",
        2 => "status",
        4 => "notify",
        5 => "update",
        op => return format!("unknown-{op}"),
    };
    if netbios {
        format!("netbios-{base}")
    } else {
        base.into()
    }
}

pub fn row<'a>(f: &'a Flow, t: &'a Transaction) -> Vec<Val<'a>> {
    vec![
        Val::Time(t.ts),
        Val::Str(&f.uid),
        Val::Addr(f.id.orig),
        Val::Port(f.id.orig_port),
        Val::Addr(f.id.resp),
        Val::Port(f.id.resp_port),
        Val::Str(f.id.proto_name()),
        Val::Count(u64::from(t.id)),
        t.rtt.map_or(Val::Unset, Val::Interval),
        Val::opt_str(t.query.as_deref()),
        Val::opt_count(t.qclass.map(u64::from)),
        t.qclass.map_or(Val::Unset, |c| Val::Owned(qclass_name(c))),
        Val::opt_count(t.qtype.map(u64::from)),
        t.qtype.map_or(Val::Unset, |q| Val::Owned(qtype_name(q))),
        Val::opt_count(t.rcode.map(u64::from)),
        t.rcode.map_or(Val::Unset, |r| Val::Owned(rcode_name(r))),
        Val::Bool(t.aa),
        Val::Bool(t.tc),
        Val::Bool(t.rd),
        Val::Bool(t.ra),
        Val::Count(u64::from(t.z)),
        if t.answers.is_empty() {
            Val::Unset
        } else {
            Val::Strs(t.answers.clone())
        },
        if t.ttls.is_empty() {
            Val::Unset
        } else {
            Val::Intervals(t.ttls.clone())
        },
        Val::Bool(t.rejected),
        Val::Count(u64::from(t.opcode)),
        Val::Owned(opcode_name(t.opcode, t.netbios)),
    ]
}
