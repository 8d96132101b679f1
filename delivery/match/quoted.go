package match

import "fmt"

// Quoted is a condition that compares a field with a quoted number or a
// quoted boolean, such as properties.total = "100". Until triggers compared
// by type, such a condition also matched the number or the boolean; it now
// matches the string only, as in Segment.
type Quoted struct {
	// Field is the field as written in a trigger, such as properties.total.
	Field string
	// Op is the operator name: =, !=, contains or not_contains.
	Op string
	// Value is the quoted value as trigger text, such as "100".
	Value string
	// Kind is "number" or "boolean": what the value's text reads as.
	Kind string
	// Unquoted is the value without quotes, such as 100: the literal that
	// compares with the number or the boolean.
	Unquoted string
}

// Quoted lists, in trigger order, the conditions whose meaning changed when
// triggers began to compare by type: =, !=, contains and not_contains (and
// the match() and contains() spellings of them) comparing a path into
// properties, traits or context with a string whose text is a JSON number
// or true or false. The top-level fields (type, event, userId, ...) are
// strings, so conditions on them are not listed.
func (t *Trigger) Quoted() []Quoted {
	var list []Quoted
	t.root.quoted(&list)
	return list
}

func (n *node) quoted(list *[]Quoted) {
	if n.kind != nodeCond {
		for _, kid := range n.kids {
			kid.quoted(list)
		}
		return
	}
	c := &n.cond
	if !typed(c.op) || c.lit.kind != litString || !isObject(c.path.root) {
		return
	}
	q := Quoted{Field: c.path.text, Op: ops[c.op].name, Value: c.lit.source(), Unquoted: c.lit.text}
	switch {
	case c.lit.isNum:
		q.Kind = "number"
		q.Unquoted = formatNumber(c.lit.num)
	case c.lit.text == "true" || c.lit.text == "false":
		q.Kind = "boolean"
	default:
		return
	}
	*list = append(*list, q)
}

// Message says, for the mapping editor and the API, how the condition's
// meaning changed and how to write the old one.
func (q Quoted) Message() string {
	change := "no longer matches"
	if q.Op == "!=" || q.Op == "not_contains" {
		change = "now also matches"
	}
	what := fmt.Sprintf("the %s %s", q.Kind, q.Unquoted)
	if q.Op == "contains" || q.Op == "not_contains" {
		what = "an array element that is " + what
	}
	return fmt.Sprintf("%s %s %s compares with the string %s and %s %s (triggers compare by type, as in Segment); write %s %s %s for the %s.",
		q.Field, q.Op, q.Value, q.Value, change, what, q.Field, q.Op, q.Unquoted, q.Kind)
}
