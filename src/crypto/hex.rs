//! Lower-case hexadecimal, for digests and nonces.

pub fn lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Bytes from hexadecimal of either case; None for an odd length or a non-hex character.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_what_it_encodes_and_refuses_the_rest() {
        assert_eq!(super::decode("000FA5ff"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(super::decode(&super::lower(&[1, 2, 254])), Some(vec![1, 2, 254]));
        for bad in ["0", "0g", "+1", "é0"] {
            assert_eq!(super::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn encodes_each_byte_as_two_digits() {
        assert_eq!(super::lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::lower(&[]), "");
    }
}
