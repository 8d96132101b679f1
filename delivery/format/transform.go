package format

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode"
	"unicode/utf8"
)

// Normalizations a column can apply to its text, Segment's normalize
// options. NormalizeNone (or "") leaves the text as it is.
const (
	NormalizeNone          = "none"
	NormalizeLowercase     = "lowercase"
	NormalizeTrim          = "trim"
	NormalizeLowercaseTrim = "lowercase_trim"
)

// Hash algorithms a column can apply after normalizing, Segment's
// hash_algorithm options. HashNone (or "") writes the text unhashed.
const (
	HashNone   = "none"
	HashSHA256 = "sha256"
)

// Normalizations returns the normalize values a column accepts.
func Normalizations() []string {
	return []string{NormalizeNone, NormalizeLowercase, NormalizeTrim, NormalizeLowercaseTrim}
}

// Hashes returns the hash values a column accepts.
func Hashes() []string {
	return []string{HashNone, HashSHA256}
}

// cellTransform is a column's compiled transform: normalize, then hash.
type cellTransform struct {
	lower, trim, sha256 bool
}

func (t cellTransform) none() bool { return !t.lower && !t.trim && !t.sha256 }

// resolveTransform turns a column's normalize and hash, or its older
// transform name, into a cellTransform. It returns the field at fault and a
// message when they are not valid.
func resolveTransform(c Column) (cellTransform, string, string) {
	var t cellTransform
	if c.Transform != "" {
		if c.Normalize != "" || c.Hash != "" {
			return t, "transform", "is the older form of normalize and hash: set transform, or normalize and hash, not both"
		}
		switch c.Transform {
		case TransformSHA256:
			return cellTransform{sha256: true}, "", ""
		case TransformNormalize:
			return cellTransform{lower: true, trim: true}, "", ""
		}
		return t, "transform", "must be empty, sha256 or normalize (or use normalize and hash)"
	}
	switch c.Normalize {
	case "", NormalizeNone:
	case NormalizeLowercase:
		t.lower = true
	case NormalizeTrim:
		t.trim = true
	case NormalizeLowercaseTrim:
		t.lower, t.trim = true, true
	default:
		return t, "normalize", "must be none, lowercase, trim or lowercase_trim"
	}
	switch c.Hash {
	case "", HashNone:
	case HashSHA256:
		t.sha256 = true
	default:
		return t, "hash", "must be none or sha256"
	}
	return t, "", ""
}

// apply transforms a cell's text in place, as Segment's processHashing does
// with a cleaning function: a blank text (nothing but white space) hashes to
// an empty cell; a text that already is a SHA-256 hex digest, in either
// case, is kept exactly as it is (before normalizing, so its case too);
// otherwise the text is normalized and its SHA-256 written in lowercase hex.
// Without a hash the text is only normalized.
func (t cellTransform) apply(cell []byte) []byte {
	if t.none() {
		return cell
	}
	if t.sha256 {
		if len(jsTrim(cell)) == 0 {
			return cell[:0]
		}
		if isSHA256Hex(cell) {
			return cell
		}
	}
	if t.trim {
		trimmed := jsTrim(cell)
		cell = append(cell[:0], trimmed...)
	}
	if t.lower {
		cell = jsLower(cell)
	}
	if t.sha256 {
		sum := sha256.Sum256(cell)
		cell = hex.AppendEncode(cell[:0], sum[:])
	}
	return cell
}

// isSHA256Hex reports whether b is 64 hex digits, Segment's
// /^[a-f0-9]{64}$/i.
func isSHA256Hex(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isJSSpace reports whether JavaScript's String.prototype.trim removes r:
// the WhiteSpace (Unicode Zs, tab, vertical tab, form feed, no-break space,
// BOM) and LineTerminator (LF, CR, U+2028, U+2029) code points. Unlike Go's
// unicode.IsSpace it takes U+FEFF and leaves U+0085.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0xFEFF, 0x2028, 0x2029:
		return true
	}
	return r > 0xFF && unicode.Is(unicode.Zs, r)
}

// jsTrim returns b without the leading and trailing code points
// String.prototype.trim removes.
func jsTrim(b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if !isJSSpace(r) {
			break
		}
		b = b[size:]
	}
	for len(b) > 0 {
		r, size := utf8.DecodeLastRune(b)
		if !isJSSpace(r) {
			break
		}
		b = b[:len(b)-size]
	}
	return b
}

// jsLower lowercases b as JavaScript's String.prototype.toLowerCase does
// (Unicode's default, locale-free full case mapping): like Go's
// unicode.ToLower, but U+0130 becomes "i\u0307" and a capital sigma that
// ends a word becomes the final sigma "ς".
func jsLower(b []byte) []byte {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return b
	}
	s := string(b)
	out := b[:0]
	for i, r := range s {
		switch {
		case r == 0x130:
			out = append(out, "i\u0307"...)
		case r == 'Σ' && finalSigma(s, i):
			out = utf8.AppendRune(out, 'ς')
		default:
			out = utf8.AppendRune(out, unicode.ToLower(r))
		}
	}
	return out
}

// finalSigma is Unicode's Final_Sigma condition for the sigma at s[i:]: a
// cased letter comes before it, and none after it, skipping case-ignorable
// code points either way.
func finalSigma(s string, i int) bool {
	before := false
	for j := i; j > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:j])
		j -= size
		if caseIgnorable(r) {
			continue
		}
		before = cased(r)
		break
	}
	if !before {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if caseIgnorable(r) {
			continue
		}
		return !cased(r)
	}
	return true
}

// cased is Unicode's Cased property.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: the word-break
// MidLetter, MidNumLet and Single_Quote code points and the categories Mn,
// Me, Cf, Lm and Sk.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
