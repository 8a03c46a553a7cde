//! Minimal container writers, so a codec target can hand raw coded data to the library's real
//! entry point (`media::for_each_frame`), which then demuxes it with its own Matroska/AVI code
//! and decodes every packet (short streams are sampled whole).
//!
//! * H.264 / HEVC: an Annex B byte stream (start codes `00 00 01`) is cut into NAL units;
//!   parameter sets go into the avcC/hvcC record (CodecPrivate), the other NAL units into
//!   length-prefixed packets, a new packet at each first slice of a picture, keyframe flag on
//!   IDR/IRAP pictures and on the first packet. The result is a Matroska file with one video
//!   track, 40 ms per packet.
//! * MJPEG: the bytes are one frame in an AVI (`MJPG` stream, `00dc` chunk).

/// Splits an Annex B stream into NAL units (start codes removed, trailing zero bytes of a unit
/// dropped). Bytes before the first start code form a unit too; no start code at all = one unit.
pub fn annexb_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    let mut from = 0;
    for &s in &starts {
        units.push(&data[from..s]);
        from = s + 3;
    }
    units.push(&data[from..]);
    units
        .into_iter()
        .map(|u| {
            let end = u.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            &u[..end]
        })
        .filter(|u| !u.is_empty())
        .collect()
}

/// Which codec a stream is in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    fn nal_type(self, nal: &[u8]) -> u8 {
        match self {
            Codec::H264 => nal[0] & 0x1f,
            Codec::H265 => (nal[0] >> 1) & 0x3f,
        }
    }

    fn is_parameter_set(self, t: u8) -> bool {
        match self {
            Codec::H264 => t == 7 || t == 8,
            Codec::H265 => (32..=34).contains(&t),
        }
    }

    fn is_vcl(self, t: u8) -> bool {
        match self {
            Codec::H264 => (1..=5).contains(&t),
            Codec::H265 => t < 32,
        }
    }

    fn is_key(self, t: u8) -> bool {
        match self {
            Codec::H264 => t == 5,
            Codec::H265 => (16..=23).contains(&t),
        }
    }

    /// True when a VCL NAL unit starts a new picture (first_mb_in_slice == 0 /
    /// first_slice_segment_in_pic_flag).
    fn first_slice(self, nal: &[u8]) -> bool {
        match self {
            Codec::H264 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
            Codec::H265 => nal.get(2).is_some_and(|b| b & 0x80 != 0),
        }
    }

    /// Non-VCL units that open a new access unit (AUD, SEI).
    fn opens_access_unit(self, t: u8) -> bool {
        match self {
            Codec::H264 => t == 9 || t == 6,
            Codec::H265 => t == 35 || t == 39,
        }
    }
}

/// One coded picture.
pub struct Packet {
    pub data: Vec<u8>,
    pub key: bool,
}

/// Codec configuration record and packets for an Annex B stream.
pub fn packetize(codec: Codec, stream: &[u8]) -> (Vec<u8>, Vec<Packet>) {
    let mut params: Vec<&[u8]> = Vec::new();
    let mut packets: Vec<Packet> = Vec::new();
    let mut cur = Packet {
        data: Vec::new(),
        key: false,
    };
    let mut cur_has_vcl = false;
    for nal in annexb_units(stream) {
        let min = if codec == Codec::H265 { 2 } else { 1 };
        if nal.len() < min {
            continue;
        }
        let t = codec.nal_type(nal);
        if codec.is_parameter_set(t) {
            params.push(nal);
            continue;
        }
        let vcl = codec.is_vcl(t);
        let new_au = cur_has_vcl && ((vcl && codec.first_slice(nal)) || codec.opens_access_unit(t));
        if new_au {
            packets.push(std::mem::replace(
                &mut cur,
                Packet {
                    data: Vec::new(),
                    key: false,
                },
            ));
            cur_has_vcl = false;
        }
        cur.data
            .extend_from_slice(&(nal.len() as u32).to_be_bytes());
        cur.data.extend_from_slice(nal);
        if vcl {
            cur_has_vcl = true;
            cur.key |= codec.is_key(t);
        }
    }
    if !cur.data.is_empty() {
        packets.push(cur);
    }
    if let Some(first) = packets.first_mut() {
        first.key = true;
    }
    let config = match codec {
        Codec::H264 => avcc(&params),
        Codec::H265 => hvcc(&params),
    };
    (config, packets)
}

fn avcc(params: &[&[u8]]) -> Vec<u8> {
    let sps: Vec<&[u8]> = params
        .iter()
        .copied()
        .filter(|p| p[0] & 0x1f == 7 && p.len() <= 0xffff)
        .take(31)
        .collect();
    let pps: Vec<&[u8]> = params
        .iter()
        .copied()
        .filter(|p| p[0] & 0x1f == 8 && p.len() <= 0xffff)
        .take(255)
        .collect();
    let (profile, compat, level) = sps
        .first()
        .map(|s| {
            (
                s.get(1).copied().unwrap_or(66),
                s.get(2).copied().unwrap_or(0),
                s.get(3).copied().unwrap_or(30),
            )
        })
        .unwrap_or((66, 0, 30));
    let mut out = vec![1, profile, compat, level, 0xff, 0xe0 | sps.len() as u8];
    for s in &sps {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }
    out.push(pps.len() as u8);
    for p in &pps {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn hvcc(params: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![
        1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
        0x0f,
    ];
    let mut arrays: Vec<(u8, Vec<&[u8]>)> = Vec::new();
    for &p in params {
        if p.len() > 0xffff {
            continue;
        }
        let t = (p[0] >> 1) & 0x3f;
        match arrays.iter_mut().find(|(k, _)| *k == t) {
            Some((_, v)) => v.push(p),
            None => arrays.push((t, vec![p])),
        }
    }
    out.push(arrays.len() as u8);
    for (t, nals) in &arrays {
        out.push(0x80 | t);
        out.extend_from_slice(&(nals.len().min(0xffff) as u16).to_be_bytes());
        for n in nals.iter().take(0xffff) {
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n);
        }
    }
    out
}

/// An EBML element: id (with its length marker), 8-byte size, payload.
fn el(out: &mut Vec<u8>, id: &[u8], payload: &[u8]) {
    out.extend_from_slice(id);
    let n = payload.len() as u64;
    out.push(0x01);
    out.extend_from_slice(&n.to_be_bytes()[1..]);
    out.extend_from_slice(payload);
}

fn uint(out: &mut Vec<u8>, id: &[u8], v: u64) {
    el(out, id, &v.to_be_bytes());
}

/// A Matroska file with one video track (`codec_id`, CodecPrivate `config`, 320x240) holding
/// `packets` as SimpleBlocks 40 ms apart.
pub fn matroska(codec_id: &str, config: &[u8], packets: &[Packet]) -> Vec<u8> {
    let mut header = Vec::new();
    uint(&mut header, &[0x42, 0x86], 1);
    uint(&mut header, &[0x42, 0xf7], 1);
    uint(&mut header, &[0x42, 0xf2], 4);
    uint(&mut header, &[0x42, 0xf3], 8);
    el(&mut header, &[0x42, 0x82], b"matroska");
    uint(&mut header, &[0x42, 0x87], 4);
    uint(&mut header, &[0x42, 0x85], 2);

    let mut info = Vec::new();
    uint(&mut info, &[0x2a, 0xd7, 0xb1], 1_000_000);
    el(&mut info, &[0x4d, 0x80], b"facelite-fuzz");
    el(&mut info, &[0x57, 0x41], b"facelite-fuzz");

    let mut video = Vec::new();
    uint(&mut video, &[0xb0], 320);
    uint(&mut video, &[0xba], 240);
    let mut entry = Vec::new();
    uint(&mut entry, &[0xd7], 1);
    uint(&mut entry, &[0x73, 0xc5], 1);
    uint(&mut entry, &[0x83], 1);
    el(&mut entry, &[0x86], codec_id.as_bytes());
    if !config.is_empty() {
        el(&mut entry, &[0x63, 0xa2], config);
    }
    el(&mut entry, &[0xe0], &video);
    let mut tracks = Vec::new();
    el(&mut tracks, &[0xae], &entry);

    let mut segment = Vec::new();
    el(&mut segment, &[0x15, 0x49, 0xa9, 0x66], &info);
    el(&mut segment, &[0x16, 0x54, 0xae, 0x6b], &tracks);
    for (c, chunk) in packets.chunks(500).enumerate() {
        let mut cluster = Vec::new();
        let base = c as u64 * 500 * 40;
        uint(&mut cluster, &[0xe7], base);
        for (i, p) in chunk.iter().enumerate() {
            let mut block = vec![0x81];
            block.extend_from_slice(&((i * 40) as i16).to_be_bytes());
            block.push(if p.key { 0x80 } else { 0x00 });
            block.extend_from_slice(&p.data);
            el(&mut cluster, &[0xa3], &block);
        }
        el(&mut segment, &[0x1f, 0x43, 0xb6, 0x75], &cluster);
    }

    let mut out = Vec::new();
    el(&mut out, &[0x1a, 0x45, 0xdf, 0xa3], &header);
    el(&mut out, &[0x18, 0x53, 0x80, 0x67], &segment);
    out
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

fn list(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    let mut b = kind.to_vec();
    b.extend_from_slice(body);
    chunk(out, b"LIST", &b);
}

/// An AVI file with one MJPEG stream (25 fps, size unknown) whose frames are `frames`.
pub fn avi_mjpeg(frames: &[&[u8]]) -> Vec<u8> {
    let mut avih = vec![0u8; 56];
    avih[0..4].copy_from_slice(&40_000u32.to_le_bytes());
    avih[16..20].copy_from_slice(&(frames.len() as u32).to_le_bytes());
    avih[24..28].copy_from_slice(&1u32.to_le_bytes());
    let mut strh = vec![0u8; 56];
    strh[0..4].copy_from_slice(b"vids");
    strh[4..8].copy_from_slice(b"MJPG");
    strh[20..24].copy_from_slice(&1u32.to_le_bytes());
    strh[24..28].copy_from_slice(&25u32.to_le_bytes());
    strh[32..36].copy_from_slice(&(frames.len() as u32).to_le_bytes());
    let mut strf = vec![0u8; 40];
    strf[0..4].copy_from_slice(&40u32.to_le_bytes());
    strf[12..14].copy_from_slice(&1u16.to_le_bytes());
    strf[14..16].copy_from_slice(&24u16.to_le_bytes());
    strf[16..20].copy_from_slice(b"MJPG");
    let mut strl = Vec::new();
    chunk(&mut strl, b"strh", &strh);
    chunk(&mut strl, b"strf", &strf);
    let mut hdrl = Vec::new();
    chunk(&mut hdrl, b"avih", &avih);
    list(&mut hdrl, b"strl", &strl);
    let mut movi = Vec::new();
    for f in frames {
        chunk(&mut movi, b"00dc", f);
    }
    let mut body = b"AVI ".to_vec();
    list(&mut body, b"hdrl", &hdrl);
    list(&mut body, b"movi", &movi);
    let mut out = Vec::new();
    chunk(&mut out, b"RIFF", &body);
    out
}
