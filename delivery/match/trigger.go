package match

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Default is the trigger a new mapping starts with.
const Default = `type = "track" or type = "identify"`

// maxDepth bounds parenthesis nesting so that parsing and evaluation cannot
// exhaust the stack on hostile input.
const maxDepth = 64

// MaxLength is the longest trigger Parse reads, in bytes: the parser is
// linear, and this bounds its time and memory on hostile input too.
const MaxLength = 4096

// Trigger is a parsed trigger. The zero value is not usable; get one from
// Parse.
type Trigger struct {
	root *node
}

// SyntaxError reports why a trigger does not parse and where.
type SyntaxError struct {
	// Pos is the 0-based byte offset of the problem, 0 <= Pos <= len(src).
	Pos int
	// Line and Column are the 1-based line and character (not byte)
	// position of Pos.
	Line, Column int
	// Msg says what is wrong.
	Msg string
}

// Error returns the message with its 1-based column (and line, when the
// trigger spans several lines).
func (e *SyntaxError) Error() string {
	if e.Line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
}

func (e *SyntaxError) locate(src string) {
	before := src[:e.Pos]
	e.Line = 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	e.Column = 1 + utf8.RuneCountInString(before[lineStart:])
}

type nodeKind uint8

const (
	nodeCond nodeKind = iota
	nodeAnd
	nodeOr
)

type node struct {
	kind nodeKind
	cond cond
	kids []*node
}

// Parse parses a trigger written as the package documentation describes.
// Every error is a *SyntaxError; an empty trigger is an error, since a
// mapping must say which events it takes.
func Parse(src string) (*Trigger, error) {
	root, err := parse(src)
	if err != nil {
		err.locate(src)
		return nil, err
	}
	return &Trigger{root: root}, nil
}

func parse(src string) (*node, *SyntaxError) {
	if strings.TrimLeft(src, " \t\r\n") == "" {
		return nil, errAt(0, "trigger is empty; write a condition such as %s", Default)
	}
	if len(src) > MaxLength {
		return nil, errAt(0, "the trigger is %d bytes long; at most %d are allowed", len(src), MaxLength)
	}
	p := &parser{lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		if p.tok.kind == tokRParen {
			return nil, errAt(p.tok.pos, "unmatched \")\"")
		}
		return nil, errAt(p.tok.pos, "expected \"and\", \"or\" or the end of the trigger, found %s", p.tok.describe())
	}
	return n, nil
}

type parser struct {
	lx    lexer
	tok   token
	depth int
}

func (p *parser) advance() *SyntaxError {
	tok, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = tok
	return nil
}

func (p *parser) parseOr() (*node, *SyntaxError) {
	return p.parseList(nodeOr, "or", p.parseAnd)
}

func (p *parser) parseAnd() (*node, *SyntaxError) {
	return p.parseList(nodeAnd, "and", p.parseUnary)
}

// parseList parses operands joined by one keyword into one flat node, so
// that a and (b and c) and (a and b) and c are the same trigger.
func (p *parser) parseList(kind nodeKind, keyword string, operand func() (*node, *SyntaxError)) (*node, *SyntaxError) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if p.tok.word() != keyword {
		return first, nil
	}
	list := &node{kind: kind}
	list.add(first)
	for p.tok.word() == keyword {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := operand()
		if err != nil {
			return nil, err
		}
		list.add(n)
	}
	return list, nil
}

func (n *node) add(kid *node) {
	if kid.kind == n.kind {
		n.kids = append(n.kids, kid.kids...)
		return
	}
	n.kids = append(n.kids, kid)
}

func (p *parser) parseUnary() (*node, *SyntaxError) {
	switch p.tok.kind {
	case tokLParen:
		open := p.tok.pos
		if p.depth >= maxDepth {
			return nil, errAt(open, "more than %d nested parentheses", maxDepth)
		}
		p.depth++
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, errAt(p.tok.pos, "expected \")\" to close \"(\", found %s", p.tok.describe())
		}
		p.depth--
		return n, p.advance()
	case tokBang:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if w := p.tok.word(); w != "contains" && w != "match" {
			return nil, errAt(p.tok.pos, "expected contains( or match( after \"!\", found %s", p.tok.describe())
		}
		return p.parseFunc(true)
	case tokIdent:
		switch p.tok.word() {
		case "contains", "match":
			return p.parseFunc(false)
		case "and", "or":
		default:
			return p.parseCond()
		}
	}
	return nil, errAt(p.tok.pos, "expected a condition, found %s", p.tok.describe())
}

func (p *parser) parsePath() (path, *SyntaxError) {
	if p.tok.kind != tokIdent {
		return path{}, errAt(p.tok.pos, "expected a field such as event or properties.total, found %s", p.tok.describe())
	}
	pa, err := newPath(p.tok)
	if err != nil {
		return path{}, err
	}
	return pa, p.advance()
}

func (p *parser) parseCond() (*node, *SyntaxError) {
	pa, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	opTok := p.tok
	o, ok := opNamed(opTok.text)
	if !ok || (opTok.kind != tokOp && opTok.word() == "") {
		return nil, errAt(opTok.pos, "expected an operator after %s, found %s", pa.text, opTok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if ops[o].arg == argNone {
		return condNode(pa, o, literal{}), nil
	}
	litTok := p.tok
	lit, isNull, err := p.parseLiteral(ops[o].name)
	if err != nil {
		return nil, err
	}
	switch {
	case isNull && o == opEq:
		o = opNotExists
	case isNull && o == opNe:
		o = opExists
	case isNull:
		return nil, errAt(litTok.pos, "null can only follow = or !=")
	case ops[o].arg == argNumber && lit.kind != litNumber:
		return nil, errAt(litTok.pos, "expected a number after %s, found %s", ops[o].name, litTok.describe())
	}
	return condNode(pa, o, lit), nil
}

// condNode builds a condition, giving is_true and is_false the literal
// they compare with, so that they behave exactly as = true and = false.
// The top-level fields (type, event, userId, ...) are strings, and Segment's
// parser turns a number after them into its text, so userId = 123 is
// userId = "123".
func condNode(pa path, o opKind, lit literal) *node {
	if lit.kind == litNumber && ops[o].arg == argText && !isObject(pa.root) {
		lit = textLiteral(lit.text)
	}
	switch o {
	case opIsTrue:
		lit = literal{kind: litBool, text: "true"}
	case opIsFalse:
		lit = literal{kind: litBool, text: "false"}
	case opExists, opNotExists:
		lit = literal{}
	}
	return &node{kind: nodeCond, cond: cond{path: pa, op: o, lit: lit}}
}

// parseLiteral parses a value; null is reported apart because it only has
// a meaning after = and !=.
func (p *parser) parseLiteral(after string) (literal, bool, *SyntaxError) {
	var lit literal
	isNull := false
	switch w := p.tok.word(); {
	case p.tok.kind == tokString:
		lit = textLiteral(p.tok.str)
	case p.tok.kind == tokNumber:
		lit = numberLiteral(p.tok.num)
	case w == "true" || w == "false":
		lit = literal{kind: litBool, text: w}
	case w == "null":
		isNull = true
	default:
		return literal{}, false, errAt(p.tok.pos, "expected a value after %s, found %s", after, p.tok.describe())
	}
	return lit, isNull, p.advance()
}

// parseFunc parses Segment's function spellings, contains(field, value) and
// match(field, pattern), optionally negated with "!".
func (p *parser) parseFunc(negate bool) (*node, *SyntaxError) {
	name := p.tok.word()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, errAt(p.tok.pos, "expected \"(\" after %s, found %s", name, p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	pa, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokComma {
		return nil, errAt(p.tok.pos, "expected \",\" after %s, found %s", pa.text, p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	litTok := p.tok
	lit, isNull, err := p.parseLiteral(",")
	if err != nil {
		return nil, err
	}
	if isNull {
		return nil, errAt(litTok.pos, "%s() cannot take null", name)
	}
	if p.tok.kind != tokRParen {
		return nil, errAt(p.tok.pos, "expected \")\" to close %s(, found %s", name, p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	o := opContains
	if name == "match" {
		if lit.kind != litString {
			return nil, errAt(litTok.pos, "match() takes a string pattern, found %s", litTok.describe())
		}
		inner := lit.text
		leading := strings.HasPrefix(inner, "*")
		inner = strings.TrimPrefix(inner, "*")
		trailing := strings.HasSuffix(inner, "*")
		inner = strings.TrimSuffix(inner, "*")
		if strings.Contains(inner, "*") {
			return nil, errAt(litTok.pos, "match() supports * only at the start or end of the pattern")
		}
		lit = textLiteral(inner)
		switch {
		case leading && trailing:
			o = opContains
		case leading:
			o = opEndsWith
		case trailing:
			o = opStartsWith
		default:
			o = opEq
		}
	}
	if negate {
		o = ops[o].negation
	}
	return condNode(pa, o, lit), nil
}

// String returns the trigger in canonical form: operator spellings, double
// quotes, single spaces, and only the parentheses that are needed. It
// parses back to an equivalent trigger.
func (t *Trigger) String() string {
	var b strings.Builder
	t.root.write(&b, false)
	return b.String()
}

func (n *node) write(b *strings.Builder, inAnd bool) {
	switch n.kind {
	case nodeCond:
		n.cond.write(b)
	case nodeAnd:
		for i, kid := range n.kids {
			if i > 0 {
				b.WriteString(" and ")
			}
			kid.write(b, true)
		}
	case nodeOr:
		if inAnd {
			b.WriteByte('(')
		}
		for i, kid := range n.kids {
			if i > 0 {
				b.WriteString(" or ")
			}
			kid.write(b, false)
		}
		if inAnd {
			b.WriteByte(')')
		}
	}
}

func (c *cond) write(b *strings.Builder) {
	b.WriteString(c.path.text)
	b.WriteByte(' ')
	b.WriteString(ops[c.op].name)
	if ops[c.op].arg != argNone {
		b.WriteByte(' ')
		b.WriteString(c.lit.source())
	}
}

// Types returns the event types the trigger can accept, sorted: every event
// it matches has one of these values in its "type" field. all is true when
// the trigger does not narrow the type to a known set (it has no
// type = "..." condition on some branch). An empty list with all false means
// the trigger can never match.
func (t *Trigger) Types() (types []string, all bool) {
	return t.root.types()
}

func (n *node) types() ([]string, bool) {
	switch n.kind {
	case nodeAnd:
		var acc []string
		all := true
		for _, kid := range n.kids {
			set, kidAll := kid.types()
			switch {
			case kidAll:
			case all:
				acc, all = set, false
			default:
				acc = slices.DeleteFunc(acc, func(s string) bool { return !slices.Contains(set, s) })
			}
		}
		return acc, all
	case nodeOr:
		var acc []string
		for _, kid := range n.kids {
			set, kidAll := kid.types()
			if kidAll {
				return nil, true
			}
			acc = append(acc, set...)
		}
		slices.Sort(acc)
		return slices.Compact(acc), false
	}
	if n.cond.op == opEq && n.cond.path.root == "type" && len(n.cond.path.segs) == 1 {
		return []string{n.cond.lit.text}, false
	}
	return nil, true
}
