package match

import (
	"errors"
	"fmt"
	"strings"
)

// Condition is one row of the dashboard's condition builder.
type Condition struct {
	// Field is a field or path as written in a trigger, such as event or
	// properties.total.
	Field string
	// Op is an operator name, such as =, contains or exists.
	Op string
	// Value is the value; it is empty for operators that take none. After
	// =, !=, contains and not_contains, where the value's type matters, it
	// is written as in a trigger: 100 is a number, true and false are
	// booleans, "100" (quoted) is a string, and any other text is a string
	// as it stands (Order Completed). After the other operators it is plain
	// text (or a number for <, <=, > and >=).
	Value string
}

// ConditionError reports a builder row that does not make a condition.
type ConditionError struct {
	// Index is the 0-based position of the row.
	Index int
	// Part is "field", "op" or "value".
	Part string
	// Msg says what is wrong.
	Msg string
}

// Error returns the message with the 1-based row number and the part.
func (e *ConditionError) Error() string {
	return fmt.Sprintf("condition %d: %s: %s", e.Index+1, e.Part, e.Msg)
}

// Conditions returns the trigger as builder rows when it is one condition or
// conditions all joined by "and" or all joined by "or"; joiner is then "and"
// or "or" ("and" for a single condition). ok is false for any other shape,
// which the dashboard edits as raw text. Build(conds, joiner) gives back a
// trigger that matches the same events.
func (t *Trigger) Conditions() (conds []Condition, joiner string, ok bool) {
	kids := []*node{t.root}
	joiner = "and"
	if t.root.kind != nodeCond {
		kids = t.root.kids
		if t.root.kind == nodeOr {
			joiner = "or"
		}
	}
	for _, kid := range kids {
		if kid.kind != nodeCond {
			return nil, "", false
		}
		c := &kid.cond
		row := Condition{Field: c.path.text, Op: ops[c.op].name}
		switch {
		case typed(c.op):
			row.Value = c.lit.text
			if c.lit.kind == litString && needsQuotes(c.lit.text) {
				row.Value = quote(c.lit.text)
			}
		case ops[c.op].arg != argNone:
			row.Value = c.lit.text
		}
		conds = append(conds, row)
	}
	return conds, joiner, true
}

// Build renders builder rows as trigger text joined by joiner, "and" or "or"
// ("" means "and"). Values are read as [Condition.Value] says: after =, !=,
// contains and not_contains, 100 is the number 100, true a boolean and
// "100" the string "100"; after starts_with, ends_with and their negations
// a value is plain text; after <, <=, > and >= it must be a number;
// operators that take no value ignore it. A row that does not make a
// condition is reported as a *ConditionError.
func Build(conds []Condition, joiner string) (string, error) {
	kind := nodeAnd
	switch joiner {
	case "", "and":
	case "or":
		kind = nodeOr
	default:
		return "", fmt.Errorf("joiner %q: want \"and\" or \"or\"", joiner)
	}
	if len(conds) == 0 {
		return "", errors.New("no conditions: a trigger needs at least one")
	}
	list := &node{kind: kind}
	for i, row := range conds {
		n, err := buildCond(row)
		if err != nil {
			err.Index = i
			return "", err
		}
		list.kids = append(list.kids, n)
	}
	t := &Trigger{root: list}
	if len(list.kids) == 1 {
		t.root = list.kids[0]
	}
	return t.String(), nil
}

func buildCond(row Condition) (*node, *ConditionError) {
	if strings.TrimSpace(row.Field) == "" {
		return nil, &ConditionError{Part: "field", Msg: "is empty"}
	}
	// The lexer skips surrounding spaces itself; trimming here would cut an
	// escaped trailing space off a key.
	lx := lexer{src: row.Field}
	tok, err := lx.next()
	if err == nil && tok.kind != tokIdent {
		err = errAt(tok.pos, "expected a field such as event or properties.total, found %s", tok.describe())
	}
	var pa path
	if err == nil {
		pa, err = newPath(tok)
	}
	if err == nil {
		err = lexEnd(&lx, "the field")
	}
	if err != nil {
		return nil, &ConditionError{Part: "field", Msg: err.Msg}
	}
	o, ok := opNamed(strings.TrimSpace(row.Op))
	if !ok {
		return nil, &ConditionError{Part: "op", Msg: fmt.Sprintf("unknown operator %q; want one of %s", row.Op, strings.Join(Operators(), ", "))}
	}
	var lit literal
	switch {
	case typed(o):
		var err *SyntaxError
		if lit, err = typedValue(row.Value); err != nil {
			return nil, &ConditionError{Part: "value", Msg: err.Msg}
		}
	case ops[o].arg == argText:
		lit = textLiteral(row.Value)
	case ops[o].arg == argNumber:
		lx := lexer{src: row.Value}
		tok, err := lx.next()
		if err == nil && tok.kind != tokNumber {
			err = errAt(tok.pos, "%s needs a number, found %s", ops[o].name, tok.describe())
		}
		if err == nil {
			err = lexEnd(&lx, "the number")
		}
		if err != nil {
			return nil, &ConditionError{Part: "value", Msg: err.Msg}
		}
		lit = numberLiteral(tok.num)
	}
	return condNode(pa, o, lit), nil
}

// typed reports whether the operator compares by the value's type, so that
// the builder must tell 100 from "100".
func typed(o opKind) bool {
	return o == opEq || o == opNe || o == opContains || o == opNotContains
}

// needsQuotes reports whether a builder value must be quoted to be read as
// the string s.
func needsQuotes(s string) bool {
	_, isNum := jsonNumber(s)
	return isNum || s == "true" || s == "false" || strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'")
}

// typedValue reads a builder value after a typed operator.
func typedValue(v string) (literal, *SyntaxError) {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") {
		lx := lexer{src: v}
		tok, err := lx.next()
		if err != nil {
			return literal{}, err
		}
		if err := lexEnd(&lx, "the quoted value"); err != nil {
			return literal{}, err
		}
		return textLiteral(tok.str), nil
	}
	if v == "true" || v == "false" {
		return literal{kind: litBool, text: v}, nil
	}
	if f, ok := jsonNumber(v); ok {
		return numberLiteral(f), nil
	}
	return textLiteral(v), nil
}

// lexEnd fails unless the lexer has nothing left but spaces.
func lexEnd(lx *lexer, what string) *SyntaxError {
	tok, err := lx.next()
	if err != nil {
		return err
	}
	if tok.kind != tokEOF {
		return errAt(tok.pos, "unexpected %s after %s", tok.describe(), what)
	}
	return nil
}

// Operators returns the operator names in the order a condition builder
// offers them.
func Operators() []string {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.name
	}
	return names
}

// TakesValue reports whether the named operator is followed by a value;
// exists, not_exists, is_true and is_false are not.
func TakesValue(op string) bool {
	o, ok := opNamed(op)
	return ok && ops[o].arg != argNone
}

// Fields returns the top-level fields a trigger may name. The last three,
// properties, traits and context, are objects that paths lead into.
func Fields() []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}
