package store

import (
	"bytes"
	"unicode/utf8"
)

// NormalizeText returns the JSON text b with every byte that is not part of
// valid UTF-8 replaced by U+FFFD, and every \u escape of a surrogate that
// is not half of a valid pair (a lone "\ud800", say) replaced by "\ufffd",
// as encoding/json decodes both. Everything else is kept byte for byte,
// valid pairs such as "\ud83e\udd84" included. When there is nothing to
// replace, which a quick scan tells, it returns b itself.
//
// Every ingestion path runs its request body through NormalizeText once,
// so the store only holds valid UTF-8 JSON that any reader (jq, DuckDB,
// a UTF-16 JavaScript string) accepts.
func NormalizeText(b []byte) []byte {
	if utf8.Valid(b) && !hasSurrogateEscape(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			i++
			continue
		}
		// An escape. Backslashes only appear inside strings in valid JSON, so
		// the string boundaries need no tracking: text that is not valid JSON
		// stays invalid, and is refused by the decoder after this.
		if b[i+1] != 'u' {
			if b[i+1] < utf8.RuneSelf {
				out = append(out, c, b[i+1])
				i += 2
			} else {
				out = append(out, c)
				i++
			}
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			out = append(out, b[i:i+2]...)
			i += 2
			continue
		}
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if lo, ok := lowSurrogateAt(b, i+6); ok && lo {
				out = append(out, b[i:i+12]...)
				i += 12
				continue
			}
			out = append(out, `\ufffd`...)
		case 0xDC00 <= r && r < 0xE000:
			out = append(out, `\ufffd`...)
		default:
			out = append(out, b[i:i+6]...)
		}
		i += 6
	}
	return out
}

// hasSurrogateEscape reports whether b may hold a \u escape of a surrogate,
// \ud800 to \udfff in either case.
func hasSurrogateEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 {
			return false
		}
		if i+3 < len(b) && b[i+2]|0x20 == 'd' {
			switch b[i+3] | 0x20 {
			case '8', '9', 'a', 'b', 'c', 'd', 'e', 'f':
				return true
			}
		}
		b = b[i+2:]
	}
}

// lowSurrogateAt reports whether b holds the escape of a low surrogate,
// \udc00 to \udfff, at offset i; ok is false when there is no \u escape.
func lowSurrogateAt(b []byte, i int) (low, ok bool) {
	if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
		return false, false
	}
	r, ok := hex4(b, i+2)
	return ok && 0xDC00 <= r && r < 0xE000, ok
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			c = c | 0x20 - 'a' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
