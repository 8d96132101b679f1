package match

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokLParen
	tokRParen
	tokComma
	tokBang
	tokOp
)

// token is one lexeme. For tokIdent, segs holds the decoded dot-separated
// segments and escaped tells whether any backslash escape was used, because
// an escaped word is a key, never a keyword.
type token struct {
	kind    tokKind
	pos     int
	text    string
	str     string
	num     float64
	segs    []string
	escaped bool
}

// word returns the token's text when it is a plain keyword candidate: one
// segment, no escapes.
func (t token) word() string {
	if t.kind != tokIdent || len(t.segs) != 1 || t.escaped {
		return ""
	}
	return t.segs[0]
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of trigger"
	case tokString:
		return "string " + quote(t.str)
	case tokNumber:
		return "number " + t.text
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

type lexer struct {
	src string
	pos int
}

func errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) next() (token, *SyntaxError) {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
			continue
		}
		break
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	single := func(k tokKind, n int) (token, *SyntaxError) {
		l.pos += n
		return token{kind: k, pos: start, text: l.src[start:l.pos]}, nil
	}
	c := l.src[start]
	switch {
	case c == '(':
		return single(tokLParen, 1)
	case c == ')':
		return single(tokRParen, 1)
	case c == ',':
		return single(tokComma, 1)
	case c == '=':
		return single(tokOp, 1)
	case c == '!' || c == '<' || c == '>':
		if strings.HasPrefix(l.src[start+1:], "=") {
			return single(tokOp, 2)
		}
		if c == '!' {
			return single(tokBang, 1)
		}
		return single(tokOp, 1)
	case c == '"' || c == '\'':
		return l.lexString(c)
	case c == '-' || c == '+' || ('0' <= c && c <= '9'):
		return l.lexNumber()
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	if r == '\\' || r == '_' || unicode.IsLetter(r) {
		return l.lexIdent()
	}
	if r == utf8.RuneError {
		return token{}, errAt(start, "invalid UTF-8 byte %#x", c)
	}
	return token{}, errAt(start, "unexpected character %q", r)
}

func isIdentRune(r rune) bool {
	return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (l *lexer) lexIdent() (token, *SyntaxError) {
	tok := token{kind: tokIdent, pos: l.pos}
	for {
		seg, escaped, err := l.segment()
		if err != nil {
			return token{}, err
		}
		tok.segs = append(tok.segs, seg)
		tok.escaped = tok.escaped || escaped
		if !strings.HasPrefix(l.src[l.pos:], ".") {
			break
		}
		l.pos++
	}
	tok.text = l.src[tok.pos:l.pos]
	return tok, nil
}

// segment reads one path segment: identifier characters and backslash
// escapes, each escape taking the next character (or invalid byte) as is.
func (l *lexer) segment() (string, bool, *SyntaxError) {
	start := l.pos
	var b strings.Builder
	escaped := false
	for l.pos < len(l.src) {
		r, size := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == '\\' {
			if l.pos+1 >= len(l.src) {
				return "", false, errAt(l.pos, "expected a character after \\")
			}
			if !escaped {
				escaped = true
				b.WriteString(l.src[start:l.pos])
			}
			_, esize := utf8.DecodeRuneInString(l.src[l.pos+1:])
			b.WriteString(l.src[l.pos+1 : l.pos+1+esize])
			l.pos += 1 + esize
			continue
		}
		if !isIdentRune(r) {
			break
		}
		if escaped {
			b.WriteString(l.src[l.pos : l.pos+size])
		}
		l.pos += size
	}
	if l.pos == start {
		return "", false, errAt(l.pos, "expected a key after \".\"")
	}
	if escaped {
		return b.String(), true, nil
	}
	return l.src[start:l.pos], false, nil
}

func (l *lexer) digits() int {
	start := l.pos
	l.pos = skipDigits(l.src, l.pos)
	return l.pos - start
}

func (l *lexer) lexNumber() (token, *SyntaxError) {
	start := l.pos
	if c := l.src[l.pos]; c == '-' || c == '+' {
		l.pos++
	}
	if l.digits() == 0 {
		return token{}, errAt(l.pos, "expected a digit")
	}
	if strings.HasPrefix(l.src[l.pos:], ".") {
		l.pos++
		if l.digits() == 0 {
			return token{}, errAt(l.pos, "expected a digit after the decimal point")
		}
	}
	if l.pos < len(l.src) && (l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '-' || l.src[l.pos] == '+') {
			l.pos++
		}
		if l.digits() == 0 {
			return token{}, errAt(l.pos, "expected a digit in the exponent")
		}
	}
	if l.pos < len(l.src) {
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == '.' || r == '\\' || isIdentRune(r) {
			return token{}, errAt(l.pos, "unexpected %q after number", r)
		}
	}
	text := l.src[start:l.pos]
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, errAt(start, "number %s is out of range", text)
	}
	if f == 0 {
		// -0 and 0 are the same value and must print the same way.
		f = 0
	}
	return token{kind: tokNumber, pos: start, text: text, num: f}, nil
}

func (l *lexer) lexString(q byte) (token, *SyntaxError) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return token{}, errAt(start, "unterminated string")
		}
		c := l.src[l.pos]
		if c == q {
			l.pos++
			return token{kind: tokString, pos: start, text: l.src[start:l.pos], str: b.String()}, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			l.pos++
			continue
		}
		if l.pos+1 >= len(l.src) {
			return token{}, errAt(start, "unterminated string")
		}
		esc := l.pos
		e := l.src[l.pos+1]
		l.pos += 2
		switch e {
		case '"', '\'', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := l.hex4()
			if !ok {
				return token{}, errAt(esc, "invalid escape: \\u needs four hex digits")
			}
			if utf16.IsSurrogate(r) && strings.HasPrefix(l.src[l.pos:], `\u`) {
				save := l.pos
				l.pos += 2
				lo, ok := l.hex4()
				if pair := utf16.DecodeRune(r, lo); ok && pair != utf8.RuneError {
					r = pair
				} else {
					l.pos = save
				}
			}
			// Lone surrogates become U+FFFD, as encoding/json decodes them.
			b.WriteRune(r)
		default:
			r, _ := utf8.DecodeRuneInString(l.src[esc+1:])
			return token{}, errAt(esc, "invalid escape \\%c", r)
		}
	}
}

func (l *lexer) hex4() (rune, bool) {
	if l.pos+4 > len(l.src) {
		return 0, false
	}
	n, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
	if err != nil {
		return 0, false
	}
	l.pos += 4
	return rune(n), true
}

// quote writes s as a double-quoted string that lexString reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeKey writes one path segment, escaping what segment would not read
// as part of a key.
func writeKey(b *strings.Builder, key string) {
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		if !isIdentRune(r) {
			b.WriteByte('\\')
		}
		b.WriteString(key[i : i+size])
		i += size
	}
}
