package format

import (
	"fmt"
	"unicode/utf8"
)

// Bounds of every column value and key template, checked before anything
// parses them. The JMESPath parser recurses once per nesting level and its
// lexer panics on some characters, so an unbounded expression from a request
// could exhaust the stack (a fatal error no recover catches) or take seconds
// and hundreds of megabytes to refuse.
const (
	// MaxExpressionBytes is the longest column value or key template.
	MaxExpressionBytes = 4096
	// MaxExpressionDepth is the deepest nesting of a JMESPath expression, as
	// counted by checkExpression.
	MaxExpressionDepth = 64
)

// checkLength refuses a text longer than MaxExpressionBytes.
func checkLength(src string) error {
	if len(src) > MaxExpressionBytes {
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(src), MaxExpressionBytes)
	}
	return nil
}

// checkExpression bounds a JMESPath expression before it is parsed: its
// length, its characters, and its nesting depth.
//
// The depth is an upper bound of the parser's recursion, counted over the
// expression's characters the way the library's lexer splits them (string
// literals, quoted identifiers and JSON literals are skipped). Each bracket
// ("(", "[", "{") opens a level that its closing bracket ends. Every token
// whose parsing can recurse without a bracket of its own (the prefix
// operators "!", "&", "-", "+", the projections "*", "[]", "[" and "[?",
// which keep parsing after their "]", and "=" and "let", which bind until
// the end of their level) counts one more level until the bracket around it
// closes. Between two counted tokens the parser only recurses into binary
// operators of strictly higher precedence, a handful at most, so the stack
// stays bounded by a constant times MaxExpressionDepth.
func checkExpression(src string) error {
	if err := checkLength(src); err != nil {
		return err
	}
	depth := 0
	// opened holds, for each open bracket, the depth before it.
	var opened []int
	deeper := func(at int) error {
		depth++
		if depth > MaxExpressionDepth {
			return fmt.Errorf("nests more than %d levels deep at offset %d", MaxExpressionDepth, at)
		}
		return nil
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipQuoted(src, i)
			continue
		case c == '(' || c == '{' || c == '[':
			if c == '[' && i+1 < len(src) && src[i+1] == ']' {
				// "[]" flattens and projects the rest of its level.
				if err := deeper(i); err != nil {
					return err
				}
				i += 2
				continue
			}
			if c == '[' && !isIndex(src, i) {
				// A projection's right side is parsed inside it, after "]".
				if err := deeper(i); err != nil {
					return err
				}
			}
			opened = append(opened, depth)
			if err := deeper(i); err != nil {
				return err
			}
		case c == ')' || c == '}' || c == ']':
			if n := len(opened); n > 0 {
				depth = opened[n-1]
				opened = opened[:n-1]
			}
		case c == '!' || c == '=' || c == '&' || c == '|' || c == '<' || c == '>':
			// Two-character operators: "!=", "==", "&&", "||", "<=", ">=".
			if i+1 < len(src) && (src[i+1] == '=' || (c == '&' && src[i+1] == '&') || (c == '|' && src[i+1] == '|')) {
				i += 2
				continue
			}
			if c == '!' || c == '=' || c == '&' {
				if err := deeper(i); err != nil {
					return err
				}
			}
		case c == '-' || c == '+' || c == '*':
			if err := deeper(i); err != nil {
				return err
			}
		case c == '$' || c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z'):
			j := i + 1
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			if src[i:j] == "let" {
				if err := deeper(i); err != nil {
					return err
				}
			}
			i = j
			continue
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(src[i:])
			switch r {
			case '\u2212': // the minus sign, the lexer's other "-"
				if err := deeper(i); err != nil {
					return err
				}
			case '\u00d7', '\u00f7': // multiplication and division signs
			default:
				// The lexer refuses these anyway, and panics on some of
				// them: refuse them here, with their offset.
				return fmt.Errorf("invalid JMESPath expression at offset %d: unexpected character %q outside quotes", i, r)
			}
			i += size
			continue
		}
		i++
	}
	return nil
}

// isIndex reports whether the "[" at src[i] starts an index such as "[0]"
// or "[-1]", which ends at its "]": unlike a slice, it projects nothing.
func isIndex(src string, i int) bool {
	j := skipSpace(src, i+1)
	if j < len(src) && src[j] == '-' {
		j++
	}
	start := j
	for j < len(src) && src[j] >= '0' && src[j] <= '9' {
		j++
	}
	if j == start {
		return false
	}
	j = skipSpace(src, j)
	return j < len(src) && src[j] == ']'
}

func skipSpace(src string, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// skipQuoted returns the offset after the quoted text starting at src[i]:
// a raw string, quoted identifier or JSON literal, in which a backslash
// escapes the next character, as in the library's lexer.
func skipQuoted(src string, i int) int {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return len(src)
}
