//! http.log: one record per request/response transaction. File-analysis columns (fuids,
//! file names, MIME types) are left unset: we do not extract files.

use super::{Schema, Val};
use crate::flow::Flow;
use crate::proto::http::Transaction;

pub static SCHEMA: Schema = Schema {
    path: "http",
    fields: &[
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("trans_depth", "count"),
        ("method", "string"),
        ("host", "string"),
        ("uri", "string"),
        ("referrer", "string"),
        ("version", "string"),
        ("user_agent", "string"),
        ("origin", "string"),
        ("request_body_len", "count"),
        ("response_body_len", "count"),
        ("status_code", "count"),
        ("status_msg", "string"),
        ("info_code", "count"),
        ("info_msg", "string"),
        ("tags", "set[enum]"),
        ("username", "string"),
        ("password", "string"),
        ("proxied", "set[string]"),
        ("orig_fuids", "vector[string]"),
        ("orig_filenames", "vector[string]"),
        ("orig_mime_types", "vector[string]"),
        ("resp_fuids", "vector[string]"),
        ("resp_filenames", "vector[string]"),
        ("resp_mime_types", "vector[string]"),
    ],
};

pub fn row<'a>(f: &'a Flow, t: &'a Transaction) -> Vec<Val<'a>> {
    let r = &t.request;
    let has_request = !r.method.is_empty();
    let req_str = |s: &'a str| if has_request { Val::Str(s) } else { Val::Unset };
    // Zeek takes the version from the response's status line.
    let version = t.response.as_ref().map(|resp| format!("1.{}", resp.version));
    let mut row = vec![
        Val::Time(t.ts),
        Val::Str(&f.uid),
        Val::Addr(f.id.orig),
        Val::Port(f.id.orig_port),
        Val::Addr(f.id.resp),
        Val::Port(f.id.resp_port),
        Val::Count(t.depth.max(1)),
        req_str(&r.method),
        Val::opt_str(r.host.as_deref()),
        req_str(&r.uri),
        Val::opt_str(r.referrer.as_deref()),
        version.map_or(Val::Unset, Val::Owned),
        Val::opt_str(r.user_agent.as_deref()),
        Val::opt_str(r.origin.as_deref()),
        Val::Count(t.request_body_len),
        Val::Count(t.response_body_len),
        Val::opt_count(t.response.as_ref().map(|x| u64::from(x.status))),
        t.response.as_ref().map_or(Val::Unset, |x| Val::Str(&x.reason)),
        Val::opt_count(t.info.as_ref().map(|x| u64::from(x.0))),
        t.info.as_ref().map_or(Val::Unset, |x| Val::Str(&x.1)),
        Val::Strs(Vec::new()),
    ];
    row.extend(std::iter::repeat_n(Val::Unset, SCHEMA.fields.len() - row.len()));
    row
}
