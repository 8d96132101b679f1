package store

// Page limits for list routes.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Page selects one page of a newest-first list: at most Limit items whose id
// sorts before Before (all of them when Before is empty). Identifiers are
// time-ordered, so the id of a page's last item is the cursor of the next.
type Page struct {
	Limit  int
	Before string
}

// Validate checks the page and fills in the default limit.
func (p *Page) Validate() error {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return FieldErrorf("limit", "limit must be between 1 and %d.", MaxPageLimit)
	}
	return nil
}

// before returns the SQL upper bound for ids: every id sorts before "~".
func (p Page) before() string {
	if p.Before == "" {
		return "~"
	}
	return p.Before
}

// next trims a result fetched with Limit+1 rows to Limit and returns the
// cursor of the following page, or "" on the last page.
func next[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, id(items[len(items)-1])
}
