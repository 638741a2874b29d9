//! weird.log: frames that could not be decoded, named as Zeek names them.

use super::{Schema, Val};

pub static SCHEMA: Schema = Schema {
    path: "weird",
    fields: &[
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("name", "string"),
        ("addl", "string"),
        ("notice", "bool"),
        ("peer", "string"),
        ("source", "string"),
    ],
};

/// `source` is the layer that failed (`ETHERNET`, `IP`, `TCP`…); `addl` says where.
pub fn row<'a>(ts: u64, name: &'a str, record: u64, source: &'a str) -> Vec<Val<'a>> {
    vec![
        Val::Time(ts),
        Val::Unset,
        Val::Unset,
        Val::Unset,
        Val::Unset,
        Val::Unset,
        Val::Str(name),
        Val::Owned(format!("record {record}")),
        Val::Bool(false),
        Val::Str("detectors"),
        Val::Str(source),
    ]
}
