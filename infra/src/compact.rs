//! Compact records: how both adapters store a record's body.
//!
//! A record is still its JSON (the core's serde shape, the one format every
//! reader already knows), but stored deflated against a preset dictionary
//! of the records' keys and common values. Most of a record's JSON is keys
//! that every record of its kind repeats; the dictionary makes each of them
//! cost a back-reference of a few bits instead of its bytes, so an
//! application's 1.7 KB body is stored in about 0.5 KB (docs/BENCHMARKS.md,
//! "Bytes per application").
//!
//! The stored form is one tag byte, then the payload:
//! - `{` (or any byte other than a tag below): plain JSON, as every record
//!   was stored before this format, and still read;
//! - [`DEFLATE_V1`]: raw deflate (RFC 1951) with [`DICTIONARY_V1`] preset.
//!
//! A dictionary is part of the format: once records are written with it,
//! it can never change (a test pins its hash). A better one is a new tag.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Raw deflate with [`DICTIONARY_V1`].
pub const DEFLATE_V1: u8 = 0x01;

/// The preset dictionary of [`DEFLATE_V1`]: fragments of every record kind
/// as the core serializes it. Deflate finds matches anywhere in the last
/// 32 KiB, but nearer ones cost fewer bits, so the commonest kind (the
/// application, then its audit entries and documents) comes last.
pub const DICTIONARY_V1: &str = concat!(
    // Staff members, policies, idempotent responses.
    r#"{"sub":"","name":"","assignments":[{"role":"community","unit":"4403"}],"active":true,"updatedBy":"","#,
    r#""title":"","window":{"opensAt":"2020-","closesAt":"2020-"},"ratePerSqmPerMonth":"0.50","months":2,"#,
    // Batches and payment lines.
    r#"{"id":"","policyId":"sz-2020-property-covid","district":"4403","state":"reconciled","version":1,"#,
    r#""note":null,"createdBy":"","createdAt":"2020-","releasedBy":"","releasedAt":"2020-","lineCount":1,"#,
    r#""total":"0.00","paidCount":0,"paid":"0.00","failedCount":0,"failed":"0.00","leftOutForBudget":0,"#,
    r#""sealed":true,"builders":[""]}"#,
    r#"{"id":"","batchId":"","applicationId":"","companyName":"","creditCode":"91440300","projectName":"","#,
    r#""amount":"","status":"paid","reason":null,"revises":null,"settledAt":"2020-"}"#,
    // Companies and projects.
    r#"{"id":"","owner":"","creditCode":"91440300","name":"深圳市物业服务有限公司","legalRepresentative":"","#,
    r#""contactName":"","contactPhone":"1","bankAccount":{"bankName":"中国银行深圳分行","accountName":"","#,
    r#""accountNumber":""},"version":1,"createdAt":"2020-","updatedAt":"2020-","auditSeq":1,"auditHead":""}"#,
    r#"{"id":"","companyId":"","owner":"","name":"","address":"深圳市区街道路号","community":"4403","#,
    r#""managedArea":"","managerName":"","managerPhone":"1","#,
    // Live totals: an application's last applied contribution.
    r#"{"version":1,"contribution":{"policyId":"sz-2020-property-covid","path":{"city":"440300","#,
    r#""district":"4403","subdistrict":"4403","community":"4403"},"companyId":"","live":true,"totals":{"#,
    r#""approved":0,"approvedAmountFen":0,"approvedAreaHundredths":0,"awaitingAreaConfirmation":0,"#,
    r#""claimedAmountFen":0,"claimedAreaHundredths":0,"companies":0,"inPaymentBatch":0,"paid":0,"#,
    r#""paymentFailed":0,"pendingCommunity":0,"pendingDistrict":0,"pendingSubdistrict":0,"projects":0,"#,
    r#""rejected":0,"returned":0,"withdrawn":0}}}"#,
    // Pre-checks and documents.
    r#"{"applicationId":"","tier":"community","version":1,"round":1,"checkedAt":"2020-","checks":[]}"#,
    r#"{"id":"","applicationId":"","kind":"service_contract","fileName":".pdf","contentType":"application/pdf","#,
    r#""size":1,"status":"verified","refusal":null,"uploadedBy":"","createdAt":"2020-","#,
    r#""checkedVersion":"sha256:","auditSeq":1,"auditHead":""}"#,
    // Audit entries.
    r#"{"subject":"","seq":1,"at":"2020-","actorId":"","role":"company","action":"submit","from":"draft","#,
    r#""to":"awaiting_area_confirmation","comment":null,"prevHash":"","hash":""}"#,
    r#""role":"project_manager","action":"confirm_area","from":"awaiting_area_confirmation","to":"pending_community","#,
    r#""role":"finance","action":"add_to_batch","from":"approved","to":"in_payment_batch","#,
    r#""action":"mark_paid","from":"in_payment_batch","to":"paid","#,
    r#""role":"district","action":"approve","from":"pending_district","to":"approved","#,
    r#""role":"subdistrict","action":"approve","from":"pending_subdistrict","to":"pending_district","#,
    r#""role":"community","action":"approve","from":"pending_community","to":"pending_subdistrict","#,
    r#""role":"company","action":"create","from":null,"to":"draft","comment":null,"prevHash":"#,
    r#""0000000000000000000000000000000000000000000000000000000000000000","#,
    // The application, last: the commonest record.
    r#"{"id":"","policyId":"sz-2020-property-covid","companyId":"","owner":"","#,
    r#""companyName":"深圳市物业服务有限公司","creditCode":"91440300","projectId":"","claimKey":"","#,
    r#""project":{"name":"","address":"深圳市区街道路号","managedArea":"","managerName":"","#,
    r#""managerPhone":"1"},"jurisdiction":{"city":"440300","district":"4403","subdistrict":"4403","#,
    r#""community":"4403"},"state":"pending_community","version":1,"claimedArea":"","claimedAmount":"","#,
    r#""confirmedArea":null,"approvedArea":null,"approvedAmount":null,"note":null,"approvals":[],"#,
    r#""lastDecision":{"kind":"returned","role":"community","reason":"","by":"","at":"2020-"},"#,
    r#""approvals":[{"tier":"community","area":"","reason":null,"by":"","at":"2020-"},"#,
    r#"{"tier":"subdistrict","area":"","reason":null,"by":"","at":"2020-"},"#,
    r#"{"tier":"district","area":"","reason":null,"by":"","at":"2020-"}],"lastDecision":null,"round":1,"#,
    r#""batchId":null,"payee":{"bankName":"中国银行深圳分行","accountName":"","accountNumber":""},"#,
    r#""payeeChange":null,"payeeRevealed":null,"paymentLine":null,"failedLine":null,"#,
    r#""createdAt":"2020-","updatedAt":"2020-","submittedAt":"2020-","stateSince":"2020-","#,
    r#""auditSeq":1,"auditHead":"","pendingAudit":{"subject":"","seq":1,"at":"2020-","actorId":"","#,
    r#""role":"community","action":"approve","from":"pending_community","to":"pending_subdistrict","#,
    r#""comment":null,"prevHash":"","hash":""}}"#,
);

/// A stored body that is not a record this code can read.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("record does not serialize: {0}")]
    Serialize(String),
}

/// The stored form of a record: [`DEFLATE_V1`] and the deflated JSON.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, CompactError> {
    let json = serde_json::to_vec(record).map_err(|e| CompactError::Serialize(e.to_string()))?;
    Ok(deflate(&json))
}

/// The record in a stored body: compact, or plain JSON from before.
pub fn decode<T: DeserializeOwned>(stored: &[u8]) -> Result<T, CompactError> {
    let json = json_of(stored)?;
    serde_json::from_slice(&json).map_err(|e| CompactError::Corrupt(e.to_string()))
}

/// The JSON text inside a stored body (for tools and tests that edit it).
pub fn json_of(stored: &[u8]) -> Result<Vec<u8>, CompactError> {
    match stored.first() {
        Some(&DEFLATE_V1) => inflate(&stored[1..]),
        Some(_) => Ok(stored.to_vec()),
        None => Err(CompactError::Corrupt("empty body".into())),
    }
}

/// The stored form of JSON text (for tools and tests that edit a body).
pub fn deflate(json: &[u8]) -> Vec<u8> {
    // One compressor per thread, reset for each record: a fresh one
    // allocates its tables (~160 KB) every time, which showed as resident
    // memory the allocator kept (the bench's server peak doubled).
    thread_local! {
        static DEFLATER: std::cell::RefCell<Compress> = std::cell::RefCell::new(
            // Level 6 stores records as small as 9 does (measured on bench
            // records: 490 B either way); an 8 KiB window holds the
            // dictionary and any record's back-references to it.
            Compress::new_with_window_bits(Compression::new(6), false, 13),
        );
    }
    DEFLATER.with_borrow_mut(|c| {
        c.reset();
        c.set_dictionary(DICTIONARY_V1.as_bytes()).expect("a reset raw stream takes a dictionary");
        // Deflate's worst case is 5 bytes per 16 KiB block over the input.
        let mut out = Vec::with_capacity(json.len() + json.len() / 1000 + 64);
        out.push(DEFLATE_V1);
        loop {
            let status = c.compress_vec(&json[c.total_in() as usize..], &mut out, FlushCompress::Finish);
            match status.expect("deflate cannot fail on memory it owns") {
                Status::StreamEnd => return out,
                _ => out.reserve(out.capacity().max(64)),
            }
        }
    })
}

/// The most a body may inflate to: DynamoDB's item limit, and far more
/// than any record; a body that claims more is not one of ours.
const MAX_INFLATED: usize = 400 * 1024;

fn inflate(deflated: &[u8]) -> Result<Vec<u8>, CompactError> {
    thread_local! {
        static INFLATER: std::cell::RefCell<Decompress> = std::cell::RefCell::new(Decompress::new(false));
    }
    INFLATER.with_borrow_mut(|d| {
        d.reset(false);
        d.set_dictionary(DICTIONARY_V1.as_bytes()).map_err(|e| CompactError::Corrupt(e.to_string()))?;
        let mut out = Vec::with_capacity(deflated.len() * 4);
        loop {
            let before = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(&deflated[d.total_in() as usize..], &mut out, FlushDecompress::Finish)
                .map_err(|e| CompactError::Corrupt(e.to_string()))?;
            match status {
                Status::StreamEnd => return Ok(out),
                _ if out.len() > MAX_INFLATED => return Err(CompactError::Corrupt("body inflates too far".into())),
                // No progress with room to spare: the stream ends early.
                _ if (d.total_in(), d.total_out()) == before && out.len() < out.capacity() => {
                    return Err(CompactError::Corrupt("truncated body".into()));
                }
                _ => out.reserve(out.capacity().max(256)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn application() -> Value {
        json!({"id":"01M931XDJ3TQ57CQNE1PAYX4WV","policyId":"sz-2020-property-covid","companyId":"01M931XDE71ZRJ15REABABQ9MH",
            "owner":"a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d","companyName":"深圳市福田区安居物业管理有限公司",
            "creditCode":"91440300MA5D000015","projectId":"01M931XDJ0W5BBV9THV2DACG3G","claimKey":"440304001020#南园花园",
            "project":{"name":"南园花园","address":"福田区南园街道南园路 88 号","managedArea":"52345.67",
            "managerName":"王建国","managerPhone":"13800138001"},
            "jurisdiction":{"city":"440300","district":"440304","subdistrict":"440304001","community":"440304001020"},
            "state":"paid","version":8,"claimedArea":"52345.67","claimedAmount":"52345.67","confirmedArea":"52345.67",
            "approvedArea":"52345.67","approvedAmount":"52345.67","note":"请审核",
            "approvals":[{"tier":"community","area":"52345.67","reason":null,"by":"zhang.community","at":"2020-03-02T01:02:03.123456789Z"},
                {"tier":"subdistrict","area":"52345.67","reason":null,"by":"li.subdistrict","at":"2020-03-03T01:02:03.123456789Z"},
                {"tier":"district","area":"52345.67","reason":null,"by":"wang.district","at":"2020-03-04T01:02:03.123456789Z"}],
            "lastDecision":null,"round":1,"batchId":"01M931XQS6W9SNWHQN8K3J5E0C",
            "payee":{"bankName":"中国工商银行深圳分行","accountName":"深圳市福田区安居物业管理有限公司","accountNumber":"4000021234567890123"},
            "payeeChange":null,"payeeRevealed":null,"paymentLine":"01M931XQWX3CDBY6TGC5D76028","failedLine":null,
            "createdAt":"2020-03-01T01:02:03.123456789Z","updatedAt":"2020-03-09T01:02:03.123456789Z",
            "submittedAt":"2020-03-01T02:02:03.123456789Z","stateSince":"2020-03-09T01:02:03.123456789Z",
            "auditSeq":8,"auditHead":"dd0ad1272f4664c4d6c51064517e844c61c0d78c6d7505b614344235f3e9db85"})
    }

    #[test]
    fn a_record_round_trips_and_a_paid_application_is_under_half_a_kilobyte_and_a_half() {
        let app = application();
        let stored = encode(&app).unwrap();
        assert_eq!(stored[0], DEFLATE_V1);
        assert_eq!(decode::<Value>(&stored).unwrap(), app);
        let json = serde_json::to_vec(&app).unwrap().len();
        // What makes the DynamoDB item fit in one write unit (1 KB) with
        // its index attributes.
        assert!(stored.len() * 2 < json, "{} of {json} bytes", stored.len());
        assert!(stored.len() < 640, "{} bytes", stored.len());
    }

    #[test]
    fn plain_json_from_before_is_still_read() {
        let app = application();
        assert_eq!(decode::<Value>(app.to_string().as_bytes()).unwrap(), app);
        assert_eq!(json_of(app.to_string().as_bytes()).unwrap(), app.to_string().as_bytes());
    }

    #[test]
    fn the_dictionary_never_changes() {
        // Records on disk and in tables were deflated against this exact
        // text: changing it makes them unreadable. Add DEFLATE_V2 instead.
        let mut crc = flate2::Crc::new();
        crc.update(DICTIONARY_V1.as_bytes());
        assert_eq!((DICTIONARY_V1.len(), crc.sum()), (4195, 2_152_086_127));
    }

    #[test]
    fn bad_bodies_are_refused_not_misread() {
        let stored = encode(&application()).unwrap();
        // Empty, a tag alone, truncated, a flipped byte, and plain garbage.
        assert!(decode::<Value>(&[]).is_err());
        assert!(decode::<Value>(&[DEFLATE_V1]).is_err());
        assert!(decode::<Value>(&stored[..stored.len() / 2]).is_err());
        let mut flipped = stored.clone();
        flipped[20] ^= 0x55;
        assert!(decode::<Value>(&flipped).map(|v| v != application()).unwrap_or(true));
        assert!(decode::<Value>(b"not json").is_err());
        // A bomb: a megabyte of zeros deflates to a kilobyte, and is refused.
        let bomb = deflate(&vec![b'0'; 1 << 20]);
        assert!(bomb.len() < 2048);
        assert!(matches!(json_of(&bomb), Err(CompactError::Corrupt(m)) if m.contains("too far")));
        // The thread's inflater and deflater are reset for each record: a
        // refused body spoils nothing after it.
        assert_eq!(decode::<Value>(&stored).unwrap(), application());
        assert_eq!(encode(&application()).unwrap(), stored);
    }

    proptest! {
        #[test]
        fn any_json_text_round_trips(text in "\\PC{0,600}", n in any::<i64>()) {
            let v = json!({"name": text, "n": n, "list": [text.clone(), text]});
            prop_assert_eq!(decode::<Value>(&encode(&v).unwrap()).unwrap(), v);
        }
    }
}
