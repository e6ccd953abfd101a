//! Wire codec for direct messages (`/fluxnode/direct/1`): the request is one envelope frame
//! (`proto::encoding`), the response one acknowledgement byte. Each request uses its own
//! stream, so the stream end delimits the frame; reads stop one byte past the limit so an
//! oversized request is seen as oversized rather than truncated.

use std::io;

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use proto::envelope::MAX_ENVELOPE_BYTES;

/// The receiver's verdict on a direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectAck {
    /// The envelope passed every check and was handed to the daemon.
    Accepted,
    /// The envelope failed validation (the receiver counts the reason).
    Rejected,
}

impl DirectAck {
    fn to_byte(self) -> u8 {
        match self {
            DirectAck::Accepted => 0,
            DirectAck::Rejected => 1,
        }
    }

    fn from_byte(b: u8) -> io::Result<Self> {
        match b {
            0 => Ok(DirectAck::Accepted),
            1 => Ok(DirectAck::Rejected),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown direct acknowledgement byte {other}"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DirectCodec;

impl libp2p::request_response::Codec for DirectCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = DirectAck;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut frame = Vec::new();
        io.take(MAX_ENVELOPE_BYTES as u64 + 1)
            .read_to_end(&mut frame)
            .await?;
        Ok(frame)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DirectAck>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        DirectAck::from_byte(byte[0])
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        frame: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&frame).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        ack: DirectAck,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[ack.to_byte()]).await?;
        io.close().await
    }
}
