//! The WebTorrent tracker protocol's JSON frames: encoding what we send, and decoding (and
//! strictly validating) what a tracker sends, with its binary ids as latin1 strings.
//!
//! Everything a tracker sends is untrusted: decoding never panics, and any frame that is not
//! what the protocol allows is a [`FrameError`] the client turns into a warning.

use serde_json::{Map, Value};

/// 20 bytes: an info hash, a peer id or an offer id.
pub type Id20 = [u8; 20];

/// The `event` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    Started,
    Stopped,
    Completed,
}

impl AnnounceEvent {
    fn as_str(self) -> &'static str {
        match self {
            AnnounceEvent::Started => "started",
            AnnounceEvent::Stopped => "stopped",
            AnnounceEvent::Completed => "completed",
        }
    }
}

/// Writes bytes as a "binary string": one character U+0000..U+00FF per byte, which is how
/// bittorrent-tracker's client (`hex2bin`) and server (`bin2hex`) carry ids in JSON.
pub fn encode_binary(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Reads a binary string of exactly 20 characters, each U+0000..U+00FF. The server rejects
/// other lengths (`invalid info_hash`) and so do we; a wider character is not a byte.
pub fn decode_id20(s: &str) -> Option<Id20> {
    let mut out = [0u8; 20];
    let mut chars = s.chars();
    for byte in out.iter_mut() {
        *byte = u8::try_from(u32::from(chars.next()?)).ok()?;
    }
    chars.next().is_none().then_some(out)
}

/// One of our offers in an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingOffer<'a> {
    pub offer_id: Id20,
    pub sdp: &'a str,
}

/// An announce we send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce<'a> {
    pub info_hash: Id20,
    pub peer_id: Id20,
    pub uploaded: u64,
    pub downloaded: u64,
    /// Omitted when unknown, as p2p-media-loader does (bittorrent-tracker's server then
    /// counts the peer as incomplete).
    pub left: Option<u64>,
    pub event: Option<AnnounceEvent>,
    pub offers: &'a [OutgoingOffer<'a>],
    /// Echo of the tracker's `tracker id`, sent as `trackerid` like bittorrent-tracker.
    pub tracker_id: Option<&'a str>,
}

/// The announce frame. `numwant` is the number of offers: bittorrent-tracker's server
/// ignores the field and uses the offer count, other servers read `numwant`; keeping them
/// equal tells both the same thing. A `stopped` announce carries no offers.
pub fn encode_announce(a: &Announce<'_>) -> String {
    let mut m = Map::new();
    m.insert("action".into(), "announce".into());
    m.insert("info_hash".into(), encode_binary(&a.info_hash).into());
    m.insert("peer_id".into(), encode_binary(&a.peer_id).into());
    m.insert("uploaded".into(), a.uploaded.into());
    m.insert("downloaded".into(), a.downloaded.into());
    if let Some(left) = a.left {
        m.insert("left".into(), left.into());
    }
    if let Some(event) = a.event {
        m.insert("event".into(), event.as_str().into());
    }
    let offers: Vec<Value> = if a.event == Some(AnnounceEvent::Stopped) {
        Vec::new()
    } else {
        a.offers
            .iter()
            .map(|o| {
                let mut offer = Map::new();
                offer.insert("offer".into(), sdp_object("offer", o.sdp));
                offer.insert("offer_id".into(), encode_binary(&o.offer_id).into());
                Value::Object(offer)
            })
            .collect()
    };
    m.insert("numwant".into(), offers.len().into());
    if a.event != Some(AnnounceEvent::Stopped) {
        m.insert("offers".into(), Value::Array(offers));
    }
    if let Some(id) = a.tracker_id {
        m.insert("trackerid".into(), id.into());
    }
    Value::Object(m).to_string()
}

/// Our answer to a relayed offer, addressed to the offerer through the same tracker.
pub fn encode_answer(
    info_hash: &Id20,
    peer_id: &Id20,
    to_peer_id: &Id20,
    offer_id: &Id20,
    sdp: &str,
    tracker_id: Option<&str>,
) -> String {
    let mut m = Map::new();
    m.insert("action".into(), "announce".into());
    m.insert("info_hash".into(), encode_binary(info_hash).into());
    m.insert("peer_id".into(), encode_binary(peer_id).into());
    m.insert("to_peer_id".into(), encode_binary(to_peer_id).into());
    m.insert("offer_id".into(), encode_binary(offer_id).into());
    m.insert("answer".into(), sdp_object("answer", sdp));
    if let Some(id) = tracker_id {
        m.insert("trackerid".into(), id.into());
    }
    Value::Object(m).to_string()
}

fn sdp_object(kind: &str, sdp: &str) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), kind.into());
    m.insert("sdp".into(), sdp.into());
    Value::Object(m)
}

/// A session description relayed by the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedSdp {
    /// The peer that sent it.
    pub peer_id: Id20,
    pub offer_id: Id20,
    pub sdp: String,
}

/// What a tracker frame says, once validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackerFrame {
    /// `action` is `scrape`: nothing for a client that never scrapes.
    pub is_scrape: bool,
    pub info_hash: Option<Id20>,
    pub peer_id: Option<Id20>,
    pub failure_reason: Option<String>,
    pub warning_message: Option<String>,
    /// Seconds, from `interval` or else `min interval`; only positive finite values.
    pub interval_s: Option<f64>,
    pub tracker_id: Option<String>,
    pub offer: Option<RelayedSdp>,
    pub answer: Option<RelayedSdp>,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooLarge {
        bytes: usize,
    },
    NotJson,
    NotAnObject,
    /// A field has the wrong type or length, or a required field is missing.
    BadField(&'static str),
    /// `action` is neither `announce` nor `scrape`.
    UnknownAction,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { bytes } => write!(f, "frame of {bytes} bytes is too large"),
            FrameError::NotJson => write!(f, "frame is not JSON"),
            FrameError::NotAnObject => write!(f, "frame is not a JSON object"),
            FrameError::BadField(field) => write!(f, "invalid or missing `{field}`"),
            FrameError::UnknownAction => write!(f, "unknown `action`"),
        }
    }
}

/// Validates a text frame from a tracker.
///
/// Like bittorrent-tracker's client, a frame without a valid `action` is an error, except a
/// bare `{"failure reason": ...}`, which is how bittorrent-tracker's server answers a request
/// it could not parse. Offers and answers need `peer_id` and `offer_id`.
pub fn decode_frame(text: &str, max_bytes: usize) -> Result<TrackerFrame, FrameError> {
    if text.len() > max_bytes {
        return Err(FrameError::TooLarge { bytes: text.len() });
    }
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let Value::Object(m) = value else {
        return Err(FrameError::NotAnObject);
    };
    let mut frame = TrackerFrame {
        failure_reason: opt_string(&m, "failure reason")?,
        warning_message: opt_string(&m, "warning message")?,
        ..TrackerFrame::default()
    };
    match m.get("action") {
        Some(Value::String(a)) if a == "announce" => {}
        Some(Value::String(a)) if a == "scrape" => frame.is_scrape = true,
        None if frame.failure_reason.is_some() => {}
        Some(Value::String(_)) | None => return Err(FrameError::UnknownAction),
        Some(_) => return Err(FrameError::BadField("action")),
    }
    frame.info_hash = opt_id(&m, "info_hash")?;
    if frame.is_scrape {
        return Ok(frame);
    }
    frame.peer_id = opt_id(&m, "peer_id")?;
    let interval = opt_number(&m, "interval")?.filter(|s| *s > 0.0);
    let min_interval = opt_number(&m, "min interval")?.filter(|s| *s > 0.0);
    frame.interval_s = interval.or(min_interval);
    frame.tracker_id = opt_string(&m, "tracker id")?;
    // complete/incomplete are counts for statistics; only their type is checked.
    opt_number(&m, "complete")?;
    opt_number(&m, "incomplete")?;
    let offer_id = opt_id(&m, "offer_id")?;
    frame.offer = relayed_sdp(&m, "offer", frame.peer_id, offer_id)?;
    frame.answer = relayed_sdp(&m, "answer", frame.peer_id, offer_id)?;
    if frame.offer.is_some() && frame.answer.is_some() {
        return Err(FrameError::BadField("answer"));
    }
    Ok(frame)
}

fn opt_string(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, FrameError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FrameError::BadField(key)),
    }
}

fn opt_number(m: &Map<String, Value>, key: &'static str) -> Result<Option<f64>, FrameError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(FrameError::BadField(key)),
        Some(_) => Err(FrameError::BadField(key)),
    }
}

fn opt_id(m: &Map<String, Value>, key: &'static str) -> Result<Option<Id20>, FrameError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => decode_id20(s).map(Some).ok_or(FrameError::BadField(key)),
        Some(_) => Err(FrameError::BadField(key)),
    }
}

fn relayed_sdp(
    m: &Map<String, Value>,
    key: &'static str,
    peer_id: Option<Id20>,
    offer_id: Option<Id20>,
) -> Result<Option<RelayedSdp>, FrameError> {
    let Some(value) = m.get(key) else {
        return Ok(None);
    };
    let Value::Object(desc) = value else {
        return Err(FrameError::BadField(key));
    };
    let Some(Value::String(sdp)) = desc.get("sdp") else {
        return Err(FrameError::BadField(key));
    };
    let peer_id = peer_id.ok_or(FrameError::BadField("peer_id"))?;
    let offer_id = offer_id.ok_or(FrameError::BadField("offer_id"))?;
    Ok(Some(RelayedSdp {
        peer_id,
        offer_id,
        sdp: sdp.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_strings_round_trip_every_byte() {
        let mut id = [0u8; 20];
        for (i, b) in id.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(13).wrapping_add(250);
        }
        let s = encode_binary(&id);
        assert_eq!(s.chars().count(), 20);
        assert_eq!(decode_id20(&s), Some(id));
        // Through JSON too: control characters are escaped, high bytes stay characters.
        let json = serde_json::to_string(&s).unwrap();
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(decode_id20(&back), Some(id));
    }

    #[test]
    fn binary_strings_reject_wide_characters_and_bad_lengths() {
        assert_eq!(decode_id20(&"a".repeat(19)), None);
        assert_eq!(decode_id20(&"a".repeat(21)), None);
        assert_eq!(decode_id20(&format!("{}\u{100}", "a".repeat(19))), None);
        assert_eq!(
            decode_id20(&format!("{}é", "a".repeat(19))).map(|i| i[19]),
            Some(0xe9)
        );
    }

    #[test]
    fn announce_has_offers_and_matching_numwant() {
        let offers = [OutgoingOffer {
            offer_id: [1; 20],
            sdp: "v=0",
        }];
        let text = encode_announce(&Announce {
            info_hash: [b'h'; 20],
            peer_id: [b'p'; 20],
            uploaded: 5,
            downloaded: 7,
            left: None,
            event: Some(AnnounceEvent::Started),
            offers: &offers,
            tracker_id: Some("t1"),
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["action"], "announce");
        assert_eq!(v["event"], "started");
        assert_eq!(v["numwant"], 1);
        assert_eq!(v["offers"][0]["offer"]["type"], "offer");
        assert_eq!(v["offers"][0]["offer"]["sdp"], "v=0");
        assert_eq!(v["trackerid"], "t1");
        assert!(v.get("left").is_none());
    }

    #[test]
    fn stopped_announce_has_no_offers() {
        let offers = [OutgoingOffer {
            offer_id: [1; 20],
            sdp: "v=0",
        }];
        let text = encode_announce(&Announce {
            info_hash: [b'h'; 20],
            peer_id: [b'p'; 20],
            uploaded: 0,
            downloaded: 0,
            left: Some(0),
            event: Some(AnnounceEvent::Stopped),
            offers: &offers,
            tracker_id: None,
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "stopped");
        assert_eq!(v["numwant"], 0);
        assert!(v.get("offers").is_none());
    }

    #[test]
    fn frames_are_validated() {
        let ok = decode_frame(
            r#"{"action":"announce","interval":120,"info_hash":"aaaaaaaaaaaaaaaaaaaa","complete":1,"incomplete":2}"#,
            1 << 16,
        )
        .unwrap();
        assert_eq!(ok.interval_s, Some(120.0));
        assert_eq!(ok.info_hash, Some([b'a'; 20]));

        let bare_failure = decode_frame(r#"{"failure reason":"invalid info_hash"}"#, 1 << 16);
        assert_eq!(
            bare_failure.unwrap().failure_reason.as_deref(),
            Some("invalid info_hash")
        );

        let cases = [
            ("not json", FrameError::NotJson),
            ("[1,2]", FrameError::NotAnObject),
            (r#"{"action":"hello"}"#, FrameError::UnknownAction),
            (r#"{}"#, FrameError::UnknownAction),
            (r#"{"action":5}"#, FrameError::BadField("action")),
            (
                r#"{"action":"announce","info_hash":"short"}"#,
                FrameError::BadField("info_hash"),
            ),
            (
                r#"{"action":"announce","info_hash":7}"#,
                FrameError::BadField("info_hash"),
            ),
            (
                r#"{"action":"announce","interval":"120"}"#,
                FrameError::BadField("interval"),
            ),
            (
                r#"{"action":"announce","offer":"sdp"}"#,
                FrameError::BadField("offer"),
            ),
            (
                r#"{"action":"announce","offer":{"sdp":"x"}}"#,
                FrameError::BadField("peer_id"),
            ),
            (
                r#"{"action":"announce","failure reason":{"a":1}}"#,
                FrameError::BadField("failure reason"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(decode_frame(text, 1 << 16), Err(want), "{text}");
        }
        assert_eq!(
            decode_frame(&" ".repeat(100), 10),
            Err(FrameError::TooLarge { bytes: 100 })
        );
    }
}
