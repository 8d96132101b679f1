package format

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Key presets of csv, txt and jsonl mappings.
const (
	// PresetSegmentActions is Segment's S3 (Actions) layout:
	// <path prefix><folder>/<filename prefix>_<time>_<suffix>.<ext>, time being
	// 2024-01-02T03-04-05-678Z.
	PresetSegmentActions = "segment_actions"
	// PresetSegmentClassic is Segment's classic S3 layout:
	// <path prefix>segment-logs/<source id>/<UTC day in Unix ms>/<Unix ms>_<suffix>.<ext>.
	// It needs gzip.
	PresetSegmentClassic = "segment_classic"
	// PresetHive partitions by UTC date and hour:
	// <path prefix><folder>/dt=2024-01-02/hour=03/<filename prefix>_<time>_<suffix>.<ext>.
	PresetHive = "hive"
	// PresetCustom expands KeyTemplate's tokens (see KeyTokens).
	PresetCustom = "custom"
)

// MaxKeyBytes is S3's limit on the length of an object key in UTF-8 bytes.
const MaxKeyBytes = 1024

// KeyPresets returns the key presets of csv, txt and jsonl mappings.
func KeyPresets() []string {
	return []string{PresetSegmentActions, PresetSegmentClassic, PresetHive, PresetCustom}
}

// KeyToken documents one token of custom key templates.
type KeyToken struct {
	Token       string
	Description string
}

var keyTokens = []KeyToken{
	{"{yyyy}", "year, 4 digits"},
	{"{mm}", "month, 01-12"},
	{"{dd}", "day of the month, 01-31"},
	{"{hh}", "hour, 00-23"},
	{"{mi}", "minute, 00-59"},
	{"{ss}", "second, 00-59"},
	{"{ms}", "millisecond, 000-999"},
	{"{date}", "date, 2024-01-02"},
	{"{timestamp}", "Segment's file time, 2024-01-02T03-04-05-678Z"},
	{"{unix}", "Unix time in seconds"},
	{"{unix_ms}", "Unix time in milliseconds"},
	{"{day_ms}", "UTC midnight of the day in Unix milliseconds (Segment classic folders)"},
	{"{source_id}", "source id (files are split by source)"},
	{"{type}", "event type, lowercased, other characters as '_' (files are split by type)"},
	{"{event}", "event name, lowercased, accents stripped, letters without an ASCII form percent-encoded, other characters as '_'; a name not already in that form gets '-' and 8 hex digits of its hash (files are split by event name)"},
	{"{file_id}", "the file's id, characters other than A-Z a-z 0-9 - _ . as '_'"},
	{"{suffix}", "12 hex digits derived from the file id"},
	{"{ext}", "file extension, .gz included for gzip"},
}

// KeyTokens returns the tokens of custom key templates. Times are UTC. A
// template must hold {file_id} or {suffix}, so that no two files share a key.
func KeyTokens() []KeyToken {
	return append([]KeyToken(nil), keyTokens...)
}

// KeyInput is what a file's key depends on beyond the mapping.
type KeyInput struct {
	// Time is when the file was sealed; keys use it in UTC.
	Time time.Time
	// PartitionTime, when set, is the UTC hour the file's events belong to
	// (a mapping partitioned by event time, see PartitionHour): the hive and
	// segment_classic folders and the date and hour tokens ({yyyy} {mm}
	// {dd} {hh} {date} {day_ms}) name it, while the file name's own time
	// stays Time. Unset: everything uses Time.
	PartitionTime time.Time
	// FileID is unique per file, such as the delivery id; the suffix that
	// keeps two files of one millisecond apart derives from it.
	FileID string
	// SourceID, Type and Event describe the file's events; see KeyFields.
	SourceID string
	Type     string
	Event    string
}

// KeyFields says which event attributes a mapping's keys contain. Events
// differing in one of them must go to different files.
type KeyFields struct {
	Source bool
	Type   bool
	Event  bool
}

type keyLayout struct {
	preset   string
	prefix   string // path prefix, normalised
	folder   string // normalised, ends with "/" when set
	filename string
	parts    []keyPart
	fields   KeyFields
}

// keyPart is a literal, or a token when token is set.
type keyPart struct {
	lit   string
	token string
}

func (f *Format) compileKey() error {
	k := keyLayout{preset: f.spec.KeyPreset, filename: f.spec.FilenamePrefix}
	if k.preset == "" {
		k.preset = PresetSegmentActions
		if f.spec.Format == Parquet {
			k.preset = PresetHive
		}
	}
	var err error
	if k.prefix, err = normalizeFolder(f.spec.PathPrefix); err != nil {
		return fieldErr("path_prefix", "%s", err.Error())
	}
	if k.folder, err = normalizeFolder(f.spec.Folder); err != nil {
		return fieldErr("folder", "%s", err.Error())
	}
	if err := checkKeyPart(k.filename); err != nil {
		return fieldErr("filename_prefix", "%s", err.Error())
	}
	field := "folder"
	switch k.preset {
	case PresetSegmentActions, PresetHive:
	case PresetSegmentClassic:
		field = "path_prefix"
		if f.spec.Compression != Gzip {
			return fieldErr("compression", "must be gzip for the segment_classic key preset")
		}
		k.fields.Source = true
	case PresetCustom:
		field = "key_template"
		if k.parts, err = parseKeyTemplate(f.spec.KeyTemplate); err != nil {
			return fieldErr(field, "%s", err.Error())
		}
		for _, p := range k.parts {
			k.fields.Source = k.fields.Source || p.token == "source_id"
			k.fields.Type = k.fields.Type || p.token == "type"
			k.fields.Event = k.fields.Event || p.token == "event"
		}
	default:
		return fieldErr("key_preset", "must be one of %s", strings.Join(KeyPresets(), ", "))
	}
	f.key = k
	// A sample key catches what the parts only break together, such as a
	// template that starts with "/" or one too long for any file.
	sample := KeyInput{Time: time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC), FileID: "sample",
		SourceID: "source", Type: "track", Event: "Order Completed"}
	if _, err := f.Key(sample); err != nil {
		return fieldErr(field, "%s", err.Error())
	}
	return nil
}

// KeyFields returns the event attributes f's keys contain.
func (f *Format) KeyFields() KeyFields {
	return f.key.fields
}

// Key returns the object key of a csv, txt or jsonl file. It fails when the
// input lacks what the layout needs or the key breaks ValidateKey.
func (f *Format) Key(in KeyInput) (string, error) {
	if f.spec.Format == JSON {
		return "", errors.New("json format keys come from the key template of each event: use Object")
	}
	if in.FileID == "" {
		return "", errors.New("the file id is required")
	}
	if in.Time.IsZero() {
		return "", errors.New("the file time is required")
	}
	k := f.key
	t := in.Time.UTC()
	pt := t
	if !in.PartitionTime.IsZero() {
		pt = in.PartitionTime.UTC()
	}
	var b strings.Builder
	b.WriteString(k.prefix)
	switch k.preset {
	case PresetSegmentActions:
		b.WriteString(k.folder)
		b.WriteString(segmentFilename(k.filename, segmentTime(t)+"_"+suffix(in.FileID), f.ext))
	case PresetHive:
		b.WriteString(k.folder)
		fmt.Fprintf(&b, "dt=%s/hour=%02d/", pt.Format("2006-01-02"), pt.Hour())
		b.WriteString(segmentFilename(k.filename, segmentTime(t)+"_"+suffix(in.FileID), f.ext))
	case PresetSegmentClassic:
		if in.SourceID == "" {
			return "", errors.New("the source id is required by the segment_classic key preset")
		}
		fmt.Fprintf(&b, "segment-logs/%s/%d/%d_%s.%s", idToken(in.SourceID), dayMillis(pt),
			t.UnixMilli(), suffix(in.FileID), f.ext)
	case PresetCustom:
		for _, p := range k.parts {
			if p.token == "" {
				b.WriteString(p.lit)
				continue
			}
			b.WriteString(f.tokenValue(p.token, in, tokenTime(p.token, t, pt)))
		}
	}
	key := b.String()
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return key, nil
}

func (f *Format) tokenValue(token string, in KeyInput, t time.Time) string {
	switch token {
	case "yyyy":
		return fmt.Sprintf("%04d", t.Year())
	case "mm":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "dd":
		return fmt.Sprintf("%02d", t.Day())
	case "hh":
		return fmt.Sprintf("%02d", t.Hour())
	case "mi":
		return fmt.Sprintf("%02d", t.Minute())
	case "ss":
		return fmt.Sprintf("%02d", t.Second())
	case "ms":
		return fmt.Sprintf("%03d", t.Nanosecond()/1e6)
	case "date":
		return t.Format("2006-01-02")
	case "timestamp":
		return segmentTime(t)
	case "unix":
		return strconv.FormatInt(t.Unix(), 10)
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "day_ms":
		return strconv.FormatInt(dayMillis(t), 10)
	case "source_id":
		return idToken(in.SourceID)
	case "type":
		return nameToken(in.Type)
	case "event":
		return eventToken(in.Event)
	case "file_id":
		return idToken(in.FileID)
	case "suffix":
		return suffix(in.FileID)
	case "ext":
		return f.ext
	}
	return ""
}

// KeyChanges describe the values from the events that in's key holds
// changed, for the preview: the event name of {event} when it is not
// already in that token's form.
func (f *Format) KeyChanges(in KeyInput) []string {
	if f.spec.Format == JSON || !f.key.fields.Event {
		return nil
	}
	if t := eventToken(in.Event); t != in.Event {
		return []string{fmt.Sprintf("{event}: the event name %q is written as %q", in.Event, t)}
	}
	return nil
}

func parseKeyTemplate(src string) ([]keyPart, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("is required for the custom key preset")
	}
	if err := checkLength(src); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, t := range keyTokens {
		known[strings.Trim(t.Token, "{}")] = true
	}
	var parts []keyPart
	unique := false
	rest := src
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			parts = append(parts, keyPart{lit: rest})
			break
		}
		offset := len(src) - len(rest) + open
		if rest[open] == '}' {
			return nil, fmt.Errorf("unexpected '}' at offset %d", offset)
		}
		if open > 0 {
			parts = append(parts, keyPart{lit: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("unclosed '{' at offset %d", offset)
		}
		name := rest[open+1 : open+1+end]
		if !known[name] {
			return nil, fmt.Errorf("unknown token {%s} at offset %d", name, offset)
		}
		unique = unique || name == "file_id" || name == "suffix"
		parts = append(parts, keyPart{token: name})
		rest = rest[open+1+end+1:]
	}
	if !unique {
		return nil, errors.New("must contain {file_id} or {suffix} so that no two files share a key")
	}
	return parts, nil
}

// tokenTime is the time a key token shows: the partition's for the tokens
// that name a folder (date and hour), the file's own for the others.
func tokenTime(token string, file, partition time.Time) time.Time {
	switch token {
	case "yyyy", "mm", "dd", "hh", "date", "day_ms":
		return partition
	}
	return file
}

// segmentTime is JavaScript's toISOString with ':' and '.' replaced by '-'.
func segmentTime(t time.Time) string {
	return fmt.Sprintf("%s-%03dZ", t.Format("2006-01-02T15-04-05"), t.Nanosecond()/1e6)
}

// segmentFilename places stamp the way Segment's S3 action does: after
// "prefix_", before the extension when the prefix already ends with it.
func segmentFilename(prefix, stamp, ext string) string {
	base, _, _ := strings.Cut(ext, ".")
	for _, e := range []string{"." + ext, "." + base} {
		if strings.HasSuffix(prefix, e) {
			return strings.TrimSuffix(prefix, e) + "_" + stamp + "." + ext
		}
	}
	if prefix == "" {
		return stamp + "." + ext
	}
	return prefix + "_" + stamp + "." + ext
}

func dayMillis(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMilli()
}

// suffix is 12 hex digits of the SHA-256 of the file id: short, the same
// for the same file on every retry, and apart for distinct ids (a clash
// needs two ids of one mapping in one millisecond whose hashes share 48 bits).
func suffix(fileID string) string {
	sum := sha256.Sum256([]byte(fileID))
	return hex.EncodeToString(sum[:6])
}

// idToken keeps A-Z a-z 0-9 - _ . and turns everything else into '_'.
func idToken(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			out[i] = '_'
		}
	}
	if s := string(out); s != "" && strings.Trim(s, ".") != "" {
		return s
	}
	return "_"
}

// nameToken lowercases a name and joins its runs of letters and digits
// with '_', as Segment names warehouse tables: "Order Completed" becomes
// "order_completed". A name with no letters or digits becomes "unknown".
func nameToken(s string) string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// normalizeFolder trims leading slashes (as Astronomer's emitter does) and
// ends a non-empty folder with "/" (as Segment's S3 action does).
func normalizeFolder(s string) (string, error) {
	s = strings.TrimLeft(s, "/")
	if s == "" {
		return "", nil
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	if err := checkKeyPart(s); err != nil {
		return "", err
	}
	return s, nil
}

// checkKeyPart applies ValidateKey's rules, but the length, to part of a key.
func checkKeyPart(s string) error {
	if s == "" {
		return nil
	}
	return validateKey(s, false)
}

// ValidateKey reports why key cannot be used as an S3 object key: empty,
// over 1,024 bytes, not UTF-8, starting with "/", holding "//", or having a
// "." or ".." segment (S3 itself accepts some of these, but consoles, SDKs
// and tools that map keys to paths mangle them).
func ValidateKey(key string) error {
	if key == "" {
		return errors.New("the key is empty")
	}
	return validateKey(key, true)
}

func validateKey(key string, checkLength bool) error {
	if checkLength && len(key) > MaxKeyBytes {
		return fmt.Errorf("the key is %d bytes, over S3's limit of 1,024", len(key))
	}
	if !utf8.ValidString(key) {
		return errors.New("the key is not valid UTF-8")
	}
	if strings.HasPrefix(key, "/") {
		return errors.New(`the key starts with "/"`)
	}
	if strings.Contains(key, "//") {
		return errors.New(`the key contains "//"`)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("the key has a %q segment", seg)
		}
	}
	return nil
}

// KeyWarnings lists the risky characters in key, one message per kind, for
// the preview: characters that are valid in S3 but that URLs, shells,
// consoles or query engines often mishandle.
func KeyWarnings(key string) []string {
	checks := []struct {
		bad     func(r rune) bool
		message string
	}{
		{func(r rune) bool { return r == ' ' }, "contains a space"},
		{func(r rune) bool { return r == '+' }, `contains "+", which some tools read as a space`},
		{func(r rune) bool { return r == '#' }, `contains "#", which ends a URL path`},
		{func(r rune) bool { return r == '?' }, `contains "?", which starts a URL query`},
		{func(r rune) bool { return r == '%' }, `contains "%", which starts a URL escape`},
		{func(r rune) bool { return r == ':' }, `contains ":", which Windows paths, Hadoop and Spark paths and some sync tools refuse or mangle`},
		{func(r rune) bool { return r == '\\' }, `contains "\", a path separator on Windows`},
		{func(r rune) bool { return r < 0x20 || r == 0x7f }, "contains control characters"},
		{func(r rune) bool { return r > 0x7f }, "contains non-ASCII characters"},
	}
	var warnings []string
	for _, c := range checks {
		if strings.IndexFunc(key, c.bad) >= 0 {
			warnings = append(warnings, c.message)
		}
	}
	if strings.HasSuffix(key, "/") {
		warnings = append(warnings, `ends with "/", so consoles show it as a folder`)
	}
	return warnings
}
