//! Server slots: each backend has a fixed number of `server sN` lines; an instance keeps
//! its slot while it serves (so its sticky cookie, which names the slot, keeps pointing at
//! it) and a freed slot is reused. Changes become HAProxy runtime API commands.

use std::collections::BTreeSet;

/// The address in each slot of one backend; index 0 is server `s1`.
pub type Slots = Vec<Option<String>>;

/// One slot change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    Fill { slot: usize, addr: String },
    Empty { slot: usize },
}

/// New slots for `desired` addresses, keeping every address that stays where it is.
/// `size` is the slot count (at least `desired.len()`, see the plan).
pub fn assign(current: &Slots, desired: &[String], size: usize) -> (Slots, Vec<SlotChange>) {
    let wanted: BTreeSet<&String> = desired.iter().collect();
    let mut next: Slots = current.clone();
    next.resize(size, None);
    let mut changes = Vec::new();
    for (slot, s) in next.iter_mut().enumerate() {
        if let Some(addr) = s {
            if !wanted.contains(addr) {
                *s = None;
                changes.push(SlotChange::Empty { slot });
            }
        }
    }
    let placed: BTreeSet<String> = next.iter().flatten().cloned().collect();
    for addr in desired.iter().filter(|a| !placed.contains(*a)) {
        if let Some(slot) = next.iter().position(Option::is_none) {
            next[slot] = Some(addr.clone());
            // A slot emptied and refilled in one pass is just a fill.
            changes.retain(|c| *c != SlotChange::Empty { slot });
            changes.push(SlotChange::Fill {
                slot,
                addr: addr.clone(),
            });
        }
    }
    (next, changes)
}

/// Splits `ip:port` / `[ip6]:port` for the runtime API's `addr … port …`.
pub fn split_addr(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port.parse().ok()?))
}

/// Runtime API commands for `changes` in `backend`.
pub fn commands(backend: &str, changes: &[SlotChange]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        match c {
            SlotChange::Fill { slot, addr } => {
                let Some((ip, port)) = split_addr(addr) else {
                    continue;
                };
                let server = format!("{backend}/s{}", slot + 1);
                out.push(format!("set server {server} addr {ip} port {port}"));
                out.push(format!("set server {server} state ready"));
            }
            // `maint` takes no new requests; open connections finish.
            SlotChange::Empty { slot } => {
                out.push(format!("set server {backend}/s{} state maint", slot + 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn instances_keep_their_slots() {
        let (a, ch) = assign(&vec![], &s(&["1.1.1.1:80", "2.2.2.2:80"]), 4);
        assert_eq!(
            a,
            vec![
                Some("1.1.1.1:80".into()),
                Some("2.2.2.2:80".into()),
                None,
                None
            ]
        );
        assert_eq!(ch.len(), 2);
        let (b, ch) = assign(&a, &s(&["2.2.2.2:80", "3.3.3.3:80"]), 4);
        assert_eq!(
            b,
            vec![
                Some("3.3.3.3:80".into()),
                Some("2.2.2.2:80".into()),
                None,
                None
            ]
        );
        assert_eq!(
            ch,
            [SlotChange::Fill {
                slot: 0,
                addr: "3.3.3.3:80".into()
            }]
        );
        let (_, ch) = assign(&b, &s(&["2.2.2.2:80"]), 4);
        assert_eq!(ch, [SlotChange::Empty { slot: 0 }]);
        assert_eq!(
            commands("app_x_80", &ch),
            ["set server app_x_80/s1 state maint"]
        );
    }

    #[test]
    fn addresses_split_for_the_runtime_api() {
        assert_eq!(split_addr("10.0.0.1:80"), Some(("10.0.0.1", 80)));
        assert_eq!(split_addr("[::1]:8080"), Some(("::1", 8080)));
        assert_eq!(split_addr("nope"), None);
    }
}
