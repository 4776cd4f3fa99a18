//! The three item encodings a command's fields use: Int, SimilarIntArray and String. Every item
//! starts with a header byte whose high nibble is the item type; what the low nibble means depends
//! on the type.

use std::collections::BTreeMap;

use super::WireError;

/// Item type of a signed integer: the header's low nibble counts the big-endian magnitude bytes
/// that follow, and the top bit of the first of them is the sign.
pub(crate) const INT: u8 = 0;
/// Item type of a list of ids grouped by 256-block (see [`write_similar_int_array`]).
pub(crate) const SIMILAR_INT_ARRAY: u8 = 1;
/// Item type of a UTF-8 string: the header's low nibble is the top 4 bits of a 12-bit length.
pub(crate) const STRING: u8 = 2;

/// The most ids one SimilarIntArray group can hold: a group's count is its Int's low byte.
pub const MAX_IDS_PER_GROUP: usize = 255;
/// The most groups one SimilarIntArray can hold: the group count is a single byte.
pub const MAX_GROUPS: usize = 255;

/// A byte reader over one command body that fails with [`WireError::Truncated`] instead of
/// reading past the end.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, WireError> {
        let b = *self.bytes.get(self.pos).ok_or(WireError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }
}

/// The item type in a header byte.
pub(crate) fn item_type(header: u8) -> u8 {
    header >> 4
}

/// Appends an Int item holding `value`.
///
/// The magnitude takes as few bytes as hold its bits plus a clear sign bit, so 127 takes one byte
/// and 128 two; values from 2^63 take nine. This is the width the package picks, and the goldens
/// compare bytes, so it must be the same.
pub(crate) fn write_int(out: &mut Vec<u8>, value: u64) {
    let bits = (u64::BITS - value.leading_zeros()).max(1) as usize;
    let len = (bits + 1).div_ceil(8); // 1..=9, fits the 4-bit length nibble
    out.push((INT << 4) | len as u8);
    let bytes = u128::from(value).to_be_bytes();
    out.extend_from_slice(&bytes[bytes.len() - len..]);
}

/// Reads the rest of an Int item whose header byte has been read.
///
/// Up to 15 magnitude bytes can be announced; 15 bytes less the sign bit is 119 bits, which an
/// `i128` holds, so nothing here can overflow. Range checks are the caller's, per field. A length
/// of 0 reads as 0 and a sign on a zero magnitude as 0, as the package reads them.
pub(crate) fn read_int(cursor: &mut Cursor<'_>, header: u8) -> Result<i128, WireError> {
    let bytes = cursor.take(usize::from(header & 0x0f))?;
    let Some((&first, rest)) = bytes.split_first() else {
        return Ok(0);
    };
    let magnitude = rest.iter().fold(u128::from(first & 0x7f), |acc, &b| {
        (acc << 8) | u128::from(b)
    });
    // magnitude < 2^119, so the cast is exact.
    let magnitude = magnitude as i128;
    Ok(if first & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    })
}

/// Ids read from a SimilarIntArray, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) ids: Vec<u64>,
    /// Some group stood for negative ids or ids above `u64::MAX` (those ids are not in `ids`).
    pub(crate) out_of_range: bool,
}

/// Reads the rest of a SimilarIntArray item whose header byte has been read. `field` names the
/// field in errors; `keep` is false for fields nobody reads, which are only skipped.
///
/// Layout: a group count byte, then per group an Int `common | count` (the ids' shared bits above
/// the low byte, and how many ids follow) and `count` bytes, each the low byte of one id.
pub(crate) fn read_similar_int_array(
    cursor: &mut Cursor<'_>,
    field: char,
    keep: bool,
) -> Result<Ids, WireError> {
    let groups = cursor.byte()?;
    let mut out = Ids {
        ids: Vec::new(),
        out_of_range: false,
    };
    for _ in 0..groups {
        let header = cursor.byte()?;
        if item_type(header) != INT {
            return Err(WireError::WrongItemType { field });
        }
        let value = read_int(cursor, header)?;
        // `&` on a negative i128 works on its two's complement, as the package's BigInt `&` does,
        // so even a group of out-of-range ids is skipped by the same count the package reads.
        let count = (value & 0xff) as usize;
        let common = value & !0xff;
        let low_bytes = cursor.take(count)?;
        match u64::try_from(common) {
            Ok(common) if keep => out
                .ids
                .extend(low_bytes.iter().map(|&b| common | u64::from(b))),
            Ok(_) => {}
            Err(_) => out.out_of_range = true,
        }
    }
    Ok(out)
}

/// Appends a SimilarIntArray item holding `ids`, and returns how many ids it had to leave out.
///
/// Ids are grouped by their bits above the low byte, groups in the order their first id appears
/// and ids within a group in input order: the package's order, which the goldens pin. Where the
/// package would overflow a byte (see the module doc), a group of more than 255 ids is written as
/// several groups with the same common bits, which the package reads back correctly, and groups
/// past the 255th are left out (their ids are counted in the return value).
pub(crate) fn write_similar_int_array(out: &mut Vec<u8>, ids: &[u64]) -> usize {
    let mut groups: Vec<(u64, Vec<u8>)> = Vec::new();
    // A BTreeMap, not a HashMap: no hasher seeded from OS randomness in the core.
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for &id in ids {
        let common = id & !0xff;
        let slot = *index.entry(common).or_insert_with(|| {
            groups.push((common, Vec::new()));
            groups.len() - 1
        });
        if let Some((_, low_bytes)) = groups.get_mut(slot) {
            low_bytes.push((id & 0xff) as u8);
        }
    }
    let wire_groups = groups.iter().flat_map(|(common, low_bytes)| {
        low_bytes
            .chunks(MAX_IDS_PER_GROUP)
            .map(move |chunk| (*common, chunk))
    });
    let written = wire_groups.clone().take(MAX_GROUPS).count();
    out.push(SIMILAR_INT_ARRAY << 4);
    out.push(written as u8); // written <= 255
    let mut kept = 0;
    for (common, chunk) in wire_groups.take(MAX_GROUPS) {
        write_int(out, common | chunk.len() as u64); // len <= 255 fits the low byte
        out.extend_from_slice(chunk);
        kept += chunk.len();
    }
    ids.len() - kept
}

/// Skips the rest of a String item whose header byte has been read. No command has a string
/// field, so the text itself is never needed.
pub(crate) fn skip_string(cursor: &mut Cursor<'_>, header: u8) -> Result<(), WireError> {
    let low = cursor.byte()?;
    let len = (usize::from(header & 0x0f) << 8) | usize::from(low);
    cursor.take(len).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_bytes(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_int(&mut out, value);
        out
    }

    fn read_back_int(bytes: &[u8]) -> Result<i128, WireError> {
        let mut cursor = Cursor::new(bytes);
        let header = cursor.byte()?;
        assert_eq!(item_type(header), INT);
        let value = read_int(&mut cursor, header)?;
        assert!(cursor.is_empty(), "left bytes unread");
        Ok(value)
    }

    #[test]
    fn int_width_leaves_room_for_the_sign_bit() {
        assert_eq!(int_bytes(0), [0x01, 0x00]);
        assert_eq!(int_bytes(1), [0x01, 0x01]);
        assert_eq!(int_bytes(127), [0x01, 0x7f]);
        assert_eq!(int_bytes(128), [0x02, 0x00, 0x80]);
        assert_eq!(int_bytes(0x7fff), [0x02, 0x7f, 0xff]);
        assert_eq!(int_bytes(0x8000), [0x03, 0x00, 0x80, 0x00]);
        assert_eq!(int_bytes(1 << 62), [0x08, 0x40, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            int_bytes(u64::MAX),
            [0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn int_round_trips_at_every_width() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                assert_eq!(read_back_int(&int_bytes(value)), Ok(i128::from(value)));
            }
        }
        assert_eq!(
            read_back_int(&int_bytes(u64::MAX)),
            Ok(i128::from(u64::MAX))
        );
    }

    #[test]
    fn int_reads_sign_zero_length_and_wide_magnitudes() {
        assert_eq!(read_back_int(&[0x01, 0x81]), Ok(-1));
        assert_eq!(read_back_int(&[0x02, 0x80, 0xff]), Ok(-255));
        assert_eq!(read_back_int(&[0x01, 0x80]), Ok(0)); // negative zero
        assert_eq!(read_back_int(&[0x00]), Ok(0));
        assert_eq!(read_back_int(&[0x04, 0, 0, 0, 5]), Ok(5));
        let mut widest = vec![0x0f, 0x7f];
        widest.extend([0xff; 14]);
        assert_eq!(read_back_int(&widest), Ok((1i128 << 119) - 1));
        widest[1] = 0xff;
        assert_eq!(read_back_int(&widest), Ok(-((1i128 << 119) - 1)));
    }

    #[test]
    fn int_rejects_missing_magnitude_bytes() {
        assert_eq!(read_back_int(&[0x02, 0x01]), Err(WireError::Truncated));
        assert_eq!(read_back_int(&[0x0f]), Err(WireError::Truncated));
    }

    fn array_bytes(ids: &[u64]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let dropped = write_similar_int_array(&mut out, ids);
        (out, dropped)
    }

    fn read_back_array(bytes: &[u8]) -> Result<Ids, WireError> {
        let mut cursor = Cursor::new(bytes);
        let header = cursor.byte()?;
        assert_eq!(item_type(header), SIMILAR_INT_ARRAY);
        let ids = read_similar_int_array(&mut cursor, 'l', true)?;
        assert!(cursor.is_empty(), "left bytes unread");
        Ok(ids)
    }

    #[test]
    fn array_groups_ids_by_block_in_first_seen_order() {
        let (bytes, dropped) = array_bytes(&[300, 1, 2, 301, 5]);
        assert_eq!(dropped, 0);
        // 2 groups: 256|2 (Int 0x0102, two bytes), then 0|3.
        assert_eq!(
            bytes,
            [0x10, 2, 0x02, 0x01, 0x02, 44, 45, 0x01, 0x03, 1, 2, 5]
        );
        assert_eq!(
            read_back_array(&bytes).map(|a| a.ids),
            Ok(vec![300, 301, 1, 2, 5])
        );
    }

    #[test]
    fn array_empty() {
        let (bytes, dropped) = array_bytes(&[]);
        assert_eq!((bytes.as_slice(), dropped), (&[0x10, 0][..], 0));
        assert_eq!(read_back_array(&bytes).map(|a| a.ids), Ok(vec![]));
    }

    #[test]
    fn array_splits_a_full_block_into_two_groups() {
        let ids: Vec<u64> = (512..768).collect();
        let (bytes, dropped) = array_bytes(&ids);
        assert_eq!(dropped, 0);
        assert_eq!(&bytes[..5], &[0x10, 2, 0x02, 0x02, 0xff]); // 512 | 255
        assert_eq!(&bytes[5 + 255..5 + 255 + 3], &[0x02, 0x02, 0x01]); // 512 | 1
        assert_eq!(read_back_array(&bytes).map(|a| a.ids), Ok(ids));
    }

    #[test]
    fn array_leaves_out_groups_past_the_255th() {
        let ids: Vec<u64> = (0..300).map(|b| b * 256).collect();
        let (bytes, dropped) = array_bytes(&ids);
        assert_eq!(dropped, 45);
        assert_eq!(
            read_back_array(&bytes).map(|a| a.ids),
            Ok(ids[..255].to_vec())
        );
    }

    #[test]
    fn array_of_largest_ids() {
        let ids = [u64::MAX, u64::MAX - 1, 1 << 63];
        let (bytes, _) = array_bytes(&ids);
        assert_eq!(read_back_array(&bytes).map(|a| a.ids), Ok(ids.to_vec()));
    }

    #[test]
    fn array_flags_negative_and_too_large_groups() {
        // Group Int -255: two's complement ...ff01, so count 1 and common -256: id -1.
        let negative = [0x10, 1, 0x02, 0x80, 0xff, 0xff];
        let read = read_back_array(&negative).expect("well formed");
        assert!(read.out_of_range && read.ids.is_empty());
        // Group Int 2^64 | 1: one id above u64::MAX.
        let mut huge = vec![0x10, 1, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 7];
        let read = read_back_array(&huge).expect("well formed");
        assert!(read.out_of_range && read.ids.is_empty());
        huge[1] = 2; // a second group is announced but missing
        assert_eq!(read_back_array(&huge), Err(WireError::Truncated));
    }

    #[test]
    fn array_rejects_cut_groups_and_non_int_group_headers() {
        assert_eq!(read_back_array(&[0x10]), Err(WireError::Truncated));
        assert_eq!(read_back_array(&[0x10, 1]), Err(WireError::Truncated));
        assert_eq!(
            read_back_array(&[0x10, 1, 0x01, 2, 9]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            read_back_array(&[0x10, 1, 0x21, 0, 0]),
            Err(WireError::WrongItemType { field: 'l' })
        );
    }

    #[test]
    fn string_skips_its_12_bit_length() {
        let mut long = vec![0x21, 0x02];
        long.extend([b'a'; 0x102]);
        let mut cursor = Cursor::new(&long);
        let header = cursor.byte().unwrap();
        assert_eq!(item_type(header), STRING);
        assert_eq!(skip_string(&mut cursor, header), Ok(()));
        assert!(cursor.is_empty());

        let mut cursor = Cursor::new(&long[..long.len() - 1]);
        let header = cursor.byte().unwrap();
        assert_eq!(skip_string(&mut cursor, header), Err(WireError::Truncated));
        let mut cursor = Cursor::new(&[0x20]);
        let header = cursor.byte().unwrap();
        assert_eq!(skip_string(&mut cursor, header), Err(WireError::Truncated));
    }
}
