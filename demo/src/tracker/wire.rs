//! The tracker's wire format: parsing and validating client frames of the WebTorrent WebSocket
//! tracker protocol into typed requests, and the JSON frames the tracker sends back.
//!
//! Field names, failure reasons and reply shapes follow npm `bittorrent-tracker` 11.x (its
//! `lib/server/parse-websocket.js` and `server.js`), because the clients we must serve
//! (p2p-media-loader, WebTorrent) are built on its client and were only ever tested against it.
//! Where that server accepts input it would later crash or misbehave on (offers that are not
//! objects, ids of another length), this module rejects it instead; see each check.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Largest number of peers one announce may reach, as bittorrent-tracker's `MAX_ANNOUNCE_PEERS`.
/// Real clients send at most 5 offers, so this only bounds hand-made frames.
pub const MAX_ANNOUNCE_PEERS: usize = 82;

/// A 20-byte identifier (`info_hash`, `peer_id`, `offer_id`, `to_peer_id`).
///
/// On the wire it is a JSON string of exactly 20 characters, each standing for one byte
/// (U+0000..=U+00FF, a "binary" or latin1 string as JavaScript's `String.fromCharCode` makes).
/// bittorrent-tracker only checks the JavaScript length (UTF-16 units); characters above U+00FF
/// are refused here, because they cannot come from any byte-based client and would make the
/// same 20 bytes spellable in several ways.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id20(pub [u8; 20]);

impl Id20 {
    /// Parses a 20-character binary string; `None` for any other length or character.
    pub fn from_binary_str(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 20];
        let mut chars = s.chars();
        for byte in &mut bytes {
            *byte = u8::try_from(u32::from(chars.next()?)).ok()?;
        }
        chars.next().is_none().then_some(Self(bytes))
    }

    /// The wire spelling: one char per byte.
    pub fn to_binary_string(&self) -> String {
        self.0.iter().map(|&b| char::from(b)).collect()
    }

    /// Lowercase hex, for logs (info hashes only: peer ids are not logged).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Id20 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id20({})", self.hex())
    }
}

impl Serialize for Id20 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_binary_string())
    }
}

pub type InfoHash = Id20;
pub type PeerId = Id20;
pub type OfferId = Id20;

/// The `event` of an announce. Absent, `""`, `"empty"` and `"update"` all mean [`Event::Update`],
/// as in bittorrent-tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Started,
    Stopped,
    Completed,
    Update,
    Paused,
}

/// One offer an announcing peer wants relayed to another peer of the swarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub offer_id: OfferId,
    /// The SDP offer object (`{"type":"offer","sdp":...}`), relayed untouched.
    pub offer: Value,
}

/// An answer to a relayed offer, to forward to the peer that made the offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub to_peer_id: PeerId,
    pub offer_id: OfferId,
    /// The SDP answer object, relayed untouched.
    pub answer: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Announce {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub event: Event,
    /// `left == 0`: the peer has everything (counted in `complete`, else `incomplete`).
    pub seeder: bool,
    /// The client's `numwant`, when it is a non-negative number. bittorrent-tracker ignores it
    /// and uses the number of offers; here it can only lower that number.
    pub numwant: Option<usize>,
    pub offers: Vec<Offer>,
    pub answer: Option<Answer>,
}

/// Which swarms a scrape asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeTarget {
    /// No `info_hash`: every swarm (bittorrent-tracker's behaviour).
    All,
    Some(Vec<InfoHash>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Announce(Announce),
    Scrape(ScrapeTarget),
}

/// Why a frame was refused, and whether the reply can name its swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Cow<'static, str>,
    /// Set when the frame carried a valid `info_hash`, for failures found after parsing (as
    /// bittorrent-tracker's `invalid event`): the reply then carries `action` and `info_hash`,
    /// so a client sharing the socket among swarms routes it to the right one. Without it the
    /// reply is the bare `{"failure reason": ...}` bittorrent-tracker sends for parse errors.
    pub info_hash: Option<InfoHash>,
}

impl Rejection {
    fn bare(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: reason.into(),
            info_hash: None,
        }
    }

    pub fn for_swarm(reason: impl Into<Cow<'static, str>>, info_hash: InfoHash) -> Self {
        Self {
            reason: reason.into(),
            info_hash: Some(info_hash),
        }
    }
}

/// Parses one text frame. Never panics, whatever the input.
pub fn parse_request(text: &str) -> Result<Request, Rejection> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| Rejection::bare("invalid JSON in WS request"))?;
    let Value::Object(mut fields) = value else {
        return Err(Rejection::bare("invalid WS request: not a JSON object"));
    };
    match fields.get("action") {
        Some(Value::String(a)) if a == "announce" => parse_announce(&mut fields),
        Some(Value::String(a)) if a == "scrape" => parse_scrape(&fields),
        // Same text as bittorrent-tracker, which interpolates whatever JavaScript makes of it.
        Some(Value::String(a)) => Err(Rejection::bare(format!(
            "invalid action in WS request: {a}"
        ))),
        None => Err(Rejection::bare("invalid action in WS request: undefined")),
        Some(other) => Err(Rejection::bare(format!(
            "invalid action in WS request: {other}"
        ))),
    }
}

fn id_field(fields: &Map<String, Value>, name: &str) -> Option<Id20> {
    fields
        .get(name)
        .and_then(Value::as_str)
        .and_then(Id20::from_binary_str)
}

fn parse_announce(fields: &mut Map<String, Value>) -> Result<Request, Rejection> {
    // Checked in bittorrent-tracker's order, with its texts, so clients see the same reasons.
    let info_hash =
        id_field(fields, "info_hash").ok_or_else(|| Rejection::bare("invalid info_hash"))?;
    let peer_id = id_field(fields, "peer_id").ok_or_else(|| Rejection::bare("invalid peer_id"))?;

    let answer = match fields.remove("answer") {
        None | Some(Value::Null) => None,
        Some(answer @ Value::Object(_)) => {
            let to_peer_id = id_field(fields, "to_peer_id")
                .ok_or_else(|| Rejection::bare("invalid `to_peer_id` (required with `answer`)"))?;
            let offer_id =
                id_field(fields, "offer_id").ok_or_else(|| Rejection::bare("invalid offer_id"))?;
            Some(Answer {
                to_peer_id,
                offer_id,
                answer,
            })
        }
        // bittorrent-tracker forwards any truthy value; the receiving client would hand it to
        // RTCPeerConnection and fail there. Refuse it at the source instead.
        Some(_) => return Err(Rejection::bare("invalid answer")),
    };

    let offers = match fields.remove("offers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(parse_offer)
            .collect::<Option<Vec<_>>>()
            // bittorrent-tracker would throw on a non-object entry while relaying (after its
            // reply went out); refusing the whole frame keeps behaviour all-or-nothing.
            .ok_or_else(|| Rejection::bare("invalid offers"))?,
        Some(_) => return Err(Rejection::bare("invalid offers")),
    };

    let numwant = fields
        .get("numwant")
        .and_then(Value::as_f64)
        .filter(|n| *n >= 0.0)
        // Saturating float-to-int conversion: 1e300 becomes usize::MAX, which is fine as a cap.
        .map(|n| n as usize);

    let seeder = match fields.get("left") {
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.trim().parse::<f64>() == Ok(0.0),
        _ => false,
    };

    // Found after parsing in bittorrent-tracker too (by the swarm), so the reply names the swarm.
    let event = match fields.get("event") {
        None | Some(Value::Null) => Event::Update,
        Some(Value::String(e)) => match e.as_str() {
            "" | "empty" | "update" => Event::Update,
            "started" => Event::Started,
            "stopped" => Event::Stopped,
            "completed" => Event::Completed,
            "paused" => Event::Paused,
            _ => return Err(Rejection::for_swarm("invalid event", info_hash)),
        },
        Some(_) => return Err(Rejection::for_swarm("invalid event", info_hash)),
    };

    Ok(Request::Announce(Announce {
        info_hash,
        peer_id,
        event,
        seeder,
        numwant,
        offers,
        answer,
    }))
}

fn parse_offer(item: Value) -> Option<Offer> {
    let Value::Object(mut item) = item else {
        return None;
    };
    let offer_id = id_field(&item, "offer_id")?;
    match item.remove("offer")? {
        offer @ Value::Object(_) => Some(Offer { offer_id, offer }),
        _ => None,
    }
}

fn parse_scrape(fields: &Map<String, Value>) -> Result<Request, Rejection> {
    let invalid = || Rejection::bare("invalid info_hash");
    let target = match fields.get("info_hash") {
        None | Some(Value::Null) => ScrapeTarget::All,
        Some(Value::String(s)) => {
            ScrapeTarget::Some(vec![Id20::from_binary_str(s).ok_or_else(invalid)?])
        }
        Some(Value::Array(items)) => ScrapeTarget::Some(
            items
                .iter()
                .map(|v| v.as_str().and_then(Id20::from_binary_str))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(invalid)?,
        ),
        Some(_) => return Err(invalid()),
    };
    Ok(Request::Scrape(target))
}

// ---- Frames the tracker sends. Field order follows bittorrent-tracker's output. ----

/// Reply to an announce (not sent for announces that carry an answer).
#[derive(Debug, serde::Serialize)]
pub struct AnnounceReply {
    pub complete: usize,
    pub incomplete: usize,
    pub action: &'static str,
    pub interval: u64,
    pub info_hash: InfoHash,
}

/// An offer relayed to a chosen peer; `peer_id` is the offerer.
#[derive(Debug, serde::Serialize)]
pub struct RelayedOffer<'a> {
    pub action: &'static str,
    pub offer: &'a Value,
    pub offer_id: OfferId,
    pub peer_id: PeerId,
    pub info_hash: InfoHash,
}

/// An answer forwarded to the offerer; `peer_id` is the answerer.
#[derive(Debug, serde::Serialize)]
pub struct ForwardedAnswer<'a> {
    pub action: &'static str,
    pub answer: &'a Value,
    pub offer_id: OfferId,
    pub peer_id: PeerId,
    pub info_hash: InfoHash,
}

#[derive(Debug, serde::Serialize)]
pub struct FailureReply<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(rename = "failure reason")]
    pub failure_reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info_hash: Option<InfoHash>,
}

impl<'a> FailureReply<'a> {
    pub fn from_rejection(rejection: &'a Rejection) -> Self {
        Self {
            action: rejection.info_hash.map(|_| "announce"),
            failure_reason: &rejection.reason,
            info_hash: rejection.info_hash,
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ScrapeFile {
    pub complete: usize,
    pub incomplete: usize,
    /// bittorrent-tracker reports `complete` here (a lower bound); so does this tracker.
    pub downloaded: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct ScrapeFlags {
    /// The announce interval. (bittorrent-tracker puts its HTTP interval here, five times its
    /// WebSocket one; its own client ignores the field.)
    pub min_request_interval: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct ScrapeReply {
    pub action: &'static str,
    /// Keyed by the binary info-hash string.
    pub files: BTreeMap<String, ScrapeFile>,
    pub flags: ScrapeFlags,
}

/// Serializes an outgoing frame. The types above cannot fail to serialize (string keys, no
/// floats), so a failure would be a bug here; it degrades to a failure frame, not a panic.
pub fn to_text<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame)
        .unwrap_or_else(|_| r#"{"failure reason":"internal error"}"#.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, 20).collect()
    }

    fn announce(mut extra: Value) -> Value {
        let base = json!({"action": "announce", "info_hash": id('h'), "peer_id": id('p')});
        let fields = extra.as_object_mut().unwrap();
        let mut all = base.as_object().unwrap().clone();
        all.append(fields);
        Value::Object(all)
    }

    fn reject(v: &Value) -> Rejection {
        parse_request(&v.to_string()).unwrap_err()
    }

    #[test]
    fn binary_ids_round_trip_every_byte() {
        let raw: Vec<u8> = (0..20).map(|i| (i * 13 + 200) as u8).collect();
        let id = Id20(raw.clone().try_into().unwrap());
        let text = id.to_binary_string();
        assert_eq!(text.chars().count(), 20);
        assert_eq!(Id20::from_binary_str(&text), Some(id));
        // Through JSON: U+0080..U+00FF go out as UTF-8, controls as \u escapes.
        let json = to_text(&id);
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(Id20::from_binary_str(&back), Some(id));
        let ctrl = Id20([0; 20]);
        assert_eq!(to_text(&ctrl), format!("\"{}\"", "\\u0000".repeat(20)));
    }

    #[test]
    fn ids_of_other_lengths_or_wide_chars_are_refused() {
        assert_eq!(Id20::from_binary_str(&id('a')[..19]), None);
        assert_eq!(Id20::from_binary_str(&format!("{}a", id('a'))), None);
        assert_eq!(
            Id20::from_binary_str(&format!("{}\u{100}", &id('a')[..19])),
            None
        );
        assert_eq!(Id20::from_binary_str(""), None);
    }

    #[test]
    fn announce_with_offers() {
        let v = announce(json!({
            "numwant": 5, "left": 0, "event": "started", "uploaded": 0, "downloaded": 0,
            "offers": [{"offer": {"type": "offer", "sdp": "v=0"}, "offer_id": id('o')}],
        }));
        let Request::Announce(a) = parse_request(&v.to_string()).unwrap() else {
            panic!("not an announce")
        };
        assert_eq!(a.event, Event::Started);
        assert!(a.seeder);
        assert_eq!(a.numwant, Some(5));
        assert_eq!(a.offers.len(), 1);
        assert_eq!(a.offers[0].offer["sdp"], "v=0");
        assert_eq!(a.answer, None);
    }

    #[test]
    fn event_and_left_variants() {
        for (event, expected) in [
            (json!(null), Event::Update),
            (json!(""), Event::Update),
            (json!("empty"), Event::Update),
            (json!("stopped"), Event::Stopped),
            (json!("completed"), Event::Completed),
            (json!("paused"), Event::Paused),
        ] {
            let v = announce(json!({ "event": event, "left": "5" }));
            let Ok(Request::Announce(a)) = parse_request(&v.to_string()) else {
                panic!("{v}")
            };
            assert_eq!(a.event, expected, "{v}");
            assert!(!a.seeder);
        }
        let r = reject(&announce(json!({"event": "bogus"})));
        assert_eq!(r.reason, "invalid event");
        assert!(r.info_hash.is_some());
        assert_eq!(
            reject(&announce(json!({"event": 3}))).reason,
            "invalid event"
        );
    }

    #[test]
    fn bittorrent_tracker_failure_reasons() {
        let cases = [
            ("not json", "invalid JSON in WS request"),
            ("[1,2]", "invalid WS request: not a JSON object"),
            ("null", "invalid WS request: not a JSON object"),
            ("{}", "invalid action in WS request: undefined"),
            (
                r#"{"action":"connect"}"#,
                "invalid action in WS request: connect",
            ),
            (r#"{"action":7}"#, "invalid action in WS request: 7"),
        ];
        for (text, reason) in cases {
            let r = parse_request(text).unwrap_err();
            assert_eq!(r.reason, reason, "{text}");
            assert_eq!(r.info_hash, None);
        }
        let short = json!({"action": "announce", "info_hash": "abc", "peer_id": id('p')});
        assert_eq!(reject(&short).reason, "invalid info_hash");
        let numeric = json!({"action": "announce", "info_hash": 5, "peer_id": id('p')});
        assert_eq!(reject(&numeric).reason, "invalid info_hash");
        let no_peer = json!({"action": "announce", "info_hash": id('h')});
        assert_eq!(reject(&no_peer).reason, "invalid peer_id");
        let answer = announce(json!({"answer": {"type": "answer"}, "offer_id": id('o')}));
        assert_eq!(
            reject(&answer).reason,
            "invalid `to_peer_id` (required with `answer`)"
        );
    }

    #[test]
    fn malformed_offers_and_answers_are_refused_whole() {
        for offers in [
            json!("x"),
            json!([1]),
            json!([{"offer": {"sdp": ""}}]),
            json!([{"offer": {"sdp": ""}, "offer_id": "short"}]),
            json!([{"offer": "sdp", "offer_id": id('o')}]),
            json!([{"offer": {}, "offer_id": id('o')}, null]),
        ] {
            let r = reject(&announce(json!({ "offers": offers })));
            assert_eq!(r.reason, "invalid offers", "{offers}");
        }
        let r = reject(&announce(json!({"answer": "sdp", "to_peer_id": id('t')})));
        assert_eq!(r.reason, "invalid answer");
        let r = reject(&announce(
            json!({"answer": {}, "to_peer_id": id('t'), "offer_id": 1}),
        ));
        assert_eq!(r.reason, "invalid offer_id");
    }

    #[test]
    fn scrape_targets() {
        let all = parse_request(r#"{"action":"scrape"}"#).unwrap();
        assert_eq!(all, Request::Scrape(ScrapeTarget::All));
        let one = json!({"action": "scrape", "info_hash": id('h')});
        assert_eq!(
            parse_request(&one.to_string()).unwrap(),
            Request::Scrape(ScrapeTarget::Some(vec![Id20([b'h'; 20])]))
        );
        let bad = json!({"action": "scrape", "info_hash": [id('h'), "x"]});
        assert_eq!(reject(&bad).reason, "invalid info_hash");
    }

    #[test]
    fn reply_shapes() {
        let h = Id20([b'h'; 20]);
        let reply = AnnounceReply {
            complete: 1,
            incomplete: 2,
            action: "announce",
            info_hash: h,
            interval: 120,
        };
        assert_eq!(
            to_text(&reply),
            format!(
                r#"{{"complete":1,"incomplete":2,"action":"announce","interval":120,"info_hash":"{}"}}"#,
                id('h')
            )
        );
        let bare = Rejection::bare("invalid info_hash");
        assert_eq!(
            to_text(&FailureReply::from_rejection(&bare)),
            r#"{"failure reason":"invalid info_hash"}"#
        );
        let named = Rejection::for_swarm("invalid event", h);
        assert_eq!(
            to_text(&FailureReply::from_rejection(&named)),
            format!(
                r#"{{"action":"announce","failure reason":"invalid event","info_hash":"{}"}}"#,
                id('h')
            )
        );
    }
}
