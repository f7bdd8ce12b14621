//! Opening the byte stream to a broker: TCP, optionally TLS.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::ConnectionConfig;
use crate::error::Error;

pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub(crate) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

pub(crate) async fn open(
    addr: &str,
    cfg: &ConnectionConfig,
    broker: &Arc<str>,
) -> Result<(BoxRead, BoxWrite), Error> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::io(broker, e))?;
    tcp.set_nodelay(true).map_err(|e| Error::io(broker, e))?;
    let Some(tls) = &cfg.tls else {
        let (r, w) = tcp.into_split();
        return Ok((Box::new(r), Box::new(w)));
    };
    let name = tls
        .server_name
        .clone()
        .unwrap_or_else(|| host_of(addr).to_owned());
    let name = ServerName::try_from(name).map_err(|e| Error::Tls {
        broker: broker.clone(),
        reason: e.to_string(),
    })?;
    let stream = TlsConnector::from(tls.client_config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| Error::Tls {
            broker: broker.clone(),
            reason: e.to_string(),
        })?;
    let (r, w) = tokio::io::split(stream);
    Ok((Box::new(r), Box::new(w)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(super::host_of("kafka-1:9092"), "kafka-1");
        assert_eq!(super::host_of("[::1]:9092"), "::1");
        assert_eq!(super::host_of("nohost"), "nohost");
    }
}
