//! The record reader behind the CSV loader.
//!
//! Most lines of a shop export are plain: no quote, fields between
//! delimiters. Those are split here in one pass over their bytes (with
//! `memchr`, a vector at a time, when a line does not fit the buffered
//! input), and read in place. A line with a quote goes to `csv-core`, the state machine
//! under the `csv` crate, which reads the record exactly as `csv` would,
//! across line breaks inside quoted fields. Both paths end lines at `\n`,
//! `\r\n` or a lone `\r` (as `csv` does), skip empty lines, count lines for
//! error messages, refuse a line longer than [`MAX_LINE_BYTES`] while it is
//! read, check UTF-8 once per record, and check that every record has as
//! many fields as the first (the header).

use std::io::BufRead;

use csv_core::ReadRecordResult;

use crate::error::{Error, Result};

/// The longest line a CSV or CDNOW file may have: 1 MiB. A longer one is refused
/// while it is read, so that a hostile file cannot make the loader hold an
/// unbounded field in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How a line ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// `\n`, `\r\n` or `\r`: its bytes, for a quoted field that spans it.
    Break(&'static [u8]),
    /// The end of the input.
    Eof,
}

/// Records of a CSV stream, one at a time.
pub(crate) struct Records<R> {
    inner: R,
    delimiter: u8,
    /// Bytes of the line being read (reused).
    bytes: Vec<u8>,
    /// The current record's text: the line itself for a plain record, the
    /// unescaped fields one after another for a quoted one.
    text: String,
    /// Where each field ends in `text`.
    ends: Vec<usize>,
    /// Whether fields in `text` are separated by a delimiter byte (plain)
    /// or follow each other (quoted, unescaped by csv-core).
    separated: bool,
    core: csv_core::Reader,
    /// Line breaks read so far.
    lines: u64,
    /// The stream's start has been checked for a byte-order mark.
    started: bool,
    /// Fields of the first record, which every later one must have.
    width: Option<usize>,
}

fn malformed(line: u64, reason: impl Into<String>) -> Error {
    Error::MalformedRow { line, reason: reason.into() }
}

impl<R: BufRead> Records<R> {
    pub(crate) fn new(inner: R, delimiter: u8) -> Records<R> {
        Records {
            inner,
            delimiter,
            bytes: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
            separated: true,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            lines: 0,
            started: false,
            width: None,
        }
    }

    /// Appends the next line, without its end, to `out`; at most
    /// [`MAX_LINE_BYTES`] of it.
    fn read_line(&mut self, out: &mut Vec<u8>) -> Result<End> {
        let start = out.len();
        loop {
            let line = self.lines + 1;
            let buf = self.inner.fill_buf().map_err(|e| malformed(line, e.to_string()))?;
            if !self.started && !buf.is_empty() {
                self.started = true;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    self.inner.consume(3);
                    continue;
                }
            }
            let Some(i) = memchr::memchr2(b'\n', b'\r', buf) else {
                if buf.is_empty() {
                    return Ok(End::Eof);
                }
                let n = buf.len();
                out.extend_from_slice(buf);
                self.inner.consume(n);
                if out.len() - start > MAX_LINE_BYTES {
                    return Err(malformed(line, format!("a line longer than {MAX_LINE_BYTES} bytes")));
                }
                continue;
            };
            let cr = buf[i] == b'\r';
            out.extend_from_slice(&buf[..i]);
            self.inner.consume(i + 1);
            self.lines += 1;
            if out.len() - start > MAX_LINE_BYTES {
                return Err(malformed(line, format!("a line longer than {MAX_LINE_BYTES} bytes")));
            }
            if !cr {
                return Ok(End::Break(b"\n"));
            }
            // A CRLF is one line end; its `\n` may start the next read.
            let next = self.inner.fill_buf().map_err(|e| malformed(line, e.to_string()))?;
            if next.first() == Some(&b'\n') {
                self.inner.consume(1);
                return Ok(End::Break(b"\r\n"));
            }
            return Ok(End::Break(b"\r"));
        }
    }

    /// A plain line wholly inside the buffered input, split in one pass
    /// over its bytes: the delimiters' places noted, the line end found,
    /// a quote or anything unusual handed back (`false`, nothing consumed)
    /// to the general reading below. Short lines are most of a shop export,
    /// and on them one byte loop beats three vector searches, each with its
    /// own set-up.
    fn plain_record(&mut self) -> Result<bool> {
        let delimiter = self.delimiter;
        if !self.started || matches!(delimiter, b'\n' | b'\r' | b'"') {
            return Ok(false);
        }
        let Ok(buf) = self.inner.fill_buf() else { return Ok(false) };
        self.ends.clear();
        let mut end = None;
        for (i, &b) in buf.iter().take(MAX_LINE_BYTES + 1).enumerate() {
            if b == delimiter {
                self.ends.push(i);
            } else if b == b'\n' || b == b'\r' {
                end = Some(i);
                break;
            } else if b == b'"' {
                return Ok(false);
            }
        }
        // Not a whole non-empty line in the buffer, or a lone `\r` at its
        // end (its `\n` may come with the next read): the general path.
        let Some(i) = end.filter(|&i| i > 0) else { return Ok(false) };
        let consumed = match buf[i] {
            b'\n' => i + 1,
            _ if buf.get(i + 1) == Some(&b'\n') => i + 2,
            _ if i + 1 < buf.len() => i + 1,
            _ => return Ok(false),
        };
        self.ends.push(i);
        self.bytes.clear();
        self.bytes.extend_from_slice(&buf[..i]);
        self.inner.consume(consumed);
        self.lines += 1;
        self.separated = true;
        self.take_text(self.lines)?;
        Ok(true)
    }

    /// Reads the next record; its one-based first line, or `None` at the end.
    pub(crate) fn next_record(&mut self) -> Result<Option<u64>> {
        if self.plain_record()? {
            let line = self.lines;
            self.check_width(line)?;
            return Ok(Some(line));
        }
        loop {
            let mut bytes = std::mem::take(&mut self.bytes);
            bytes.clear();
            let first_line = self.lines + 1;
            let end = self.read_line(&mut bytes);
            self.bytes = bytes;
            let end = end?;
            if self.bytes.is_empty() {
                if end == End::Eof {
                    return Ok(None);
                }
                continue; // an empty line, skipped as csv skips it
            }
            if memchr::memchr(b'"', &self.bytes).is_some() {
                self.read_quoted(end, first_line)?;
            } else {
                self.ends.clear();
                self.ends.extend(memchr::memchr_iter(self.delimiter, &self.bytes));
                self.ends.push(self.bytes.len());
                self.separated = true;
                self.take_text(first_line)?;
            }
            self.check_width(first_line)?;
            return Ok(Some(first_line));
        }
    }

    /// Every record has as many fields as the first.
    fn check_width(&mut self, line: u64) -> Result<()> {
        let width = self.ends.len();
        match self.width {
            None => self.width = Some(width),
            Some(w) if w != width => {
                return Err(malformed(line, format!("found a record with {width} fields, but the header has {w}")));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Moves `bytes` (or, quoted, the unescaped `output`) into `text`,
    /// checking UTF-8 once; the old text's buffer is reused for the next line.
    fn take_text(&mut self, line: u64) -> Result<()> {
        let mut old = std::mem::take(&mut self.text).into_bytes();
        old.clear();
        let bytes = std::mem::replace(&mut self.bytes, old);
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.text = text;
                Ok(())
            }
            Err(e) => {
                self.bytes = e.into_bytes();
                Err(malformed(line, "invalid UTF-8"))
            }
        }
    }

    /// Reads a record with a quote, starting with the line in `bytes`,
    /// through csv-core, with as many further lines as its quoted fields span.
    fn read_quoted(&mut self, mut end: End, first_line: u64) -> Result<()> {
        let mut input = std::mem::take(&mut self.bytes);
        let mut output = Vec::new();
        let (mut consumed, mut written, mut fields) = (0, 0, 0);
        self.ends.clear();
        loop {
            if let End::Break(bytes) = end {
                input.extend_from_slice(bytes);
            }
            loop {
                if output.len() < written + (input.len() - consumed) + 1 {
                    output.resize(written + (input.len() - consumed) + 64, 0);
                }
                if self.ends.len() < fields + 1 {
                    self.ends.resize(fields + 16, 0);
                }
                let feed: &[u8] = &input[consumed..];
                let (result, n_in, n_out, n_ends) =
                    self.core.read_record(feed, &mut output[written..], &mut self.ends[fields..]);
                consumed += n_in;
                written += n_out;
                fields += n_ends;
                match result {
                    ReadRecordResult::Record => {
                        // Fed up to a line end: at most the `\n` of a CRLF is left.
                        self.ends.truncate(fields);
                        output.truncate(written);
                        self.bytes = output;
                        self.separated = false;
                        return self.take_text(first_line);
                    }
                    ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                    // The input fed so far ends inside the record: at the end
                    // of the data csv-core is told so by an empty input.
                    ReadRecordResult::InputEmpty if end == End::Eof && !feed.is_empty() => {}
                    ReadRecordResult::InputEmpty if end == End::Eof => {
                        return Err(malformed(first_line, "an unterminated record"));
                    }
                    ReadRecordResult::InputEmpty => break,
                    ReadRecordResult::End => return Err(malformed(first_line, "an unterminated record")),
                }
            }
            // Inside a quoted field at a line end: the record goes on.
            if input.len() > MAX_LINE_BYTES {
                return Err(malformed(first_line, format!("a record longer than {MAX_LINE_BYTES} bytes")));
            }
            end = self.read_line(&mut input)?;
        }
    }

    /// Fields of the current record.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i` of the current record.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] + usize::from(self.separated),
        };
        // Fields end at ASCII delimiters or at csv-core's field ends, so on
        // character boundaries of the checked text.
        self.text.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every record, or where it failed.
    fn ours(data: &[u8], delimiter: u8) -> (Vec<Vec<String>>, bool) {
        let (records, _, failed) = ours_in(data, delimiter, 7);
        (records, failed)
    }

    /// Every record with its first line, and the error's line, read through
    /// a buffer of `capacity` bytes (small ones put line ends, CRLF halves
    /// and multi-byte characters on the buffer's edge).
    fn ours_in(data: &[u8], delimiter: u8, capacity: usize) -> (Vec<Vec<String>>, Vec<u64>, bool) {
        let mut records = Records::new(std::io::BufReader::with_capacity(capacity, data), delimiter);
        let (mut out, mut lines) = (Vec::new(), Vec::new());
        loop {
            match records.next_record() {
                Ok(Some(line)) => {
                    out.push((0..records.len()).map(|i| records.get(i).unwrap().to_string()).collect());
                    lines.push(line);
                }
                Ok(None) => return (out, lines, false),
                Err(Error::MalformedRow { line, .. }) => {
                    lines.push(line);
                    return (out, lines, true);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// The same by the csv crate, which the loader used before.
    fn reference(data: &[u8], delimiter: u8) -> (Vec<Vec<String>>, bool) {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(data);
        let mut out = Vec::new();
        for record in reader.records() {
            match record {
                Ok(r) => out.push(r.iter().map(str::to_string).collect()),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Records, fields and failures are those of the csv crate, for
        /// texts full of quotes, delimiters, line ends of every kind,
        /// multi-byte characters, invalid UTF-8 and a byte-order mark.
        #[test]
        fn reads_records_as_the_csv_crate_does(
            bom in any::<bool>(),
            parts in prop::collection::vec(
                prop_oneof![
                    Just(&b"a"[..]), Just(&b"12.50"[..]), Just(&b","[..]), Just(&b";"[..]), Just(&b"\""[..]),
                    Just(&b"\"\""[..]), Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"\r\n"[..]),
                    Just(" é ".as_bytes()), Just(&b"\xff"[..]),
                ],
                0..40,
            ),
            semicolon in any::<bool>(),
        ) {
            let mut data = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            for p in parts {
                data.extend_from_slice(p);
            }
            let delimiter = if semicolon { b';' } else { b',' };
            let (ours, failed) = ours(&data, delimiter);
            let (theirs, they_failed) = reference(&data, delimiter);
            prop_assert_eq!(failed, they_failed, "{:?}", String::from_utf8_lossy(&data));
            prop_assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&data));
            // Whatever the buffer, the same records on the same lines (a
            // large buffer holds whole lines: the one-pass plain path).
            let small = ours_in(&data, delimiter, 3);
            prop_assert_eq!(&small, &ours_in(&data, delimiter, 1 << 16), "{:?}", String::from_utf8_lossy(&data));
            prop_assert_eq!(&small, &ours_in(&data, delimiter, 11), "{:?}", String::from_utf8_lossy(&data));
        }
    }

    #[test]
    fn lines_are_counted_across_every_kind_of_line_end() {
        let data = b"h1,h2\r\na,b\rc,\"d\ne\"\n\nf,g\n";
        let mut records = Records::new(&data[..], b',');
        let mut lines = Vec::new();
        while let Some(line) = records.next_record().unwrap() {
            lines.push((line, records.get(1).unwrap().to_string()));
        }
        assert_eq!(lines, [(1, "h2".into()), (2, "b".into()), (3, "d\ne".into()), (6, "g".into())]);
    }
}
