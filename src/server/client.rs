//! Who is on the other end of a request: the socket's address, or, when that socket is a trusted
//! proxy (`TESSERA_TRUSTED_PROXIES`), the nearest untrusted hop its `X-Forwarded-For` names. A
//! header from anyone else is ignored, so a client cannot choose the address it is throttled by.
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;

/// An address block such as `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A comma-separated list of addresses and blocks; the entry that does not parse is named.
pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Cidr::parse(s).ok_or_else(|| s.to_string()))
        .collect()
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: `peer` unless it is a trusted proxy; then, walking the
/// `X-Forwarded-For` hops from the nearest (the last listed) outwards, the first that is not a
/// trusted proxy. A hop that does not parse ends the walk at the hop before it, which is trusted.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// How an address is throttled: an IPv4 address as itself, an IPv6 address by its /64 (what one
/// subscriber is usually given, so that hopping within it does not escape the limit).
pub fn throttle_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{net}/64")
        }
    }
}

/// The client's address for the current server function, from the socket the request came over
/// (the server is served with `into_make_service_with_connect_info`) and, behind a trusted proxy,
/// its `X-Forwarded-For`. `None` outside a request served so.
pub fn current(trusted: &[Cidr]) -> Option<IpAddr> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(client_ip(peer.ip(), forwarded, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain_their_addresses_only() {
        let ten = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.200.3.4")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("2001:db8::1")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "example.com", "10.0.0.0/x"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_list("10.0.0.1, fd00::/8").map(|l| l.len()), Ok(2));
        assert_eq!(parse_list("10.0.0.1, proxy"), Err("proxy".to_string()));
    }

    #[test]
    fn the_header_counts_only_when_the_socket_is_a_trusted_proxy() {
        let proxies = parse_list("10.0.0.0/8").unwrap();
        // Sent by anyone else, the header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.5"), ["198.51.100.1"], &proxies),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["198.51.100.1"], &[]),
            ip("10.0.0.2")
        );
        // Through the proxy: the nearest untrusted hop; what the client itself wrote to the
        // left of it is not believed.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.2.3.4, 198.51.100.1"], &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["1.2.3.4", "198.51.100.1, 10.0.0.3"],
                &proxies
            ),
            ip("198.51.100.1")
        );
        // No header, or nonsense in it: the proxy itself.
        assert_eq!(client_ip(ip("10.0.0.2"), [], &proxies), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.2.3.4, garbage"], &proxies),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_throttled_by_their_slash_64() {
        assert_eq!(throttle_key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(throttle_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(
            throttle_key(ip("2001:db8:1:2:aaaa::1")),
            throttle_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(throttle_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            throttle_key(ip("2001:db8:1:2::1")),
            throttle_key(ip("2001:db8:1:3::1"))
        );
    }
}
