package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/functions"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// expr is a compiled value: a plain path walked directly, or a JMESPath
// expression.
type expr struct {
	path []step
	// alts, when set, are the paths of not_null(path, path, ...): the value
	// is the first of them that is not null. Segment's default columns use
	// it, so it is read without decoding the event.
	alts [][]step
	jp   jmespath.JMESPath
	// floats says the expression compares, computes or calls numeric
	// functions, which the JMESPath library only does on float64 numbers.
	floats bool
}

// step is one path segment: a key, or an array index when isIndex is set.
type step struct {
	key     string
	index   int
	isIndex bool
}

// structural lists the JMESPath functions that never look at a number's
// value, so they give the same answer on json.Number as on float64.
var structural = map[string]bool{
	"not_null": true, "keys": true, "values": true, "merge": true, "to_array": true,
	"to_string": true, "join": true, "length": true, "lower": true, "upper": true,
	"trim": true, "trim_left": true, "trim_right": true, "starts_with": true,
	"ends_with": true, "split": true, "reverse": true, "items": true,
	"from_items": true, "zip": true, "map": true,
}

var knownFunctions = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range functions.GetDefaultFunctions() {
		m[f.Name] = true
	}
	return m
}()

// compileExpr compiles a column value or key template. Values starting with
// "$" are tried as a plain path first, then as JMESPath.
func compileExpr(src string) (expr, error) {
	if err := checkLength(src); err != nil {
		return expr{}, err
	}
	src = strings.TrimSpace(src)
	if strings.HasPrefix(src, "$") {
		steps, perr := parsePath(src)
		if perr == nil {
			return expr{path: steps}, nil
		}
		e, err := compileJMESPath(src)
		if err != nil {
			if lerr := checkExpression(src); lerr != nil {
				return expr{}, lerr
			}
			return expr{}, perr
		}
		return e, nil
	}
	return compileJMESPath(src)
}

// compileJMESPath compiles a JMESPath expression, bounded by
// checkExpression first.
func compileJMESPath(src string) (expr, error) {
	if err := checkExpression(src); err != nil {
		return expr{}, err
	}
	ast, err := parsing.NewParser().Parse(src)
	if err != nil {
		var se parsing.SyntaxError
		if errors.As(err, &se) {
			return expr{}, fmt.Errorf("invalid JMESPath expression at offset %d: %s",
				se.Offset, strings.TrimPrefix(se.Error(), "SyntaxError: "))
		}
		return expr{}, fmt.Errorf("invalid JMESPath expression: %w", err)
	}
	// The evaluator recurses once per level of the tree, with large frames:
	// a long chain such as a|a|a|... is shallow to parse but deep to run.
	if d := astDepth(ast, MaxExpressionDepth+1); d > MaxExpressionDepth {
		return expr{}, fmt.Errorf("nests more than %d levels deep", MaxExpressionDepth)
	}
	if name, ok := unknownFunction(ast); ok {
		return expr{}, fmt.Errorf("invalid JMESPath expression: unknown function %s()", name)
	}
	if steps, ok := astPath(ast, true); ok {
		return expr{path: steps}, nil
	}
	if alts, ok := notNullPaths(ast); ok {
		return expr{alts: alts}, nil
	}
	jp, err := jmespath.Compile(src)
	if err != nil {
		return expr{}, fmt.Errorf("invalid JMESPath expression: %w", err)
	}
	return expr{jp: jp, floats: numeric(ast)}, nil
}

// astPath turns an expression made only of fields and indexes into a path.
// leftmost is set for the node evaluated against the event itself, the only
// place where the root "$" and the current node "@" are the same.
func astPath(n parsing.ASTNode, leftmost bool) ([]step, bool) {
	switch n.NodeType {
	case parsing.ASTRootNode:
		return []step{}, leftmost
	case parsing.ASTCurrentNode, parsing.ASTIdentity:
		return []step{}, true
	case parsing.ASTField:
		key, ok := n.Value.(string)
		return []step{{key: key}}, ok
	case parsing.ASTIndex:
		i, ok := n.Value.(int)
		return []step{{index: i, isIndex: true}}, ok
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		if len(n.Children) != 2 {
			return nil, false
		}
		left, ok := astPath(n.Children[0], leftmost)
		if !ok {
			return nil, false
		}
		right, ok := astPath(n.Children[1], false)
		if !ok {
			return nil, false
		}
		return append(left, right...), true
	}
	return nil, false
}

// notNullPaths returns the paths of not_null(path, ...) whose arguments are
// all plain paths.
func notNullPaths(n parsing.ASTNode) ([][]step, bool) {
	if name, _ := n.Value.(string); n.NodeType != parsing.ASTFunctionExpression || name != "not_null" || len(n.Children) == 0 {
		return nil, false
	}
	alts := make([][]step, 0, len(n.Children))
	for _, c := range n.Children {
		steps, ok := astPath(c, true)
		if !ok {
			return nil, false
		}
		alts = append(alts, steps)
	}
	return alts, true
}

// numeric reports whether the expression looks at number values anywhere.
func numeric(n parsing.ASTNode) bool {
	switch n.NodeType {
	case parsing.ASTComparator, parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression:
		return true
	case parsing.ASTFunctionExpression:
		name, _ := n.Value.(string)
		if !structural[name] {
			return true
		}
	}
	for _, c := range n.Children {
		if numeric(c) {
			return true
		}
	}
	return false
}

// astDepth returns the depth of the tree n, counting no further than limit.
func astDepth(n parsing.ASTNode, limit int) int {
	if limit <= 1 {
		return 1
	}
	d := 0
	for _, c := range n.Children {
		d = max(d, astDepth(c, limit-1))
	}
	return d + 1
}

func unknownFunction(n parsing.ASTNode) (string, bool) {
	if n.NodeType == parsing.ASTFunctionExpression {
		name, _ := n.Value.(string)
		if !knownFunctions[name] {
			return name, true
		}
	}
	for _, c := range n.Children {
		if name, ok := unknownFunction(c); ok {
			return name, true
		}
	}
	return "", false
}

// parsePath parses "$", "$.a.b", "$.a['b c']", "$.a[0]".
func parsePath(src string) ([]step, error) {
	steps := []step{}
	i := 1
	for i < len(src) {
		switch src[i] {
		case '.':
			start := i + 1
			j := start
			for j < len(src) && !strings.ContainsRune(".[]'\" \t\r\n", rune(src[j])) {
				j++
			}
			if j == start {
				return nil, fmt.Errorf("invalid path at offset %d: expected a key name after '.'", start)
			}
			steps = append(steps, step{key: src[start:j]})
			i = j
		case '[':
			s, next, err := parseBracket(src, i)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s)
			i = next
		default:
			return nil, fmt.Errorf("invalid path at offset %d: expected '.' or '['", i)
		}
	}
	return steps, nil
}

// parseBracket parses a "['key']", "[\"key\"]" or "[index]" segment
// starting at src[i] == '[' and returns the offset after its ']'.
func parseBracket(src string, i int) (step, int, error) {
	j := i + 1
	if j < len(src) && (src[j] == '\'' || src[j] == '"') {
		quote := src[j]
		var key strings.Builder
		j++
		for ; j < len(src) && src[j] != quote; j++ {
			// A backslash lets a key hold the quote character itself.
			if src[j] == '\\' && j+1 < len(src) {
				j++
			}
			key.WriteByte(src[j])
		}
		if j >= len(src) {
			return step{}, 0, fmt.Errorf("invalid path at offset %d: unterminated quote", i+1)
		}
		if j+1 >= len(src) || src[j+1] != ']' {
			return step{}, 0, fmt.Errorf("invalid path at offset %d: expected ']'", j+1)
		}
		return step{key: key.String()}, j + 2, nil
	}
	end := strings.IndexByte(src[j:], ']')
	if end < 0 {
		return step{}, 0, fmt.Errorf("invalid path at offset %d: expected ']'", len(src))
	}
	n, err := strconv.Atoi(src[j : j+end])
	if err != nil {
		return step{}, 0, fmt.Errorf("invalid path at offset %d: expected a quoted key or an index", j)
	}
	return step{index: n, isIndex: true}, j + end + 1, nil
}

// doc is one event being evaluated; it converts the event to float64
// numbers at most once, and only for expressions that need it.
type doc struct {
	raw     any
	floated any
	done    bool
}

func (d *doc) floats() any {
	if !d.done {
		d.floated = floatView(d.raw)
		d.done = true
	}
	return d.floated
}

// eval returns the value of e in d; a missing value and a JMESPath runtime
// error are both nil.
func (e expr) eval(d *doc) any {
	v, err := e.search(d)
	if err != nil {
		return nil
	}
	return v
}

// search is eval that reports JMESPath runtime errors.
func (e expr) search(d *doc) (any, error) {
	if e.alts != nil {
		for _, p := range e.alts {
			if v := walk(d.raw, p); v != nil {
				return v, nil
			}
		}
		return nil, nil
	}
	if e.jp == nil {
		return walk(d.raw, e.path), nil
	}
	data := d.raw
	if e.floats {
		data = d.floats()
	}
	return e.jp.Search(data)
}

func walk(v any, steps []step) any {
	for _, s := range steps {
		if s.isIndex {
			a, ok := v.([]any)
			if !ok {
				return nil
			}
			i := s.index
			if i < 0 {
				i += len(a)
			}
			if i < 0 || i >= len(a) {
				return nil
			}
			v = a[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[s.key]
	}
	return v
}

// mapLeaves copies v, a decoded JSON value, with every value that is not
// an object or an array replaced by leaf(value).
func mapLeaves(v any, leaf func(any) any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = mapLeaves(x, leaf)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = mapLeaves(x, leaf)
		}
		return a
	}
	return leaf(v)
}

// floatView copies v with every number as float64, the only number type
// the JMESPath library compares and computes with.
func floatView(v any) any {
	return mapLeaves(v, floatNumber)
}

// floatNumber is a number as float64; other values are left as they are.
func floatNumber(v any) any {
	switch t := v.(type) {
	case json.Number:
		// Out of range numbers become ±Inf, as in JavaScript.
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && f == 0 {
			return string(t)
		}
		return f
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	}
	return v
}
