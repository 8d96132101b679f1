package match

import (
	"encoding/json"
	"strconv"
	"strings"
)

type opKind uint8

const (
	opEq opKind = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opContains
	opNotContains
	opStartsWith
	opNotStartsWith
	opEndsWith
	opNotEndsWith
	opExists
	opNotExists
	opIsTrue
	opIsFalse
)

type argKind uint8

const (
	argText argKind = iota
	argNumber
	argNone
)

type opInfo struct {
	name     string
	arg      argKind
	negation opKind
}

// ops is in the order the condition builder offers them.
var ops = [...]opInfo{
	opEq:            {"=", argText, opNe},
	opNe:            {"!=", argText, opEq},
	opLt:            {"<", argNumber, opGe},
	opLe:            {"<=", argNumber, opGt},
	opGt:            {">", argNumber, opLe},
	opGe:            {">=", argNumber, opLt},
	opContains:      {"contains", argText, opNotContains},
	opNotContains:   {"not_contains", argText, opContains},
	opStartsWith:    {"starts_with", argText, opNotStartsWith},
	opNotStartsWith: {"not_starts_with", argText, opStartsWith},
	opEndsWith:      {"ends_with", argText, opNotEndsWith},
	opNotEndsWith:   {"not_ends_with", argText, opEndsWith},
	opExists:        {"exists", argNone, opNotExists},
	opNotExists:     {"not_exists", argNone, opExists},
	opIsTrue:        {"is_true", argNone, opIsFalse},
	opIsFalse:       {"is_false", argNone, opIsTrue},
}

func opNamed(name string) (opKind, bool) {
	for i, o := range ops {
		if o.name == name {
			return opKind(i), true
		}
	}
	return 0, false
}

// fields lists the top-level fields a trigger may name; the ones marked true
// are objects that paths lead into.
var fields = []struct {
	name   string
	object bool
}{
	{"type", false},
	{"event", false},
	{"name", false},
	{"userId", false},
	{"anonymousId", false},
	{"messageId", false},
	{"topic", false},
	{"properties", true},
	{"traits", true},
	{"context", true},
}

type segment struct {
	key   string
	index int // array index when key is a canonical decimal, else -1
}

type path struct {
	text string // canonical source text
	root string
	segs []segment
}

func newPath(tok token) (path, *SyntaxError) {
	root := tok.segs[0]
	object, known := false, false
	for _, f := range fields {
		if f.name == root {
			object, known = f.object, true
		}
	}
	if !known {
		return path{}, errAt(tok.pos, "unknown field %s; use type, event, name, userId, anonymousId, messageId, topic, or a path into properties, traits or context", tok.describe())
	}
	if !object && len(tok.segs) > 1 {
		return path{}, errAt(tok.pos+len(tok.text)-len(strings.TrimPrefix(tok.text, root)), "%s has no fields; only properties, traits and context have", root)
	}
	pa := path{root: root, segs: make([]segment, len(tok.segs))}
	var b strings.Builder
	for i, key := range tok.segs {
		if i > 0 {
			b.WriteByte('.')
		}
		writeKey(&b, key)
		pa.segs[i] = segment{key: key, index: arrayIndex(key)}
	}
	pa.text = b.String()
	return pa, nil
}

// isObject reports whether the top-level field root is an object that
// paths lead into.
func isObject(root string) bool {
	for _, f := range fields {
		if f.name == root {
			return f.object
		}
	}
	return false
}

func arrayIndex(key string) int {
	if len(key) == 0 || len(key) > 9 || (key[0] == '0' && len(key) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return -1
		}
		n = n*10 + int(key[i]-'0')
	}
	return n
}

func (pa *path) lookup(event map[string]any) (any, bool) {
	v, ok := event[pa.segs[0].key]
	for _, s := range pa.segs[1:] {
		if !ok {
			return nil, false
		}
		switch c := v.(type) {
		case map[string]any:
			v, ok = c[s.key]
		case []any:
			if s.index < 0 || s.index >= len(c) {
				return nil, false
			}
			v = c[s.index]
		default:
			return nil, false
		}
	}
	return v, ok
}

type litKind uint8

const (
	litString litKind = iota
	litNumber
	litBool
)

// literal is a value in a condition. Its kind decides what it equals (see
// equal); text is what string operators such as contains compare with. num
// is a number's value, and for a string, the value of its text when that is
// a JSON number (isNum), which Quoted reports.
type literal struct {
	kind  litKind
	text  string
	num   float64
	isNum bool
}

func textLiteral(s string) literal {
	lit := literal{kind: litString, text: s}
	lit.num, lit.isNum = jsonNumber(s)
	return lit
}

func numberLiteral(f float64) literal {
	return literal{kind: litNumber, text: formatNumber(f), num: f, isNum: true}
}

// formatNumber writes the shortest text that parses back to f, with an
// exponent only for very large or small magnitudes, as JavaScript does.
func formatNumber(f float64) string {
	if abs := max(f, -f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// source returns the literal as trigger text.
func (l *literal) source() string {
	if l.kind == litString {
		return quote(l.text)
	}
	return l.text
}

// jsonNumber parses s when it is a number in JSON's grammar. It checks the
// grammar first because strconv's errors allocate and Match must not.
func jsonNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	end := skipDigits(s, i)
	if end == i || (s[i] == '0' && end > i+1) {
		// JSON has no leading zeros, so "007" is text, not a number.
		return 0, false
	}
	i = end
	if i < len(s) && s[i] == '.' {
		end = skipDigits(s, i+1)
		if end == i+1 {
			return 0, false
		}
		i = end
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		end = skipDigits(s, i)
		if end == i {
			return 0, false
		}
		i = end
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func skipDigits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// number returns v's value when v is a JSON number in any of the forms
// decoders produce.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		return jsonNumber(string(n))
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	}
	return 0, false
}

// equal is the = operator; see the package documentation. As in Segment,
// it compares by type: a string value equals only a string field with the
// same text, a number only a number field with the same numeric value, a
// boolean only the same boolean.
func equal(v any, lit *literal) bool {
	switch lit.kind {
	case litNumber:
		n, ok := number(v)
		return ok && n == lit.num
	case litBool:
		b, ok := v.(bool)
		return ok && b == (lit.text == "true")
	}
	s, ok := v.(string)
	return ok && s == lit.text
}

type cond struct {
	path path
	op   opKind
	lit  literal
}

func (c *cond) match(event map[string]any) bool {
	v, found := c.path.lookup(event)
	present := found && v != nil
	switch c.op {
	case opExists:
		return present
	case opNotExists:
		return !present
	case opEq, opIsTrue, opIsFalse:
		return present && equal(v, &c.lit)
	case opNe:
		if c.lit.kind == litNumber {
			// Segment's number-not-equals needs a number field.
			n, ok := number(v)
			return ok && n != c.lit.num
		}
		return !present || !equal(v, &c.lit)
	case opLt, opLe, opGt, opGe:
		n, ok := number(v)
		if !ok {
			return false
		}
		switch c.op {
		case opLt:
			return n < c.lit.num
		case opLe:
			return n <= c.lit.num
		case opGt:
			return n > c.lit.num
		}
		return n >= c.lit.num
	case opContains, opNotContains:
		want := c.op == opContains
		switch a := v.(type) {
		case string:
			return strings.Contains(a, c.lit.text) == want
		case []any:
			for _, e := range a {
				if equal(e, &c.lit) {
					return want
				}
			}
			return !want
		}
		return false
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch c.op {
	case opStartsWith:
		return strings.HasPrefix(s, c.lit.text)
	case opNotStartsWith:
		return !strings.HasPrefix(s, c.lit.text)
	case opEndsWith:
		return strings.HasSuffix(s, c.lit.text)
	}
	return !strings.HasSuffix(s, c.lit.text)
}

// Match reports whether the event, decoded from JSON, satisfies the
// trigger.
func (t *Trigger) Match(event map[string]any) bool {
	return t.root.match(event)
}

func (n *node) match(event map[string]any) bool {
	switch n.kind {
	case nodeAnd:
		for _, kid := range n.kids {
			if !kid.match(event) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, kid := range n.kids {
			if kid.match(event) {
				return true
			}
		}
		return false
	}
	return n.cond.match(event)
}
