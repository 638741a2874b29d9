//! The simulated organisation as independent tools see it: tshark decodes every protocol the
//! simulator meant to write, the office has a daily and weekly rhythm, and the benign office
//! scenario is rich (DNS, SNI, certificates including self-signed ones, user agents, IPv6).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use simulator::scenario::LoadedScenario;

use crate::common::{assert_tshark_clean, fixture, repo, run_tshark, scratch, tshark};

/// Per direction of a conversation: payload bytes and the protocol facts tshark decoded.
#[derive(Default, Debug)]
struct Seen {
    bytes: u64,
    sni: Vec<String>,
    http: Vec<[String; 4]>,
    dns_names: Vec<String>,
    answers: Vec<IpAddr>,
}

type Dir = (IpAddr, u16, IpAddr, u16);

fn tshark_view(capture: &str) -> HashMap<Dir, Seen> {
    let out = run_tshark(&[
        "-r",
        capture,
        // Bodies past the snap length are not in the capture: let tshark show each HTTP request
        // at its headers instead of waiting for a body it cannot reassemble.
        "-o",
        "http.desegment_body:FALSE",
        "-d",
        "tcp.port==5223,tls",
        "-d",
        "tcp.port==8443,tls",
        "-Y",
        "tcp.len > 0 || udp",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "separator=/t",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
        "-e",
        "tcp.len",
        "-e",
        "udp.length",
        "-e",
        "tls.handshake.extensions_server_name",
        "-e",
        "http.request.method",
        "-e",
        "http.host",
        "-e",
        "http.request.uri",
        "-e",
        "http.user_agent",
        "-e",
        "dns.qry.name",
        "-e",
        "dns.a",
        "-e",
        "dns.aaaa",
    ]);
    let mut view: HashMap<Dir, Seen> = HashMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let ip = |a: &str, b: &str| -> IpAddr {
            if a.is_empty() {
                b.parse().unwrap()
            } else {
                a.parse().unwrap()
            }
        };
        let port = |a: &str, b: &str| -> u16 {
            if a.is_empty() {
                b.parse().unwrap()
            } else {
                a.parse().unwrap()
            }
        };
        let key = (ip(f[0], f[1]), port(f[4], f[6]), ip(f[2], f[3]), port(f[5], f[7]));
        let s = view.entry(key).or_default();
        s.bytes += if f[8].is_empty() {
            f[9].parse::<u64>().unwrap() - 8
        } else {
            f[8].parse().unwrap()
        };
        if !f[10].is_empty() {
            s.sni.push(f[10].to_string());
        }
        if !f[11].is_empty() {
            s.http.push([f[11], f[12], f[13], f[14]].map(String::from));
        }
        if !f[15].is_empty() {
            s.dns_names.push(f[15].to_string());
        }
        for a in f[16].split(',').chain(f[17].split(',')).filter(|a| !a.is_empty()) {
            s.answers.push(a.parse().unwrap());
        }
    }
    view
}

#[test]
fn tshark_decodes_what_the_simulator_intended() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("intent");
    let sc = LoadedScenario::load(&fixture("small-office.yaml")).unwrap();
    let sim = simulator::simulate_with(&sc, sc.scenario.seed, &dir, simulator::Options { sessions: true }).unwrap();
    let view = tshark_view(sim.capture.to_str().unwrap());
    let intent = std::fs::read_to_string(dir.join("sessions.jsonl")).unwrap();
    // A call's media comes in one-minute sessions on one 5-tuple: compare per conversation.
    struct Conv {
        kind: String,
        bytes: (u64, u64),
        sni: Vec<String>,
        http: Vec<[String; 4]>,
        dns_names: Vec<String>,
        answers: Vec<IpAddr>,
    }
    let mut convs: BTreeMap<(IpAddr, u16, IpAddr, u16), Conv> = BTreeMap::new();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for line in intent.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            r["src_ip"].as_str().unwrap().parse().unwrap(),
            r["src_port"].as_u64().unwrap() as u16,
            r["dst_ip"].as_str().unwrap().parse().unwrap(),
            r["dst_port"].as_u64().unwrap() as u16,
        );
        let kind = r["kind"].as_str().unwrap().to_string();
        *kinds.entry(kind.clone()).or_default() += 1;
        let c = convs.entry(key).or_insert_with(|| Conv {
            kind,
            bytes: (0, 0),
            sni: vec![],
            http: vec![],
            dns_names: vec![],
            answers: vec![],
        });
        c.bytes.0 += r["bytes_orig"].as_u64().unwrap();
        c.bytes.1 += r["bytes_resp"].as_u64().unwrap();
        if let Some(sni) = r["sni"].as_str() {
            c.sni.push(sni.to_string());
        }
        for h in r["http"].as_array().into_iter().flatten() {
            c.http
                .push(["method", "host", "uri", "user_agent"].map(|k| h[k].as_str().unwrap().to_string()));
        }
        if let Some(name) = r["dns"]["name"].as_str() {
            c.dns_names.push(name.to_string());
            c.answers.extend(
                r["dns"]["answers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().parse::<IpAddr>().unwrap()),
            );
        }
    }
    let (mut checked, mut differences) = (0, Vec::new());
    let empty = Seen::default();
    for ((src, sp, dst, dp), c) in &convs {
        let up = view.get(&(*src, *sp, *dst, *dp)).unwrap_or(&empty);
        let down = view.get(&(*dst, *dp, *src, *sp)).unwrap_or(&empty);
        let mut diff = |what: &str, want: String, got: String| {
            if want != got {
                differences.push(format!(
                    "{} {src}:{sp} → {dst}:{dp}: {what}: intended {want}, tshark {got}",
                    c.kind
                ));
            }
        };
        diff("bytes_orig", c.bytes.0.to_string(), up.bytes.to_string());
        diff("bytes_resp", c.bytes.1.to_string(), down.bytes.to_string());
        diff("SNI", format!("{:?}", c.sni), format!("{:?}", up.sni));
        diff("HTTP requests", format!("{:?}", c.http), format!("{:?}", up.http));
        diff("DNS query names", c.dns_names.join(","), up.dns_names.join(","));
        diff("DNS answers", format!("{:?}", c.answers), format!("{:?}", down.answers));
        checked += 1;
    }
    let checked_sessions: u64 = kinds.values().sum();
    eprintln!("{checked} conversations ({checked_sessions} sessions) compared with tshark");
    eprintln!("sessions by kind: {kinds:?}");
    assert!(kinds.len() >= 7, "every session kind is exercised: {kinds:?}");
    assert!(
        differences.is_empty(),
        "{} differences, first: {:#?}",
        differences.len(),
        &differences[..differences.len().min(10)]
    );
}

#[test]
fn connections_follow_the_working_day_and_week() {
    let dir = scratch("rhythm");
    let sc = LoadedScenario::load(&fixture("small-office.yaml")).unwrap();
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir).unwrap();
    // Count with the detectors' own decoder, not the simulator's bookkeeping.
    let opts = detectors::Options {
        internal: vec!["10.70.0.0/16".parse().unwrap(), "fd00:70::/32".parse().unwrap()],
        learning_secs: 0,
        thresholds: Default::default(),
        zeek_logs: Some(detectors::LogFormat::Tsv),
    };
    detectors::run(&sim.capture, &dir, &opts).unwrap();
    let log = std::fs::read_to_string(dir.join("conn.log")).unwrap();
    let start = sc.scenario.start.0 / 1_000_000_000;
    let mut hourly = [0u64; 48];
    for line in log.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        // Connections opened by the people's laptops and desktops.
        if !(f[2].starts_with("10.70.1.") || f[2].starts_with("10.70.2.") || f[2].starts_with("fd00:70:1:")) {
            continue;
        }
        let ts: f64 = f[0].parse().unwrap();
        let hour = ((ts as u64 - start) / 3600) as usize;
        if hour < 48 {
            hourly[hour] += 1;
        }
    }
    let mean =
        |hours: std::ops::Range<usize>| hours.clone().map(|h| hourly[h]).sum::<u64>() as f64 / hours.len() as f64;
    let (friday_work, friday_night, saturday_work) = (mean(9..17), mean(0..6), mean(24 + 9..24 + 17));
    eprintln!(
        "connections per hour: Friday 09-17 {friday_work:.0}, Friday 00-06 {friday_night:.0}, Saturday 09-17 {saturday_work:.0}"
    );
    eprintln!("hourly: {hourly:?}");
    assert!(friday_work > 5.0 * friday_night.max(1.0), "day/night");
    assert!(friday_work > 3.0 * saturday_work.max(1.0), "weekday/weekend");
    assert!(mean(12..13) < mean(10..12), "lunch dip");
}

#[test]
fn benign_office_is_clean_and_rich() {
    if tshark().is_none() {
        return;
    }
    let dir = scratch("benign-office");
    let sc = LoadedScenario::load(&repo().join("scenarios/benign-office.yaml")).unwrap();
    assert!(sc.device_count() >= 50 && sc.scenario.duration.value.as_secs_f64() >= 2.0 * 86_400.0);
    let sim = simulator::simulate(&sc, sc.scenario.seed, &dir).unwrap();
    let cap = sim.capture.to_str().unwrap();
    assert_tshark_clean(cap);
    let out = run_tshark(&[
        "-r",
        cap,
        "-Y",
        "dns.flags.response == 1 || tls.handshake.type == 1 || tls.handshake.type == 11 || http.request || ipv6",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "separator=/t",
        "-e",
        "dns.a",
        "-e",
        "tls.handshake.extensions_server_name",
        "-e",
        "tls.handshake.certificate_length",
        "-e",
        "x509sat.uTF8String",
        "-e",
        "http.user_agent",
        "-e",
        "ipv6.src",
    ]);
    let (mut answers, mut snis, mut certs, mut self_signed, mut uas, mut v6) =
        (0, HashSet::new(), 0, 0, HashSet::new(), 0);
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        answers += usize::from(!f[0].is_empty());
        if !f[1].is_empty() {
            snis.insert(f[1].to_string());
        }
        if !f[2].is_empty() {
            certs += f[2].split(',').count();
            // One certificate whose issuer strings equal its subject strings: self-signed.
            let names: Vec<&str> = f[3].split(',').collect();
            if f[2].split(',').count() == 1
                && names.len() % 2 == 0
                && names[..names.len() / 2] == names[names.len() / 2..]
            {
                self_signed += 1;
            }
        }
        if !f[4].is_empty() {
            uas.insert(f[4].to_string());
        }
        v6 += usize::from(!f[5].is_empty());
    }
    eprintln!(
        "DNS answers {answers}, SNIs {}, certificates {certs} ({self_signed} self-signed chains), user agents {}, IPv6 packets {v6}",
        snis.len(),
        uas.len()
    );
    assert!(answers > 1000 && snis.len() > 50 && certs > 100 && self_signed > 0 && uas.len() >= 5 && v6 > 1000);
}
