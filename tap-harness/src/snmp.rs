//! Reading counters laid out as `/proc/net/snmp` and `/proc/net/netstat` are (a line of names
//! and a line of values, both starting `Section:`), from the kernel's files or from what the
//! `udpstack` command prints.

use std::collections::HashMap;

/// Every counter in `text` as `Section:Name`. Pairs of lines are found wherever they are, so
/// other output around them (the `serve` command's report) does no harm.
pub fn snmp_counters(text: &str) -> HashMap<String, u64> {
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut counters = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.windows(2) {
        let (Some((s1, names)), Some((s2, values))) =
            (pair[0].split_once(": "), pair[1].split_once(": "))
        else {
            continue;
        };
        if s1 != s2 || s1.contains(' ') || names.split(' ').next().is_some_and(is_number) {
            continue;
        }
        let values: Vec<&str> = values.split_whitespace().collect();
        if !values.iter().all(|v| is_number(v)) {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values) {
            if let Ok(v) = v.parse() {
                counters.insert(format!("{s1}:{n}"), v);
            }
        }
    }
    counters
}

/// The counter `section:field` in `text` (see [`snmp_counters`]).
pub fn snmp_counter(text: &str, section: &str, field: &str) -> Option<u64> {
    snmp_counters(text)
        .get(&format!("{section}:{field}"))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_among_other_lines() {
        let text = "echo on port 7: 3 datagrams\n\nUdp: InDatagrams NoPorts\nUdp: 5 2\n\
                    Icmp: InMsgs\nIcmp: 1\nsocket table: 2 rows\n";
        assert_eq!(snmp_counter(text, "Udp", "NoPorts"), Some(2));
        assert_eq!(snmp_counter(text, "Icmp", "InMsgs"), Some(1));
        assert_eq!(snmp_counter(text, "Udp", "OutDatagrams"), None);
        assert_eq!(snmp_counters(text).len(), 3);
    }
}
