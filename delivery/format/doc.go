// Package format turns events into the bytes and object keys of s3relay's
// S3 files: the csv/txt, jsonl and json (Outpost-style) encoders and the key
// layouts of a mapping. Everything here is a pure function of its inputs;
// nothing touches the network, the clock or the database.
//
// A [Spec] mirrors one mapping (plus the destination's path prefix).
// [Compile] validates it once and returns a [Format] that is safe for
// concurrent use: [Format.NewEncoder] streams one file row by row,
// [Format.Key] names a file, and [Format.Object] builds the one-object-per-event
// output of the json format.
//
// # Events
//
// The engine gives the csv, txt and jsonl encoders each event as its stored
// JSON ([Encoder.EncodeJSON]), which is never decoded as a whole: a path
// column is walked over the bytes, and only a JMESPath column decodes the
// event. Strings are written unescaped; numbers, true and false with their
// own text, so 9007199254740993 and 0.10 stay exactly as they arrived.
// Objects and arrays, and whole jsonl rows, are written as sent without
// white space: keys in the sender's order (as Segment's JSON.stringify
// writes the parsed event), escapes as sent, without HTML escaping. A key
// repeated in an object names its last value, as in JavaScript. Invalid
// UTF-8 becomes U+FFFD, and an escaped lone surrogate "\ufffd" (ingestion
// stores neither, but events stored by older versions may hold them).
//
// [Encoder.Encode] and the json format take decoded events (map[string]any
// with json.Number or float64 numbers). A float64 is written the way
// JavaScript's String(number) and JSON.stringify write it (shortest
// round-trip digits, exponent form below 1e-6 and from 1e21 on); a decoded
// object's keys come out sorted, since a Go map keeps no order.
//
// # Column values
//
// A [Column] value is either a path or a JMESPath expression
// (github.com/jmespath-community/go-jmespath, the JMESPath Community
// edition, a maintained superset of the original specification):
//
//   - A path starts with "$": "$" is the whole event, ".name" selects a key
//     (any characters but '.', '[', ']', quotes and white space),
//     "['a b']" or "[\"a b\"]" selects any key, "[0]" or "[-1]" an array
//     element. A missing key or a type mismatch yields null.
//   - Anything else, and a "$" value that is not a plain path, is JMESPath
//     ("$" is the root there). Expressions made only of field selections,
//     indexes, "||", "&&", "!" and structural functions such as not_null run
//     on the event as decoded, keeping exact numbers; expressions with
//     comparisons, arithmetic or numeric functions run on a copy whose
//     numbers are float64, as JMESPath requires, so such results print like
//     JavaScript numbers. A runtime error (a function applied to the wrong
//     type, say) yields null for that cell rather than failing the file.
//
// Column values and key templates are at most [MaxExpressionBytes] long,
// and a JMESPath expression nests at most [MaxExpressionDepth] levels, both
// checked before the expression is parsed (and the depth of the parsed tree
// after): the library's parser and evaluator recurse once per level, so an
// unbounded expression could exhaust the stack, a fatal error.
//
// Column transforms are Segment's columns_to_transform and apply to a
// cell's text, whatever the value's JSON type (a number's text as sent, an
// object's JSON): normalize (lowercase, trim or lowercase_trim, with
// JavaScript's toLowerCase and trim, so Unicode white space and the final
// sigma behave as in Segment), then hash (sha256, lowercase hex). Hashing
// follows Segment's processHashing: a blank text gives an empty cell, a text
// that already is 64 hex digits (either case) is written as it is, checked
// before normalizing, so an upper-case digest stays upper case. The older
// transform names are aliases: "sha256" is hash sha256, "normalize" is
// normalize lowercase_trim.
//
// # Facts this package reproduces
//
// Segment "AWS S3 (Actions)", action syncToS3 (segmentio/action-destinations,
// packages/destination-actions/src/destinations/s3/syncToS3):
//
//   - Default columns: event_name $.event, event_type $.type, user_id
//     $.userId, anonymous_id $.anonymousId, email = $.traits.email if it
//     exists else $.context.traits.email, properties $.properties, traits =
//     $.traits if it exists else $.context.traits, context $.context,
//     timestamp $.timestamp, message_id $.messageId, integrations
//     $.integrations, audience_name $.context.personas.computation_key,
//     audience_id $.context.personas.computation_id, audience_space_id
//     $.context.personas.space_id. Segment's "@if exists" means "neither
//     undefined nor null", which is JMESPath's not_null, so [DefaultColumns]
//     uses not_null (not "||", which would also skip "" and {}).
//   - Columns whose mapping is blank are left out. The header row is the
//     column names joined by the delimiter, unquoted; Segment strips the
//     delimiter from a name, s3relay rejects such names instead.
//   - Every cell is double-quoted with inner quotes doubled; null and missing
//     values are "" (an empty quoted cell); objects and arrays are JSON; other
//     values are String(value).
//   - The header ends with "\n"; rows are joined by "\n"; the last row has no
//     newline. The delimiter is one of "," "|" "tab" ";" ":".
//   - After the columns come the audience action column (the value of
//     properties-or-traits [context.personas.computation_key], properties
//     chosen when it is not null) and the batch size column (the number of
//     rows in the file), each only when its name is set; defaults
//     "audience_action" and "batch_size".
//   - File extension csv or txt; Content-Type text/csv for csv, text/plain
//     otherwise; no compression.
//   - Key: folder (with "/" appended when missing) + filename prefix + "_" +
//     new Date().toISOString() with ':' and '.' replaced by '-' + "." + ext;
//     without a prefix just the time; a prefix already ending in ".ext" gets
//     the time inserted before the extension. Keys over 1,024 UTF-8 bytes are
//     rejected. s3relay adds "_" and a 12-hex-digit suffix derived from the
//     file id after the time, so two files of one mapping sealed in the same
//     millisecond get different keys.
//
// Segment classic "Amazon S3" destination (segment-docs, amazon-s3): files
// are gzipped, newline-separated JSON of the full calls, named
// segment-logs/{source-id}/{received-day}/filename.gz, where received-day is
// the Unix time in milliseconds of the UTC midnight of the day the API
// received the calls (folders such as 1432684800000); a custom path prefix
// goes before segment-logs/; the objects carry Content-Type text/plain and
// Content-Encoding gzip. The docs call the file only "filename.gz";
// s3relay names it "<seal time in Unix ms>_<suffix>.<ext>", ext being
// "jsonl.gz" by default (the file extension with ".gz"), which every
// "*.gz" pattern written for Segment's folders still matches.
//
// Astronomer's S3 emitter (astronomerio/emitter-s3): records are
// JSON.stringify'd and interspersed with "\n", so the last line has no
// newline; a leading "/" of the path is trimmed. The jsonl encoder writes
// one compact event per line as both seeds do, but ends every line with
// "\n", the last one too, as NDJSON (and JSON Lines) require: files then
// concatenate (zcat *.gz) into one valid stream, and wc -l counts events.
//
// Hookdeck Outpost aws_s3 destination (hookdeck/outpost,
// internal/destregistry/providers/destawss3 and the base publisher's
// MakeMetadata): the body is the event's data with Content-Type
// application/json; the S3 user metadata is "timestamp" (the delivery's
// time), "event-id", "topic" and, when enabled, "timestamp-ms" (Unix
// milliseconds), merged with priority system < the destination's
// delivery_metadata < the event's own metadata; the key is a JMESPath
// key_template evaluated over {"data", "metadata", "time"}, metadata being
// the merged set, where time has year, month, day, hour, minute, second
// (zero-padded strings), date (2006-01-02), datetime (2006-01-02T15:04:05),
// unix, rfc3339 and rfc3339_nano of the event time in UTC; the default
// template is [OutpostObjectKeyTemplate]; a null or empty result is an
// error. Outpost's "timestamp" was Unix seconds until its v0.16.0 switched
// it to ISO 8601.
//
// Where s3relay's json format differs, on purpose:
//
//   - "timestamp" is the delivery's time (when s3relay made the object's
//     delivery, the same on every retry) in RFC 3339 UTC to the second,
//     "timestamp-ms" is always set, and "event-timestamp" adds the event's
//     own time in RFC 3339 UTC with milliseconds.
//   - The default key template is [DefaultObjectKeyTemplate]: time.key, a
//     fixed-width UTC time without colons (2024-01-02T03-04-05.600Z), so
//     that keys list in time order (rfc3339_nano trims zeros: 05Z sorts
//     after 05.1Z) and work in tools that refuse ':'. time also has unix_ms.
//     Outpost's own template gives Outpost's exact keys.
//   - The mapping's folder goes between the destination's path prefix and
//     the template's result.
//   - Every string of data and metadata reaches the template through
//     [SafeKeyComponent] (s3relay's own times excepted), so that an event
//     id such as "pub 4:odd+id" or a value such as "../x" never puts spaces,
//     colons, slashes or other characters into a key.
//
// # Key components from event data
//
// Text that comes from an event and goes into a key is made safe. For the
// json format's template inputs ([SafeKeyComponent]): a value made only of
// A-Z a-z 0-9 '.' '_' '-' (not only dots) is kept; otherwise each other
// character becomes '_' and "-" plus the first 8 hex digits of the SHA-256
// of the original value is appended, so that values that differ keep
// different keys ("a b" and "a+b" both read "a_b", with different hashes).
// For {event} in key templates: Segment's table naming (lowercase, runs of
// letters and digits joined by '_') after stripping diacritics
// (Unicode NFKD without combining marks, and ß, æ, ø, ł, ... spelled out),
// so "Ünïcödé Event 🎉" becomes "unicode_event"; a name not already in that
// form gets the same hash suffix (canonical names never hold '-', so the two
// never meet), the empty name is "_". Previews list what was changed among
// their warnings.
//
// S3 (AWS documentation): keys are at most 1,024 bytes of UTF-8; user
// metadata travels as x-amz-meta-* headers, names come back lowercased, the
// keys and values together may use at most 2 KB, and values outside
// printable US-ASCII are RFC 2047 encoded.
package format
