//! Compression codecs for the records section of a batch, each behind its cargo feature.
//!
//! Encoders write what the Java client writes: gzip (one member, default level 6), snappy in
//! xerial framing (`\x82SNAPPY\0`, 32 KiB blocks), the LZ4 frame format (64 KiB independent
//! blocks) and zstd (level 3). Decoders also accept raw snappy and concatenated gzip members and
//! zstd frames, and never produce more than a caller-given limit.

use crate::error::{DecodeError, EncodeError};

/// A compression codec (batch attribute bits 0-2).
///
/// ```
/// use klamm_protocol::record::Compression;
/// assert_eq!(Compression::from_id(4).unwrap(), Compression::Zstd);
/// assert_eq!(Compression::Lz4.name(), "lz4");
/// assert!(Compression::None.is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1), feature `gzip`.
    Gzip,
    /// snappy (id 2), feature `snappy`.
    Snappy,
    /// LZ4 frame format (id 3), feature `lz4`.
    Lz4,
    /// zstd (id 4), feature `zstd`.
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    ///
    /// ```
    /// use klamm_protocol::record::Compression;
    /// assert_eq!(Compression::ALL.map(Compression::id), [0, 1, 2, 3, 4]);
    /// ```
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id in the batch attributes.
    ///
    /// ```
    /// use klamm_protocol::record::Compression;
    /// assert_eq!(Compression::Snappy.id(), 2);
    /// ```
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attribute id; ids 5-7 are an error.
    ///
    /// ```
    /// use klamm_protocol::record::Compression;
    /// assert_eq!(Compression::from_id(1)?, Compression::Gzip);
    /// assert!(Compression::from_id(5).is_err());
    /// # Ok::<(), klamm_protocol::DecodeError>(())
    /// ```
    pub fn from_id(id: u8) -> Result<Self, DecodeError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(DecodeError::UnsupportedCompression(other)),
        })
    }

    /// The name Kafka's `compression.type` uses (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    ///
    /// ```
    /// use klamm_protocol::record::Compression;
    /// assert_eq!(Compression::Zstd.name(), "zstd");
    /// assert_eq!("zstd".parse::<Compression>(), Ok(Compression::Zstd));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress the codec (its cargo feature is on).
    ///
    /// ```
    /// use klamm_protocol::record::Compression;
    /// assert!(Compression::None.is_enabled()); // always
    /// // The others are cargo features (all on by default).
    /// let enabled: Vec<_> = Compression::ALL.into_iter().filter(|c| c.is_enabled()).collect();
    /// assert!(!enabled.is_empty());
    /// ```
    pub const fn is_enabled(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// Compresses `src` at the codec's default level, appending the result to `out`.
    #[cfg(test)]
    pub(crate) fn compress(self, src: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.compress_at(None, src, out)
    }

    /// Compresses `src` at `level` (the codec's default when `None`; see
    /// [`BatchBuilder::compression_level`](super::BatchBuilder::compression_level)), appending
    /// the result to `out`.
    pub(crate) fn compress_at(
        self,
        level: Option<i32>,
        src: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let _ = level; // unused when no leveled codec is compiled in
        match self {
            Compression::None => {
                out.extend_from_slice(src);
                Ok(())
            }
            #[cfg(feature = "gzip")]
            Compression::Gzip => gzip::compress(level, src, out),
            #[cfg(feature = "snappy")]
            Compression::Snappy => snappy::compress(src, out),
            #[cfg(feature = "lz4")]
            Compression::Lz4 => lz4::compress(src, out),
            #[cfg(feature = "zstd")]
            Compression::Zstd => zstd_codec::compress(level, src, out),
            #[allow(unreachable_patterns)]
            other => Err(EncodeError::Invalid {
                what: "compression",
                detail: format!("codec {} is not enabled in this build", other.name()),
            }),
        }
    }

    /// Decompresses `src`, refusing output larger than `limit` bytes.
    pub(crate) fn decompress(self, src: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        match self {
            Compression::None => {
                if src.len() > limit {
                    return Err(too_large(self, limit));
                }
                Ok(src.to_vec())
            }
            #[cfg(feature = "gzip")]
            Compression::Gzip => gzip::decompress(src, limit),
            #[cfg(feature = "snappy")]
            Compression::Snappy => snappy::decompress(src, limit),
            #[cfg(feature = "lz4")]
            Compression::Lz4 => lz4::decompress(src, limit),
            #[cfg(feature = "zstd")]
            Compression::Zstd => zstd_codec::decompress(src, limit),
            #[allow(unreachable_patterns)]
            other => Err(DecodeError::UnsupportedCompression(other.id())),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    /// Parses Kafka's `compression.type` names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown compression type {s:?}"))
    }
}

fn too_large(c: Compression, limit: usize) -> DecodeError {
    DecodeError::Invalid {
        what: "decompressed record batch",
        detail: format!(
            "{} output exceeds the limit of {limit} bytes (DecodeOptions::max_decompressed_size)",
            c.name()
        ),
    }
}

#[allow(dead_code)]
fn failed(codec: &'static str, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Decompression {
        codec,
        message: e.to_string(),
    }
}

#[allow(dead_code)]
fn encode_failed(codec: &'static str, e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Invalid {
        what: "compression",
        detail: format!("{codec}: {e}"),
    }
}

/// Reads all of `r` into a vector, failing once more than `limit` bytes come out.
#[allow(dead_code)]
fn read_bounded(
    c: Compression,
    mut r: impl std::io::Read,
    size_hint: usize,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(size_hint.min(limit));
    let read = (&mut r)
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| failed(c.name(), e))?;
    if read > limit {
        return Err(too_large(c, limit));
    }
    Ok(out)
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;
    use std::io::Write;

    pub(super) fn compress(
        level: Option<i32>,
        src: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let level = match level {
            None | Some(-1) => flate2::Compression::default(),
            Some(l @ 0..=9) => flate2::Compression::new(l as u32),
            Some(l) => {
                return Err(EncodeError::Invalid {
                    what: "compression level",
                    detail: format!("gzip levels are 1-9 (or -1 for the default), not {l}"),
                });
            }
        };
        let mut enc = flate2::write::GzEncoder::new(out, level);
        enc.write_all(src).map_err(|e| encode_failed("gzip", e))?;
        enc.finish().map_err(|e| encode_failed("gzip", e))?;
        Ok(())
    }

    pub(super) fn decompress(src: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let dec = flate2::read::MultiGzDecoder::new(src);
        read_bounded(Compression::Gzip, dec, src.len().saturating_mul(4), limit)
    }
}

#[cfg(feature = "snappy")]
mod snappy {
    use super::*;

    /// The xerial snappy-java stream header magic.
    pub(super) const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
    const XERIAL_HEADER_LEN: usize = 16;
    /// snappy-java's default block size, which Kafka's Java producer uses.
    const XERIAL_BLOCK: usize = 32 * 1024;

    pub(super) fn compress(src: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut enc = snap::raw::Encoder::new();
        out.reserve(XERIAL_HEADER_LEN + snap::raw::max_compress_len(src.len()) + src.len() / 4096);
        out.extend_from_slice(&XERIAL_MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes()); // version
        out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
        for chunk in src.chunks(XERIAL_BLOCK) {
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
            let n = enc
                .compress(chunk, &mut out[start..])
                .map_err(|e| encode_failed("snappy", e))?;
            out.truncate(start + n);
            out[len_at..start].copy_from_slice(&(n as u32).to_be_bytes());
        }
        Ok(())
    }

    fn raw_into(
        dec: &mut snap::raw::Decoder,
        block: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), DecodeError> {
        let n = snap::raw::decompress_len(block).map_err(|e| failed("snappy", e))?;
        if n > limit.saturating_sub(out.len()) {
            return Err(too_large(Compression::Snappy, limit));
        }
        // A snappy element of at most 5 bytes expands to at most 64 bytes: a block claiming
        // more is corrupt, and is refused before its claimed size is allocated.
        if n > block.len().saturating_mul(64) {
            return Err(failed(
                "snappy",
                format!("{} bytes cannot expand to {n}", block.len()),
            ));
        }
        let start = out.len();
        out.resize(start + n, 0);
        let written = dec
            .decompress(block, &mut out[start..])
            .map_err(|e| failed("snappy", e))?;
        out.truncate(start + written);
        Ok(())
    }

    pub(super) fn decompress(src: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let mut dec = snap::raw::Decoder::new();
        let mut out = Vec::new();
        if src.len() < XERIAL_HEADER_LEN || src[..8] != XERIAL_MAGIC {
            raw_into(&mut dec, src, &mut out, limit)?;
            return Ok(out);
        }
        let mut rest = &src[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            if rest.len() < 4 {
                return Err(failed("snappy", "truncated xerial block length"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            rest = &rest[4..];
            if len > rest.len() {
                return Err(failed(
                    "snappy",
                    format!("xerial block of {len} bytes but {} remain", rest.len()),
                ));
            }
            raw_into(&mut dec, &rest[..len], &mut out, limit)?;
            rest = &rest[len..];
        }
        Ok(out)
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    use super::*;
    use std::io::Write;

    pub(super) fn compress(src: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
        enc.write_all(src).map_err(|e| encode_failed("lz4", e))?;
        enc.finish().map_err(|e| encode_failed("lz4", e))?;
        Ok(())
    }

    pub(super) fn decompress(src: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let dec = lz4_flex::frame::FrameDecoder::new(src);
        read_bounded(Compression::Lz4, dec, src.len().saturating_mul(4), limit)
    }
}

#[cfg(feature = "zstd")]
mod zstd_codec {
    use super::*;
    use std::cell::RefCell;

    /// The Java client's default `compression.zstd.level`.
    const LEVEL: i32 = 3;

    thread_local! {
        /// zstd contexts are costly to create (hundreds of KiB of tables), so each thread
        /// keeps one of each and reuses it for every batch.
        static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
        static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { RefCell::new(None) };
        /// The worst-case-sized buffer zstd compresses into, reused: the batch itself then
        /// gets an exactly-sized copy of the (usually much smaller) output, instead of keeping
        /// a worst-case allocation alive for as long as the batch lives.
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    /// A scratch buffer that grew beyond this (a batch of more than 8 MiB) is freed after use.
    const MAX_KEPT_SCRATCH: usize = 8 << 20;

    pub(super) fn compress(
        level: Option<i32>,
        src: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let level = level.unwrap_or(LEVEL);
        COMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let (current, c) = match slot.as_mut() {
                Some(c) => c,
                None => slot.insert((
                    level,
                    zstd::bulk::Compressor::new(level).map_err(|e| encode_failed("zstd", e))?,
                )),
            };
            if *current != level {
                c.set_compression_level(level)
                    .map_err(|e| encode_failed("zstd", e))?;
                *current = level;
            }
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                scratch.reserve(zstd::zstd_safe::compress_bound(src.len()));
                let r = c.compress_to_buffer(src, &mut *scratch);
                let r = r.map(|_| out.extend_from_slice(&scratch));
                if scratch.capacity() > MAX_KEPT_SCRATCH {
                    *scratch = Vec::new();
                }
                r.map_err(|e| encode_failed("zstd", e))
            })
        })
    }

    pub(super) fn decompress(src: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(src) {
            if size > limit as u64 {
                return Err(too_large(Compression::Zstd, limit));
            }
            // The one-shot path allocates the declared size up front, so it is only taken when
            // the input could really expand that far (an RLE block of 4 bytes yields at most
            // 128 KiB); an implausible claim goes to the streaming path, which allocates only
            // as output appears.
            let plausible = (src.len() as u64).saturating_mul(32 * 1024);
            // One frame that declares its size: decompress in one go. Several frames or a
            // lying size fall through to the streaming path.
            let one_shot = (size <= plausible)
                .then(|| {
                    DECOMPRESSOR.with(|cell| {
                        let mut slot = cell.borrow_mut();
                        let d = match slot.as_mut() {
                            Some(d) => d,
                            None => slot.insert(zstd::bulk::Decompressor::new().ok()?),
                        };
                        let mut out = Vec::with_capacity(size as usize);
                        d.decompress_to_buffer(src, &mut out).ok()?;
                        Some(out)
                    })
                })
                .flatten();
            if let Some(v) = one_shot {
                return Ok(v);
            }
        }
        let dec = zstd::stream::read::Decoder::with_buffer(src).map_err(|e| failed("zstd", e))?;
        read_bounded(Compression::Zstd, dec, src.len().saturating_mul(4), limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_enabled_codec_round_trips() {
        let src = sample();
        for c in Compression::ALL {
            if !c.is_enabled() {
                continue;
            }
            let mut out = vec![9, 9];
            c.compress(&src, &mut out).unwrap();
            assert_eq!(&out[..2], &[9, 9], "{c}: appends");
            assert_eq!(c.decompress(&out[2..], src.len()).unwrap(), src, "{c}");
            if c != Compression::None {
                assert!(out.len() < src.len(), "{c} compresses");
            }
            assert!(
                matches!(
                    c.decompress(&out[2..], src.len() - 1),
                    Err(DecodeError::Invalid { .. })
                ),
                "{c}: limit enforced"
            );
        }
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_writes_xerial_and_reads_raw() {
        let src = sample();
        let mut out = Vec::new();
        Compression::Snappy.compress(&src, &mut out).unwrap();
        assert_eq!(&out[..8], &snappy::XERIAL_MAGIC);
        let raw = snap::raw::Encoder::new().compress_vec(&src).unwrap();
        assert_eq!(
            Compression::Snappy.decompress(&raw, usize::MAX).unwrap(),
            src
        );
    }

    #[test]
    fn levels_change_the_output_not_the_format() {
        let src = sample();
        for (c, levels) in [
            (Compression::Gzip, &[1, 9, -1][..]),
            (Compression::Zstd, &[1, 19, -5, 3][..]),
        ] {
            if !c.is_enabled() {
                continue;
            }
            let mut sizes = Vec::new();
            for &l in levels {
                let mut out = Vec::new();
                c.compress_at(Some(l), &src, &mut out).unwrap();
                assert_eq!(c.decompress(&out, src.len()).unwrap(), src, "{c} {l}");
                sizes.push(out.len());
            }
            assert!(
                sizes[1] < sizes[0],
                "{c}: a higher level compresses better: {sizes:?}"
            );
        }
        #[cfg(feature = "gzip")]
        assert!(
            Compression::Gzip
                .compress_at(Some(10), b"x", &mut Vec::new())
                .is_err()
        );
    }

    #[test]
    fn implausible_size_claims_are_refused_before_allocating() {
        #[cfg(feature = "snappy")]
        {
            // A raw snappy preamble claiming 32 MiB, followed by nothing.
            let err = Compression::Snappy
                .decompress(&[0x80, 0x80, 0x80, 0x10], usize::MAX)
                .unwrap_err();
            assert!(matches!(err, DecodeError::Decompression { .. }), "{err}");
        }
        #[cfg(feature = "zstd")]
        {
            // A real frame whose header is kept but whose blocks are cut off: the one-shot
            // path would allocate the declared 1 MiB; the streaming path fails instead.
            let mut out = Vec::new();
            Compression::Zstd
                .compress_at(None, &sample(), &mut out)
                .unwrap();
            assert!(
                Compression::Zstd
                    .decompress(&out[..12], usize::MAX)
                    .is_err()
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in Compression::ALL
            .into_iter()
            .skip(1)
            .filter(|c| c.is_enabled())
        {
            for junk in [
                &b""[..],
                b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\xff\xff\xff\xff",
                b"hello world",
            ] {
                let _ = c.decompress(junk, 1 << 20);
            }
        }
        assert!(Compression::from_id(5).is_err());
        assert_eq!("ZSTD".parse::<Compression>(), Ok(Compression::Zstd));
    }
}
