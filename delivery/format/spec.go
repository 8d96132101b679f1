package format

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// Output formats of a mapping.
const (
	CSV   = "csv"
	TXT   = "txt"
	JSONL = "jsonl"
	JSON  = "json"
)

// Compression values of a mapping.
const (
	None = "none"
	Gzip = "gzip"
)

// Older names of a column's transform, kept as aliases: "sha256" is hash
// sha256 without normalizing, "normalize" is normalize lowercase_trim.
const (
	TransformSHA256    = "sha256"
	TransformNormalize = "normalize"
)

// Default names of the two extra csv/txt columns, as Segment's action sets them.
const (
	DefaultAudienceActionColumn = "audience_action"
	DefaultBatchSizeColumn      = "batch_size"
)

// Column is one csv/txt column: Name is the header, Value a path such as
// "$.properties.total" or a JMESPath expression. Normalize (none, lowercase,
// trim or lowercase_trim) and then Hash (none or sha256) apply to the cell's
// text, as Segment's columns_to_transform; Transform is the older form, ""
// "sha256" or "normalize", and cannot be combined with them. A blank Value
// drops the column.
type Column struct {
	Name      string
	Value     string
	Transform string
	Normalize string
	Hash      string
	// Type is the parquet column type (see ColumnTypes); empty is
	// DefaultColumnType of the name. Other formats ignore it.
	Type string
}

// Spec is everything that decides a mapping's bytes and keys: the mapping's
// own settings plus the destination's path prefix. Empty fields take the
// defaults named on each field.
type Spec struct {
	// Format is csv, txt, jsonl or json (required).
	Format string
	// Columns are the csv/txt columns in order; other formats ignore them.
	Columns []Column
	// Delimiter is one of "," "|" "tab" ";" ":" (default ",").
	Delimiter string
	// FileExtension is csv or txt for csv/txt, jsonl, json or ndjson for
	// jsonl (default: the format's name). The json format takes its keys
	// from KeyTemplate and ignores it.
	FileExtension string
	// Compression is none or gzip (default none); parquet also takes
	// snappy and zstd (inside the file, default snappy).
	Compression string
	// RowGroupBytes is the size of a parquet file's values at which it
	// starts another row group (default DefaultRowGroupBytes).
	RowGroupBytes int64
	// AudienceActionColumn and BatchSizeColumn name the extra csv/txt
	// columns; empty leaves a column out.
	AudienceActionColumn string
	BatchSizeColumn      string
	// KeyPreset is segment_actions (default), segment_classic, hive or
	// custom; the json format ignores it.
	KeyPreset string
	// KeyTemplate is the token template of the custom preset, or for the
	// json format a JMESPath expression (default DefaultObjectKeyTemplate;
	// OutpostObjectKeyTemplate is Outpost's default).
	KeyTemplate string
	// Folder and FilenamePrefix shape the segment_actions and hive keys;
	// the json format puts Folder before the key template's result.
	Folder         string
	FilenamePrefix string
	// PathPrefix is the destination's path prefix, put before every key.
	PathPrefix string
	// DeliveryMetadata is the destination's delivery metadata, S3 user
	// metadata that the json format adds to every object (see Format.Object).
	DeliveryMetadata map[string]string
}

// FieldError reports an invalid Spec field. Field uses the JSON names of the
// management API ("columns[2].value", "delimiter", "key_template", ...).
type FieldError struct {
	Field   string
	Message string
}

// Error returns the field and the message.
func (e *FieldError) Error() string {
	return e.Field + ": " + e.Message
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// DefaultColumns returns Segment's default column set for the S3 (Actions)
// destination, in Segment's order.
func DefaultColumns() []Column {
	return []Column{
		{Name: "event_name", Value: "$.event"},
		{Name: "event_type", Value: "$.type"},
		{Name: "user_id", Value: "$.userId"},
		{Name: "anonymous_id", Value: "$.anonymousId"},
		{Name: "email", Value: "not_null(traits.email, context.traits.email)"},
		{Name: "properties", Value: "$.properties"},
		{Name: "traits", Value: "not_null(traits, context.traits)"},
		{Name: "context", Value: "$.context"},
		{Name: "timestamp", Value: "$.timestamp"},
		{Name: "message_id", Value: "$.messageId"},
		{Name: "integrations", Value: "$.integrations"},
		{Name: "audience_name", Value: "$.context.personas.computation_key"},
		{Name: "audience_id", Value: "$.context.personas.computation_id"},
		{Name: "audience_space_id", Value: "$.context.personas.space_id"},
	}
}

// Delimiters returns the delimiter values a csv/txt mapping accepts.
func Delimiters() []string {
	return []string{",", "|", "tab", ";", ":"}
}

// Format is a compiled Spec. It is immutable and safe for concurrent use.
type Format struct {
	spec      Spec
	delim     byte
	ext       string
	columns   []column
	header    []byte
	audience  bool
	batchSize bool
	key       keyLayout
	object    expr
	// parquet
	pq            []pqColumn
	schema        *parquet.Schema
	codec         compress.Codec
	rowGroupBytes int64
}

type column struct {
	value     expr
	transform cellTransform
}

// Compile validates spec and compiles its expressions and key layout once.
// Errors are *FieldError.
func Compile(spec Spec) (*Format, error) {
	f := &Format{spec: spec}
	if f.spec.Compression == "" {
		f.spec.Compression = None
		if spec.Format == Parquet {
			f.spec.Compression = Snappy
		}
	}
	if f.spec.Compression != None && f.spec.Compression != Gzip && spec.Format != Parquet {
		return nil, fieldErr("compression", "must be none or gzip")
	}
	var err error
	switch spec.Format {
	case CSV, TXT:
		err = f.compileTable()
	case JSONL:
		err = f.compileExtension("jsonl", "ndjson", "json")
	case JSON:
		err = f.compileObject()
	case Parquet:
		err = f.compileParquet()
	case "":
		return nil, fieldErr("format", "is required")
	default:
		return nil, fieldErr("format", "must be csv, txt, jsonl, json or parquet")
	}
	if err != nil {
		return nil, err
	}
	if spec.Format != JSON {
		if err := f.compileKey(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// compileExtension sets the file extension, the first of allowed by default,
// with ".gz" appended for gzip.
func (f *Format) compileExtension(allowed ...string) error {
	ext := f.spec.FileExtension
	if ext == "" {
		ext = allowed[0]
	}
	found := false
	for _, a := range allowed {
		found = found || ext == a
	}
	if !found {
		return fieldErr("file_extension", "must be one of %s", strings.Join(allowed, ", "))
	}
	if f.spec.Compression == Gzip {
		ext += ".gz"
	}
	f.ext = ext
	return nil
}

func (f *Format) compileTable() error {
	if err := f.compileExtension(f.spec.Format, otherTable(f.spec.Format)); err != nil {
		return err
	}
	switch f.spec.Delimiter {
	case "", ",":
		f.delim = ','
	case "|", ";", ":":
		f.delim = f.spec.Delimiter[0]
	case "tab":
		f.delim = '\t'
	default:
		return fieldErr("delimiter", `must be one of "," "|" "tab" ";" ":"`)
	}
	seen := map[string]string{}
	var names []string
	addName := func(field, name string) error {
		if name == "" {
			return fieldErr(field, "is required")
		}
		if strings.IndexByte(name, f.delim) >= 0 {
			return fieldErr(field, "%s", delimiterInName(f.delim))
		}
		if strings.ContainsAny(name, "\"\r\n") {
			return fieldErr(field, "must not contain a double quote or a line break: header names are written unquoted")
		}
		if other, ok := seen[name]; ok {
			return fieldErr(field, "repeats the column name of %s", other)
		}
		seen[name] = field
		names = append(names, name)
		return nil
	}
	for i, c := range f.spec.Columns {
		// A blank value drops the column, as in Segment's mapping editor.
		if strings.TrimSpace(c.Value) == "" {
			continue
		}
		field := fmt.Sprintf("columns[%d]", i)
		if err := addName(field+".name", c.Name); err != nil {
			return err
		}
		if _, ok := parquetNode(c.Type); c.Type != "" && !ok {
			return fieldErr(field+".type", "must be one of %s (types are for parquet; csv and txt cells are text)", strings.Join(ColumnTypes(), ", "))
		}
		e, err := compileExpr(c.Value)
		if err != nil {
			return fieldErr(field+".value", "%s", err.Error())
		}
		t, bad, msg := resolveTransform(c)
		if bad != "" {
			return fieldErr(field+"."+bad, "%s", msg)
		}
		f.columns = append(f.columns, column{value: e, transform: t})
	}
	if len(f.columns) == 0 {
		return fieldErr("columns", "needs at least one column with a value")
	}
	if f.spec.AudienceActionColumn != "" {
		if err := addName("audience_action_column_name", f.spec.AudienceActionColumn); err != nil {
			return err
		}
		f.audience = true
	}
	if f.spec.BatchSizeColumn != "" {
		if err := addName("batch_size_column_name", f.spec.BatchSizeColumn); err != nil {
			return err
		}
		f.batchSize = true
	}
	for i, n := range names {
		if i > 0 {
			f.header = append(f.header, f.delim)
		}
		f.header = append(f.header, n...)
	}
	f.header = append(f.header, '\n')
	return nil
}

// delimiterInName explains why a column name cannot hold the delimiter.
// Segment's S3 action removes the first occurrence from the header (and
// keeps a tab); s3relay refuses the name instead of writing another one.
func delimiterInName(delim byte) string {
	if delim == '\t' {
		return "Column names cannot contain the delimiter (tab): a reader would split this header into two columns. " +
			"Segment writes it as it is, which breaks the header; rename the column."
	}
	return fmt.Sprintf("Column names cannot contain the delimiter '%c': a reader would split this header into two columns. "+
		"Segment silently removes the first '%c'; rename the column.", delim, delim)
}

func otherTable(format string) string {
	if format == CSV {
		return TXT
	}
	return CSV
}

// Extension returns the file extension without the leading dot, ".gz"
// included for gzip (for example "csv" or "jsonl.gz"). The json format
// returns "json"; its keys come from the key template.
func (f *Format) Extension() string {
	if f.spec.Format == JSON {
		return "json"
	}
	return f.ext
}

// ContentType returns the Content-Type of the format's objects: text/csv
// for the csv extension and text/plain for txt (Segment's S3 action),
// text/plain for jsonl (Segment's classic S3 logs), application/json for
// json (Outpost).
func (f *Format) ContentType() string {
	switch {
	case f.spec.Format == JSON:
		return "application/json"
	case f.spec.Format == Parquet:
		return ParquetContentType
	case strings.HasPrefix(f.ext, "csv"):
		return "text/csv"
	default:
		return "text/plain"
	}
}

// ContentEncoding returns "gzip" for gzip-compressed objects and "" otherwise.
func (f *Format) ContentEncoding() string {
	if f.spec.Compression == Gzip && f.spec.Format != Parquet {
		return "gzip"
	}
	return ""
}
