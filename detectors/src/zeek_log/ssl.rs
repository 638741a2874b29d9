//! ssl.log: one record per TLS connection. Zeek's default columns, then the leaf certificate's
//! subject and issuer, `validation_status` (only "self signed certificate" is claimed: we hold
//! no root store, so anything else stays unset) and the JA3, JA3S and JA4 client/server
//! fingerprints as the community packages name them.

use super::{Schema, Val};
use crate::flow::Flow;
use crate::proto::tls::{TlsInfo, alert_name, cipher_name, curve_name, version_name};

pub static SCHEMA: Schema = Schema {
    path: "ssl",
    fields: &[
        ("ts", "time"),
        ("uid", "string"),
        ("id.orig_h", "addr"),
        ("id.orig_p", "port"),
        ("id.resp_h", "addr"),
        ("id.resp_p", "port"),
        ("version", "string"),
        ("cipher", "string"),
        ("curve", "string"),
        ("server_name", "string"),
        ("resumed", "bool"),
        ("last_alert", "string"),
        ("next_protocol", "string"),
        ("established", "bool"),
        ("ssl_history", "string"),
        ("cert_chain_fps", "vector[string]"),
        ("client_cert_chain_fps", "vector[string]"),
        ("sni_matches_cert", "bool"),
        ("subject", "string"),
        ("issuer", "string"),
        ("validation_status", "string"),
        ("ja3", "string"),
        ("ja3s", "string"),
        ("ja4", "string"),
    ],
};

/// `ts` is when the connection started, as in Zeek.
pub fn row<'a>(f: &'a Flow, t: &'a TlsInfo) -> Vec<Val<'a>> {
    let leaf = t.certs.first().filter(|c| c.parsed);
    let fps = |certs: &[crate::proto::tls::CertInfo]| Val::Strs(certs.iter().map(|c| c.sha256.clone()).collect());
    vec![
        Val::Time(f.ts_first),
        Val::Str(&f.uid),
        Val::Addr(f.id.orig),
        Val::Port(f.id.orig_port),
        Val::Addr(f.id.resp),
        Val::Port(f.id.resp_port),
        t.version.map_or(Val::Unset, |v| Val::Owned(version_name(v))),
        t.cipher.map_or(Val::Unset, |c| Val::Owned(cipher_name(c))),
        t.curve.map_or(Val::Unset, |c| Val::Owned(curve_name(c))),
        Val::opt_str(t.server_name.as_deref()),
        Val::Bool(t.resumed),
        t.last_alert.map_or(Val::Unset, |a| Val::Owned(alert_name(a))),
        Val::opt_str(t.alpn_selected.as_deref()),
        Val::Bool(t.established),
        Val::Str(&t.history),
        // TLS 1.3 hides certificates: Zeek leaves the chain unset then.
        if t.certs.is_empty() { Val::Unset } else { fps(&t.certs) },
        if t.certs.is_empty() {
            Val::Unset
        } else {
            fps(&t.client_certs)
        },
        t.sni_matches_cert().map_or(Val::Unset, Val::Bool),
        leaf.map_or(Val::Unset, |c| Val::Str(&c.subject)),
        leaf.map_or(Val::Unset, |c| Val::Str(&c.issuer)),
        match leaf {
            Some(c) if c.self_signed => Val::Str("self signed certificate"),
            _ => Val::Unset,
        },
        Val::opt_str(t.ja3.as_deref()),
        Val::opt_str(t.ja3s.as_deref()),
        Val::opt_str(t.ja4.as_deref()),
    ]
}
