package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// WriteKeyLen is the length of a source's write key.
const WriteKeyLen = 32

// Source is where events come from: an application's write key.
type Source struct {
	ID       string
	Name     string
	WriteKey string
	// AllowedOrigins are the web origins ("https://shop.example.com") whose
	// pages may send events with this write key; empty means any origin.
	AllowedOrigins []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Validate checks a source before it is stored.
func (s *Source) Validate() error {
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "":
		return FieldErrorf("name", "Name is required.")
	case utf8.RuneCountInString(s.Name) > 100:
		return FieldErrorf("name", "Name must be at most 100 characters.")
	case !plainText(s.Name):
		return FieldErrorf("name", notPlainText, "Name")
	}
	return nil
}

// newWriteKey returns a random write key. Write keys travel as HTTP Basic user
// names, so they use only URL-safe characters and never contain ':'.
func newWriteKey() string { return randomToken(24) }

// CreateSource creates a source with a new write key. Returns EINVALID for a bad name.
func (db *DB) CreateSource(ctx context.Context, s *Source) error {
	if err := s.Validate(); err != nil {
		return err
	}
	now := db.Now()
	s.ID, s.WriteKey, s.CreatedAt, s.UpdatedAt = NewID("src"), newWriteKey(), now, now
	if _, err := db.write.ExecContext(ctx, `INSERT INTO sources (id, name, write_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		s.ID, s.Name, s.WriteKey, ms(now), ms(now)); err != nil {
		return fmt.Errorf("create source: %w", err)
	}
	return nil
}

const sourceColumns = `id, name, write_key, allowed_origins, created_at, updated_at`

func scanSource(s scanner) (*Source, error) {
	var src Source
	var origins string
	var created, updated int64
	if err := s.Scan(&src.ID, &src.Name, &src.WriteKey, &origins, &created, &updated); err != nil {
		return nil, err
	}
	if origins != "" {
		src.AllowedOrigins = strings.Split(origins, "\n")
	}
	src.CreatedAt, src.UpdatedAt = fromMS(created), fromMS(updated)
	return &src, nil
}

// SourceByID returns a source. Returns ENOTFOUND when it does not exist.
func (db *DB) SourceByID(ctx context.Context, id string) (*Source, error) {
	return db.sourceWhere(ctx, "id = ?", id)
}

// SourceByWriteKey returns the source with this write key. Returns
// EUNAUTHORIZED when no source has it.
//
// Every ingestion request asks, so a source found is remembered for
// sourceCacheTTL. Changes made through this DB forget every source at once;
// a change made by another replica shows within sourceCacheTTL, and its
// write key's events no sooner: Appender.AppendFor checks, as it commits,
// that the key still names the source.
func (db *DB) SourceByWriteKey(ctx context.Context, key string) (*Source, error) {
	if s := db.byWriteKey.get(key); s != nil {
		return s, nil
	}
	gen := db.byWriteKey.generation()
	s, err := db.sourceWhere(ctx, "write_key = ?", key)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EUNAUTHORIZED, "Unknown write key.")
	}
	if err != nil {
		return nil, err
	}
	db.byWriteKey.put(key, s, gen)
	return s, nil
}

// sourceCacheTTL is how long SourceByWriteKey remembers a source, and so
// how long another replica's change of its allowed origins takes to apply
// here. sourceCacheMax bounds how many it remembers.
const (
	sourceCacheTTL = time.Second
	sourceCacheMax = 10000
)

// sourceCache holds sources by write key, each with when it was read.
type sourceCache struct {
	mu      sync.Mutex
	entries map[string]cachedSource
	// gen counts forget calls: a read that began before one is not kept,
	// as it may hold what was just changed.
	gen uint64
}

type cachedSource struct {
	s  Source
	at time.Time
}

// get returns a copy of the source remembered for key, if still fresh.
func (c *sourceCache) get(key string) *Source {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Since(e.at) >= sourceCacheTTL {
		return nil
	}
	s := e.s
	return &s
}

func (c *sourceCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers s for key, unless the cache was emptied since gen.
func (c *sourceCache) put(key string, s *Source, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= sourceCacheMax {
		c.entries = map[string]cachedSource{}
	}
	c.entries[key] = cachedSource{s: *s, at: time.Now()}
}

// forget empties the cache: a source changed.
func (c *sourceCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	c.gen++
}

func (db *DB) sourceWhere(ctx context.Context, where string, arg any) (*Source, error) {
	s, err := scanSource(db.read.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Source not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("get source: %w", err)
	}
	return s, nil
}

// ListSources returns one page of sources, newest first, and the cursor of
// the next page ("" on the last).
func (db *DB) ListSources(ctx context.Context, p Page) ([]*Source, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id < ? ORDER BY id DESC LIMIT ?`,
		p.before(), p.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var ss []*Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list sources: %w", err)
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sources: %w", err)
	}
	ss, cursor := next(ss, p.Limit, func(s *Source) string { return s.ID })
	return ss, cursor, nil
}

// RenameSource changes a source's name. Returns EINVALID or ENOTFOUND.
func (db *DB) RenameSource(ctx context.Context, id, name string) (*Source, error) {
	s := &Source{Name: name}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return db.updateSource(ctx, id, `name = ?`, s.Name)
}

// SetAllowedOrigins replaces the web origins allowed to send events with a
// source's write key; none allows any origin. Returns EINVALID (field
// "allowed_origins") or ENOTFOUND.
func (db *DB) SetAllowedOrigins(ctx context.Context, id string, origins []string) (*Source, error) {
	norm, err := NormalizeOrigins(origins)
	if err != nil {
		return nil, err
	}
	return db.updateSource(ctx, id, `allowed_origins = ?`, strings.Join(norm, "\n"))
}

// MaxAllowedOrigins is how many allowed origins a source may list.
const MaxAllowedOrigins = 100

// NormalizeOrigins checks a list of web origins and returns them in the form
// browsers send in the Origin header: lower-case scheme and host (an
// internationalized host in its ASCII form), no default port, no path, each
// once. Blank entries are skipped. Returns EINVALID
// (field "allowed_origins").
func NormalizeOrigins(origins []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		norm, ok := normalizeOrigin(o)
		if !ok {
			return nil, FieldErrorf("allowed_origins", "%q is not a web origin: write it as https://host or https://host:port, with no path.", o)
		}
		if !seen[norm] {
			seen[norm] = true
			out = append(out, norm)
		}
	}
	if len(out) > MaxAllowedOrigins {
		return nil, FieldErrorf("allowed_origins", "A source may list at most %d allowed origins.", MaxAllowedOrigins)
	}
	return out, nil
}

func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.ContainsAny(host, " \t\n*") {
		return "", false
	}
	if !isASCII(host) {
		// Browsers send an internationalized host in its ASCII form
		// (https://xn--bcher-kva.example for https://bücher.example).
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", false
		}
		host = ascii
	}
	if port != "" {
		// Browsers write the port in decimal without leading zeros, and only
		// 1 to 65535 can be a page's.
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", false
		}
		port = strconv.FormatUint(n, 10)
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// AllowsOrigin reports whether a page of this origin (an Origin header's
// value) may send events with the source's write key.
func (s *Source) AllowsOrigin(origin string) bool {
	if len(s.AllowedOrigins) == 0 {
		return true
	}
	return slices.Contains(s.AllowedOrigins, strings.ToLower(origin))
}

// RotateWriteKey gives a source a new write key; the old one stops working at
// once. Returns ENOTFOUND.
func (db *DB) RotateWriteKey(ctx context.Context, id string) (*Source, error) {
	return db.updateSource(ctx, id, `write_key = ?`, newWriteKey())
}

func (db *DB) updateSource(ctx context.Context, id, set string, arg any) (*Source, error) {
	defer db.byWriteKey.forget()
	res, err := db.write.ExecContext(ctx, `UPDATE sources SET `+set+`, updated_at = ? WHERE id = ?`, arg, ms(db.Now()), id)
	if err != nil {
		return nil, fmt.Errorf("update source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(ENOTFOUND, "Source not found.")
	}
	return db.SourceByID(ctx, id)
}

// DeleteSource deletes a source and its stored events. Returns ENOTFOUND.
func (db *DB) DeleteSource(ctx context.Context, id string) error {
	defer db.byWriteKey.forget()
	res, err := db.write.ExecContext(ctx, `DELETE FROM sources WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete source: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Source not found.")
	}
	return nil
}

// CountSources returns the number of sources.
func (db *DB) CountSources(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sources`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sources: %w", err)
	}
	return n, nil
}
