package format

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// escapeHashDigits is the length of the hash that marks a changed component.
const escapeHashDigits = 8

// safeKeyByte reports whether c may appear as is in a key component that
// comes from event data: A-Z a-z 0-9 '.' '_' '-'.
func safeKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// changedHash is '-' and the first hex digits of the SHA-256 of the
// original value: what keeps two values that escape alike apart.
func changedHash(original string) string {
	sum := sha256.Sum256([]byte(original))
	return "-" + hex.EncodeToString(sum[:])[:escapeHashDigits]
}

// SafeKeyComponent makes a value taken from an event safe for an object key.
// A value made only of A-Z a-z 0-9 '.' '_' '-' (and not only of dots) is
// kept. Otherwise every other character becomes '_' and '-' plus 8 hex digits of
// the SHA-256 of the original value is appended, so that two different
// values never give the same component: "pub 4:odd+id" becomes
// "pub_4_odd_id-" + 8 hex digits. An empty value stays empty.
func SafeKeyComponent(s string) string {
	if s == "" {
		return ""
	}
	safe := strings.Trim(s, ".") != ""
	for i := 0; i < len(s) && safe; i++ {
		safe = safeKeyByte(s[i])
	}
	if safe {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1 + escapeHashDigits)
	for _, r := range s {
		if r < 0x80 && safeKeyByte(byte(r)) {
			b.WriteRune(r)
			continue
		}
		b.WriteByte('_')
	}
	out := b.String()
	if strings.Trim(out, ".") == "" {
		out = strings.Repeat("_", len(out))
	}
	return out + changedHash(s)
}

// transliterations are the letters that Unicode decomposition does not
// reduce to ASCII but that have a usual ASCII spelling.
var transliterations = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'ı': "i",
}

// eventToken names an event in keys as Segment names warehouse tables:
// letters lowercased, diacritics stripped (ü becomes u, ß becomes ss), and
// runs of letters and digits joined by '_' ("Order Completed" becomes
// "order_completed"). A name already in that form is kept as it is; any
// other name gets '-' and 8 hex digits of the SHA-256 of the name appended
// (canonical names never hold '-'), so that two different names never share
// a component: "Order Completed" and "order completed" stay apart. A name
// with no letters or digits is only its hash, after "_"; the empty name is "_".
// Letters and digits with no ASCII spelling are percent-encoded ("日本"
// becomes "%E6%97%A5%E6%9C%AC" and its hash), never dropped.
func eventToken(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	pending := false
	write := func(part string) {
		if pending && b.Len() > 0 {
			b.WriteByte('_')
		}
		pending = false
		b.WriteString(part)
	}
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// A combining mark left by decomposition: the letter before it
			// stays, without its accent.
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			write(string(r))
		case r >= 'A' && r <= 'Z':
			write(string(r + 'a' - 'A'))
		case transliterations[r] != "":
			write(transliterations[r])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			// A letter with no ASCII form (日, Ж) is kept, lowercased and
			// percent-encoded as Hive escapes partition values.
			write(percentEncode(unicode.ToLower(r)))
		default:
			pending = true
		}
	}
	t := b.String()
	if t == s {
		return t
	}
	if t == "" {
		t = "_"
	}
	return t + changedHash(s)
}

// percentEncode writes a rune's UTF-8 bytes as %XX, upper-case hex (RFC 3986).
func percentEncode(r rune) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(string(r)) {
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
