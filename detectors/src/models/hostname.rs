//! Host names as the application-layer models compare them: address literals, `Host` header
//! ports, and registrable domains (eTLD+1) by Mozilla's Public Suffix List, which the `psl`
//! crate compiles into the binary (no file, no network).
//!
//! Never panics; whatever is not a plausible DNS name gives `None`.

use std::net::IpAddr;

/// True when a `Host` header or SNI value is an address literal (`1.2.3.4`, `1.2.3.4:8080`,
/// `[2001:db8::1]:443`).
pub fn is_ip_literal(host: &str) -> bool {
    let h = host.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().is_some_and(|a| a.parse::<IpAddr>().is_ok());
    }
    let bare = match h.rsplit_once(':') {
        Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) && !a.contains(':') => a,
        _ => h,
    };
    bare.parse::<IpAddr>().is_ok()
}

/// The DNS name in a `Host` header, SNI or DNS question: lower case, without a port or a
/// trailing dot. `None` for address literals, single labels and anything that is not made of
/// DNS name characters.
pub fn dns_name(host: &str) -> Option<String> {
    let h = host.trim();
    if h.is_empty() || h.len() > 253 || is_ip_literal(h) {
        return None;
    }
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => h,
    };
    let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    let ok = h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(h)
}

/// A name split at its registrable domain: `us02web.zoom.us` → subdomain `us02web`, label
/// `zoom`, suffix `us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registrable<'a> {
    /// eTLD+1: `zoom.us`.
    pub domain: &'a str,
    /// The label the registrant chose: `zoom`.
    pub label: &'a str,
    /// The public suffix: `us`, `co.uk`, or a private one such as `github.io`.
    pub suffix: &'a str,
    /// Everything left of the registrable domain, without the dot (may be empty).
    pub subdomain: &'a str,
}

/// Splits a name from [`dns_name`] at its registrable domain. `None` when the suffix is not on
/// the list (`printer.local`, `corp.internal`) or the name is a bare public suffix (`co.uk`).
pub fn registrable(name: &str) -> Option<Registrable<'_>> {
    let d = psl::domain(name.as_bytes())?;
    if !d.suffix().is_known() {
        return None;
    }
    let domain = std::str::from_utf8(d.as_bytes()).ok()?;
    let suffix = domain.get(domain.len().checked_sub(d.suffix().as_bytes().len())?..)?;
    let label = domain.strip_suffix(suffix)?.strip_suffix('.')?;
    let subdomain = name.strip_suffix(domain)?;
    let subdomain = subdomain.strip_suffix('.').unwrap_or(subdomain);
    (!label.is_empty()).then_some(Registrable {
        domain,
        label,
        suffix,
        subdomain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_headers() {
        assert!(is_ip_literal("83.136.208.246:6783"));
        assert!(is_ip_literal("[2001:db8::1]:8443"));
        assert!(!is_ip_literal("check02id.com"));
        assert_eq!(dns_name("Zoom.US:443").as_deref(), Some("zoom.us"));
        assert_eq!(dns_name("example.com.").as_deref(), Some("example.com"));
        assert_eq!(dns_name("10.0.0.1:80"), None);
        assert_eq!(dns_name("localhost"), None);
        assert_eq!(dns_name("bad name.com"), None);
    }

    #[test]
    fn registrable_domains() {
        let r = registrable("us02web.zoom.us").unwrap();
        assert_eq!(
            (r.domain, r.label, r.suffix, r.subdomain),
            ("zoom.us", "zoom", "us", "us02web")
        );
        let r = registrable("www.bbc.co.uk").unwrap();
        assert_eq!((r.domain, r.label, r.suffix), ("bbc.co.uk", "bbc", "co.uk"));
        let r = registrable("zoom.us").unwrap();
        assert_eq!(r.subdomain, "");
        // Private suffixes count: a project page is its own registrable domain.
        assert_eq!(registrable("zoom-update.github.io").unwrap().label, "zoom-update");
        assert_eq!(registrable("printer.local"), None);
        assert_eq!(registrable("co.uk"), None);
    }
}
