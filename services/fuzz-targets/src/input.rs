//! Cutting one fuzz input into the several fields a parser takes. Every byte string
//! cuts into something (short inputs give empty fields), so no input is wasted and
//! the fuzzer can grow any field on its own.

/// Reads fields off the front of a fuzz input.
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// One byte, 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((first, rest)) => {
                self.rest = rest;
                *first
            }
            None => 0,
        }
    }

    /// A field of up to 255 bytes, its length given by the byte before it.
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.byte()).min(self.rest.len());
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        field
    }

    /// A text field ([`Fields::bytes`], invalid UTF-8 replaced).
    pub fn text(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// Eight bytes, little-endian (missing bytes are 0).
    pub fn i64(&mut self) -> i64 {
        let mut buf = [0u8; 8];
        for b in &mut buf {
            *b = self.byte();
        }
        i64::from_le_bytes(buf)
    }

    /// Whatever is left.
    pub fn rest(self) -> &'a [u8] {
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_and_clamped() {
        let mut fields = Fields::new(b"\x02ab\x09cd");
        assert_eq!(fields.bytes(), b"ab");
        assert_eq!(fields.bytes(), b"cd");
        assert_eq!(fields.bytes(), b"");
        assert_eq!(fields.byte(), 0);
        assert_eq!(fields.rest(), b"");
    }
}
