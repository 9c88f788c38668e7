//! The `application/x-www-form-urlencoded` codec, strict on purpose: an invalid percent escape or a
//! field that is not UTF-8 is an error, where `form_urlencoded::parse` would pass the escape through
//! and replace the bytes. The body of a Slack interaction and the confirm page's POST are read with
//! it.

/// Why an `application/x-www-form-urlencoded` body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent escape at byte {offset} of the form body")]
    InvalidPercentEscape {
        /// Byte offset of the `%` in the raw body.
        offset: usize,
    },
    /// A name or value is not UTF-8 once decoded.
    #[error("a form field is not valid UTF-8 once decoded")]
    NotUtf8,
}

/// Decodes an `application/x-www-form-urlencoded` body into `(name, value)` pairs, in order.
///
/// Follows the WHATWG URL standard's parser: pairs split on `&` (empty pairs skipped), name and
/// value split on the first `=` (a pair without `=` has an empty value), `+` becomes a space,
/// `%XX` becomes the byte `0xXX`. Stricter than the standard on purpose: an invalid percent escape
/// or a result that is not UTF-8 is an error rather than being passed through or replaced.
/// Repeated names are all returned; the caller decides what a duplicate means.
pub fn decode_form_urlencoded(raw: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut fields = Vec::new();
    let mut pair_offset = 0;
    for pair in raw.split(|&b| b == b'&') {
        if !pair.is_empty() {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            let value_offset = pair_offset + name.len() + 1;
            fields.push((percent_decode(name, pair_offset)?, percent_decode(value, value_offset)?));
        }
        pair_offset += pair.len() + 1;
    }
    Ok(fields)
}

/// Encodes one name or value for an `application/x-www-form-urlencoded` body: ASCII letters,
/// digits and `*-._` stay, a space becomes `+`, every other byte becomes `%XX` (uppercase hex).
/// The inverse of the decoding in [`decode_form_urlencoded`]; used by tests and the local demo to
/// build the body Slack would send (`payload=` + encoded JSON).
pub fn encode_form_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn percent_decode(bytes: &[u8], base_offset: usize) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_value);
                let low = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(FormError::InvalidPercentEscape { offset: base_offset + i });
                };
                out.push(high << 4 | low);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn form_decoding_handles_plus_percent_and_empty_pairs() {
        let fields = decode_form_urlencoded(b"a=1+2&&b=%2Fx%2fy&flag&c=&=v&d=a=b&").unwrap();
        let expected = [("a", "1 2"), ("b", "/x/y"), ("flag", ""), ("c", ""), ("", "v"), ("d", "a=b")];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn form_decoding_of_an_empty_body_is_empty() {
        assert_eq!(decode_form_urlencoded(b"").unwrap(), Vec::new());
    }

    #[test]
    fn form_decoding_reads_multibyte_utf8() {
        let fields = decode_form_urlencoded(b"name=Ren%C3%A9e").unwrap();
        assert_eq!(fields, vec![("name".to_owned(), "Renée".to_owned())]);
    }

    #[test]
    fn invalid_percent_escapes_are_errors_with_their_offset() {
        let cases: [(&[u8], usize); 5] =
            [(b"a=%", 2), (b"a=%4", 2), (b"a=%zz", 2), (b"ok=1&b%g1=2", 6), (b"a=1&b=x%2", 7)];
        for (body, offset) in cases {
            assert_eq!(decode_form_urlencoded(body), Err(FormError::InvalidPercentEscape { offset }), "{body:?}");
        }
    }

    #[test]
    fn form_fields_that_are_not_utf8_are_errors() {
        assert_eq!(decode_form_urlencoded(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(decode_form_urlencoded(b"a=\xff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode_form_component("aZ09*-._ /&=+%é"), "aZ09*-._+%2F%26%3D%2B%25%C3%A9");
    }
    proptest! {
        #[test]
        fn form_encoding_round_trips(name in ".*", value in ".*") {
            let body = format!("{}={}", encode_form_component(&name), encode_form_component(&value));
            prop_assert_eq!(decode_form_urlencoded(body.as_bytes()), Ok(vec![(name, value)]));
        }

        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_form_urlencoded(&body);
        }
    }
}
