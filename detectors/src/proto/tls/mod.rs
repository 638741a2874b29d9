//! TLS metadata with Zeek's semantics (ssl.log, x509.log) and client/server fingerprints
//! (JA3, JA3S, JA4), from the TCP payload of one connection. Pure parsing: no I/O, capture time
//! only where the caller keeps it.
//!
//! Contract (as smoltcp's `wire`): nothing here panics on any input. Captures are hostile;
//! whatever cannot be read is skipped or ends the analysis of that connection, never the process.
//! Every buffer is bounded: one handshake message (64 KiB), 16 certificates per chain, 100
//! `ssl_history` letters.
//!
//! How it follows Zeek's SSL analyzer and `base/protocols/ssl/main.zeek`:
//! - `ssl_history` gets one letter per handshake message, change_cipher_spec, alert and heartbeat
//!   seen in plaintext (client upper case, server lower case; see [`TlsInfo::history`]). Records a
//!   direction sends after its change_cipher_spec are ciphertext and give no letter: the
//!   encrypted Finished of TLS ≤ 1.2 does not appear (`CsxknGIti`).
//! - `established` is set by the first ciphertext record seen while both directions are
//!   encrypted (both sent change_cipher_spec). In TLS 1.3 change_cipher_spec is compatibility
//!   noise that does not switch state; a direction counts as encrypted from its first
//!   application_data record after the ServerHello, which gives Zeek's `CsiI` + established.
//! - At `established` Zeek detaches its analyzer (`SSL::disable_analyzer_after_detection`), so
//!   nothing later is logged; this session likewise stops reading both directions then, and
//!   long flows cost nothing after their handshake. Zeek documents letters `D`
//!   (application_data) and `Q` (unknown content type) but its scripts never write them; neither
//!   does this module.
//! - A record header that is not TLS, a hello or certificate message that does not parse, or an
//!   unknown content type is a protocol violation: Zeek then disables the analyzer, and this
//!   session stops with what it has.
//!
//! STARTTLS: a direction whose first segment does not start a TLS record keeps checking later
//! segment starts (32 segments / 16 KiB) for a plausible first record: handshake with a
//! ClientHello (client) or ServerHello (server), or a lone alert from the server.
//!
//! Not covered: SSLv2-format hellos, connections where the responder sends the ClientHello
//! (Zeek's `^` flip), TLS that starts mid-segment after plaintext.

mod cert;
mod fingerprint;
mod hello;
mod names;
mod record;

pub use cert::{CertInfo, cert_matches_host, hostname_matches};
pub use names::{alert_name, cipher_name, curve_name, version_name};
pub use record::TlsDirection;

use hello::SessionId;

/// Lower-case hex digits (fingerprints and certificate hashes are printed without `fmt`: this
/// runs for every handshake in the capture).
const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}
use record::{Body, CONTENT_ALERT, CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE, Sink};

/// Zeek's `SSL::max_ssl_history_length`.
const MAX_HISTORY: usize = 100;
/// Certificates kept per chain; real chains have 2–5.
const MAX_CERTS: usize = 16;

const CONTENT_APPLICATION_DATA: u8 = 23;
const CONTENT_HEARTBEAT: u8 = 24;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_CLIENT_KEY_EXCHANGE: u8 = 16;

/// The facts of one TLS connection, as Zeek's ssl.log has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Negotiated version: ServerHello's, or its `supported_versions` extension (TLS 1.3).
    /// Name with [`version_name`].
    pub version: Option<u16>,
    /// Cipher suite the server chose ([`cipher_name`]).
    pub cipher: Option<u16>,
    /// ECDHE group: ServerKeyExchange's named curve, or the server's key_share ([`curve_name`]).
    pub curve: Option<u16>,
    /// SNI host name.
    pub server_name: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol the server chose (ssl.log `next_protocol`).
    pub alpn_selected: Option<String>,
    /// The session was resumed (same session ID, session ticket without key exchange, or an
    /// accepted pre-shared key).
    pub resumed: bool,
    /// Description code of the last plaintext alert ([`alert_name`]).
    pub last_alert: Option<u8>,
    pub established: bool,
    /// Zeek's `ssl_history`: H hello_request, C client_hello, S server_hello,
    /// V hello_verify_request, T new_session_ticket, X certificate, K server_key_exchange,
    /// R certificate_request, N server_hello_done, Y certificate_verify, G client_key_exchange,
    /// F finished, W certificate_url, U certificate_status, A supplemental_data,
    /// Z unassigned handshake type, I change_cipher_spec, B heartbeat, E end_of_early_data,
    /// O encrypted_extensions, P key_update, M message_hash, J hello_retry_request, L alert;
    /// upper case from the client, lower case from the server.
    pub history: String,
    /// JA3 of the (first) ClientHello: MD5 hex and the string it hashes.
    pub ja3: Option<String>,
    pub ja3_string: Option<String>,
    pub ja4: Option<String>,
    pub ja3s: Option<String>,
    /// Server chain, leaf first (TLS ≤ 1.2: TLS 1.3 certificates are encrypted).
    pub certs: Vec<CertInfo>,
    pub client_certs: Vec<CertInfo>,
}

impl TlsInfo {
    /// Zeek's `sni_matches_cert`: unset without SNI or without a readable leaf certificate.
    pub fn sni_matches_cert(&self) -> Option<bool> {
        let name = self.server_name.as_deref()?;
        let leaf = self.certs.first().filter(|c| c.parsed)?;
        Some(cert_matches_host(leaf, name))
    }

    /// ssl.log `cert_chain_fps`.
    pub fn cert_chain_fps(&self) -> Vec<&str> {
        self.certs.iter().map(|c| c.sha256.as_str()).collect()
    }
}

/// Connection-wide state that the two directions share.
#[derive(Clone, Debug, Default)]
struct State {
    info: TlsInfo,
    client_hello: bool,
    server_hello: bool,
    client_encrypted: bool,
    server_encrypted: bool,
    /// Analysis over: established (Zeek detaches its analyzer) or a protocol violation.
    done: bool,
    /// Zeek's `session_id` (only a non-zero one is kept) and resumption clues.
    session_id: Option<SessionId>,
    client_ticket_empty_session: bool,
    client_key_exchange: bool,
    client_psk: bool,
}

impl State {
    fn tls13(&self) -> bool {
        // Zeek's `determine_tls13`: 1.3 or one of its drafts (0x7fNN).
        self.info.version.is_some_and(|v| v == 0x0304 || v / 0xff == 0x7f)
    }

    fn letter(&mut self, from_client: bool, letter: char) {
        if self.info.history.len() < MAX_HISTORY {
            let l = if from_client {
                letter.to_ascii_uppercase()
            } else {
                letter
            };
            self.info.history.push(l);
        }
    }

    fn client_hello(&mut self, body: &[u8]) -> bool {
        let Some(ch) = hello::parse_client_hello(body) else {
            return false;
        };
        self.client_hello = true;
        if ch.server_name.is_some() {
            self.info.server_name = ch.server_name.clone();
        }
        self.info.alpn_offered = ch.alpn.iter().map(|p| hello::text(p)).collect();
        if self.info.ja3.is_none() {
            let (hash, string) = fingerprint::ja3(&ch);
            self.info.ja3 = Some(hash);
            self.info.ja3_string = Some(string);
            self.info.ja4 = Some(fingerprint::ja4(&ch));
        }
        // Zeek: a ticket with an empty session ID means "resume by ticket" (RFC 5077 §3.4).
        self.client_ticket_empty_session = ch.ticket;
        if ch.session_id != [0; 32] {
            self.session_id = Some(ch.session_id);
            self.client_ticket_empty_session = false;
        }
        self.client_psk = ch.psk;
        true
    }

    fn server_hello(&mut self, body: &[u8]) -> bool {
        let Some(sh) = hello::parse_server_hello(body) else {
            return false;
        };
        self.server_hello = true;
        self.letter(false, if sh.retry_request { 'j' } else { 's' });
        match sh.selected_version {
            Some(v) => self.info.version = Some(v),
            None if self.info.version.is_none() => self.info.version = Some(sh.version),
            None => {}
        }
        self.info.cipher = Some(sh.cipher);
        if let Some(group) = sh.key_share_group {
            self.info.curve = Some(group);
        }
        if sh.alpn.is_some() {
            self.info.alpn_selected = sh.alpn.clone();
        }
        if self.session_id == Some(sh.session_id) && !self.tls13() {
            self.info.resumed = true;
        }
        if sh.psk && self.client_psk {
            self.info.resumed = true;
        }
        if self.info.ja3s.is_none() {
            self.info.ja3s = Some(fingerprint::ja3s(&sh));
        }
        true
    }

    fn certificates(&mut self, from_client: bool, body: &[u8]) -> bool {
        use tls_parser::{TlsMessageHandshake, parse_tls_handshake_msg_certificate};
        let Ok((_, TlsMessageHandshake::Certificate(msg))) = parse_tls_handshake_msg_certificate(body) else {
            return false;
        };
        let chain = if from_client {
            &mut self.info.client_certs
        } else {
            &mut self.info.certs
        };
        for raw in msg.cert_chain.iter().take(MAX_CERTS.saturating_sub(chain.len())) {
            chain.push(CertInfo::from_der(raw.data));
        }
        true
    }

    fn violation(&mut self) {
        self.done = true;
    }
}

/// The session seen from one direction.
struct Side<'a> {
    state: &'a mut State,
    from_client: bool,
}

impl Side<'_> {
    fn encrypted(&mut self) -> &mut bool {
        if self.from_client {
            &mut self.state.client_encrypted
        } else {
            &mut self.state.server_encrypted
        }
    }
}

impl Sink for Side<'_> {
    fn record(&mut self, content_type: u8, _length: u16) -> Body {
        let tls13_protected = content_type == CONTENT_APPLICATION_DATA && self.state.server_hello && self.state.tls13();
        if tls13_protected {
            *self.encrypted() = true;
        }
        if *self.encrypted() {
            let s = &mut *self.state;
            if s.client_encrypted && s.server_encrypted && !s.info.established {
                s.info.established = true;
                s.done = true;
            }
            return Body::Skip;
        }
        match content_type {
            CONTENT_HANDSHAKE | CONTENT_ALERT | CONTENT_CHANGE_CIPHER_SPEC => Body::Parse,
            // Plaintext application data before the handshake ends: Zeek only notes a weird.
            CONTENT_APPLICATION_DATA => Body::Skip,
            CONTENT_HEARTBEAT => {
                self.state.letter(self.from_client, 'b');
                Body::Skip
            }
            _ => {
                self.state.violation();
                Body::Skip
            }
        }
    }

    fn handshake(&mut self, msg_type: u8, body: Option<&[u8]>) {
        let from_client = self.from_client;
        let s = &mut *self.state;
        let parsed = match (msg_type, from_client, body) {
            (HS_CLIENT_HELLO, true, Some(b)) => s.client_hello(b),
            (HS_SERVER_HELLO, false, Some(b)) => {
                // The server hello writes its own letter: `j` for a HelloRetryRequest.
                if !s.server_hello(b) {
                    s.violation();
                }
                return;
            }
            (HS_CERTIFICATE, _, Some(b)) => s.certificates(from_client, b),
            (HS_SERVER_KEY_EXCHANGE, false, Some(b)) => {
                if let Some(curve) = hello::server_key_exchange_curve(s.info.cipher, b) {
                    s.info.curve = Some(curve);
                }
                true
            }
            (HS_CLIENT_KEY_EXCHANGE, true, _) => {
                s.client_key_exchange = true;
                true
            }
            _ => true,
        };
        if !parsed {
            s.violation();
            return;
        }
        s.letter(from_client, history_letter(msg_type));
    }

    fn change_cipher_spec(&mut self) {
        let from_client = self.from_client;
        self.state.letter(from_client, 'i');
        if from_client && self.state.client_ticket_empty_session && !self.state.client_key_exchange {
            self.state.info.resumed = true;
        }
        if !self.state.tls13() {
            *self.encrypted() = true;
        }
    }

    fn alert(&mut self, _level: u8, description: u8) {
        self.state.letter(self.from_client, 'l');
        self.state.info.last_alert = Some(description);
    }

    fn violation(&mut self) {
        self.state.violation();
    }

    fn done(&self) -> bool {
        self.state.done
    }
}

/// Zeek's `ssl_history` letter of a handshake message type (lower case).
fn history_letter(msg_type: u8) -> char {
    match msg_type {
        0 => 'h',
        1 => 'c',
        2 => 's',
        3 => 'v',
        4 => 't',
        5 => 'e',
        6 => 'j',
        8 => 'o',
        11 => 'x',
        12 => 'k',
        13 => 'r',
        14 => 'n',
        15 => 'y',
        16 => 'g',
        20 => 'f',
        21 => 'w',
        22 => 'u',
        23 => 'a',
        24 => 'p',
        254 => 'm',
        _ => 'z',
    }
}

/// Both directions and the accumulated facts for the ssl.log row.
#[derive(Clone, Debug, Default)]
pub struct TlsSession {
    client: TlsDirection,
    server: TlsDirection,
    state: State,
}

impl TlsSession {
    /// Feed one TCP segment's payload. `seq` is the TCP sequence number of the first payload
    /// byte, `captured` the captured bytes (may be shorter than `wire_len` when a snap length cut
    /// the packet), `from_client` whether the segment comes from the connection originator.
    pub fn feed(&mut self, from_client: bool, seq: u32, captured: &[u8], wire_len: u32) {
        if self.state.done {
            return;
        }
        let dir = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        let mut side = Side {
            state: &mut self.state,
            from_client,
        };
        dir.feed(from_client, seq, captured, wire_len, &mut side);
        if self.state.done {
            // Drop the buffers now: the flow may live on for hours.
            self.client.stop();
            self.server.stop();
        }
    }

    /// True once a ClientHello or ServerHello was parsed (the flow is TLS: Zeek's service "ssl").
    pub fn is_tls(&self) -> bool {
        self.state.client_hello || self.state.server_hello
    }

    /// True when it is clear the stream is not TLS and feeding can stop (no TLS start within
    /// the STARTTLS search budget, or unreadable framing before any hello).
    pub fn gave_up(&self) -> bool {
        !self.is_tls() && (self.state.done || self.client.gave_up() || self.server.gave_up())
    }

    /// True when nothing more will be learned (established, violation, or both directions
    /// stopped): feeding more segments is a no-op.
    pub fn is_done(&self) -> bool {
        self.state.done || (self.client.stopped() && self.server.stopped())
    }

    pub fn info(&self) -> &TlsInfo {
        &self.state.info
    }

    pub fn client(&self) -> &TlsDirection {
        &self.client
    }

    pub fn server(&self) -> &TlsDirection {
        &self.server
    }
}

#[cfg(test)]
mod tests;
