package match

import "sort"

// Roots returns the top-level fields the trigger reads (type, event,
// properties, ...), sorted. A caller that has these fields at hand can match
// without decoding the whole event.
func (t *Trigger) Roots() []string {
	set := map[string]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind == nodeCond {
			set[n.cond.path.root] = true
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(t.root)
	roots := make([]string, 0, len(set))
	for r := range set {
		roots = append(roots, r)
	}
	sort.Strings(roots)
	return roots
}
