package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	pqformat "github.com/parquet-go/parquet-go/format"
	"github.com/tidwall/gjson"
)

// Parquet is the format of typed, columnar files (see NewFileEncoder).
const Parquet = "parquet"

// Compression codecs that only the parquet format takes (inside the file).
const (
	Snappy = "snappy"
	Zstd   = "zstd"
)

// ParquetContentType is the Content-Type of parquet files.
const ParquetContentType = "application/vnd.apache.parquet"

// Column types of the parquet format.
const (
	TypeString    = "string"
	TypeInt64     = "int64"
	TypeDouble    = "double"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
	TypeJSON      = "json"
	TypeDate      = "date"
)

// DefaultRowGroupBytes is the default size (values before encoding) at which
// a parquet file starts another row group.
const DefaultRowGroupBytes = 64 << 20

// dictionaryMaxBytes bounds a column's dictionary: past it, a column of
// many distinct values (ids) goes on in plain encoding.
const dictionaryMaxBytes = 1 << 20

// ColumnTypes returns the column types of the parquet format.
func ColumnTypes() []string {
	return []string{TypeString, TypeInt64, TypeDouble, TypeBoolean, TypeTimestamp, TypeJSON, TypeDate}
}

// DefaultColumnType is the type a parquet column of Segment's default
// columns gets by its name: timestamp a timestamp, properties, traits,
// context and integrations json, everything else (ids) a string.
func DefaultColumnType(name string) string {
	switch name {
	case "timestamp", "received_at", "sent_at", "original_timestamp":
		return TypeTimestamp
	case "properties", "traits", "context", "integrations":
		return TypeJSON
	}
	return TypeString
}

type pqColumn struct {
	name      string
	typ       string
	value     expr
	transform cellTransform
}

func (f *Format) compileParquet() error {
	if e := f.spec.FileExtension; e != "" && e != Parquet {
		return fieldErr("file_extension", "must be parquet: the compression lives inside the file")
	}
	f.ext = Parquet
	switch f.spec.Compression {
	case Snappy:
		f.codec = &parquet.Snappy
	case Zstd:
		f.codec = &parquet.Zstd
	case Gzip:
		f.codec = &parquet.Gzip
	case None:
		f.codec = &parquet.Uncompressed
	default:
		return fieldErr("compression", "must be snappy, zstd, gzip or none")
	}
	f.rowGroupBytes = f.spec.RowGroupBytes
	if f.rowGroupBytes <= 0 {
		f.rowGroupBytes = DefaultRowGroupBytes
	}
	seen := map[string]string{}
	var fields []parquet.Field
	for i, c := range f.spec.Columns {
		if strings.TrimSpace(c.Value) == "" {
			continue
		}
		field := fmt.Sprintf("columns[%d]", i)
		if c.Name == "" {
			return fieldErr(field+".name", "is required")
		}
		if other, ok := seen[c.Name]; ok {
			return fieldErr(field+".name", "repeats the column name of %s", other)
		}
		seen[c.Name] = field
		typ := c.Type
		if typ == "" {
			typ = DefaultColumnType(c.Name)
		}
		node, ok := parquetNode(typ)
		if !ok {
			return fieldErr(field+".type", "must be one of %s", strings.Join(ColumnTypes(), ", "))
		}
		e, err := compileExpr(c.Value)
		if err != nil {
			return fieldErr(field+".value", "%s", err.Error())
		}
		t, bad, msg := resolveTransform(c)
		if bad != "" {
			return fieldErr(field+"."+bad, "%s", msg)
		}
		if !t.none() && typ != TypeString {
			return fieldErr(field+".type", "must be string for a column with a transform (normalize or hash)")
		}
		f.pq = append(f.pq, pqColumn{name: c.Name, typ: typ, value: e, transform: t})
		fields = append(fields, &pqField{Node: parquet.Optional(node), name: c.Name})
	}
	if len(f.pq) == 0 {
		return fieldErr("columns", "needs at least one column with a value")
	}
	f.schema = parquet.NewSchema("s3relay", &pqGroup{fields: fields})
	return nil
}

func parquetNode(typ string) (parquet.Node, bool) {
	switch typ {
	case TypeString:
		return parquet.Encoded(parquet.String(), &parquet.RLEDictionary), true
	case TypeJSON:
		return parquet.JSON(), true
	case TypeInt64:
		return parquet.Int(64), true
	case TypeDouble:
		return parquet.Leaf(parquet.DoubleType), true
	case TypeBoolean:
		return parquet.Leaf(parquet.BooleanType), true
	case TypeTimestamp:
		return parquet.Timestamp(parquet.Millisecond), true
	case TypeDate:
		return parquet.Date(), true
	}
	return nil, false
}

// pqGroup is the file's root: its columns in the mapping's order
// (parquet.Group sorts them by name).
type pqGroup struct{ fields []parquet.Field }

func (g *pqGroup) ID() int                     { return 0 }
func (g *pqGroup) String() string              { return "s3relay" }
func (g *pqGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *pqGroup) Optional() bool              { return false }
func (g *pqGroup) Repeated() bool              { return false }
func (g *pqGroup) Required() bool              { return true }
func (g *pqGroup) Leaf() bool                  { return false }
func (g *pqGroup) Fields() []parquet.Field     { return g.fields }
func (g *pqGroup) Encoding() encoding.Encoding { return nil }
func (g *pqGroup) Compression() compress.Codec { return nil }
func (g *pqGroup) GoType() reflect.Type        { return reflect.TypeOf(map[string]any{}) }

type pqField struct {
	parquet.Node
	name string
}

func (f *pqField) Name() string { return f.name }
func (f *pqField) Value(base reflect.Value) reflect.Value {
	return base.MapIndex(reflect.ValueOf(f.name))
}

// WithRowGroupBytes returns f with another row group size (see
// Spec.RowGroupBytes).
func (f *Format) WithRowGroupBytes(n int64) *Format {
	g := *f
	if n > 0 {
		g.rowGroupBytes = n
	}
	return &g
}

// ColumnNulls counts the values of one column that did not fit its type
// and were written as null.
type ColumnNulls struct {
	Column string `json:"column"`
	Type   string `json:"type"`
	Count  int    `json:"count"`
}

// FileEncoder writes one file row by row: an *Encoder for csv, txt and
// jsonl, a *ParquetEncoder for parquet.
type FileEncoder interface {
	EncodeJSON(event []byte) error
	Close() error
}

// NewFileEncoder starts a file of exactly rows events on w, whatever the
// format (but json, which writes one object per event).
func (f *Format) NewFileEncoder(w io.Writer, rows int) (FileEncoder, error) {
	if f.spec.Format == Parquet {
		return f.NewParquetEncoder(w, rows)
	}
	return f.NewEncoder(w, rows)
}

// ParquetEncoder streams one parquet file: rows are buffered per column up
// to the row group size, then flushed to w as a row group, so memory stays
// at about one row group whatever the file's size. It is not safe for
// concurrent use.
type ParquetEncoder struct {
	f        *Format
	w        *parquet.Writer
	rows, n  int
	buffered int64
	row      parquet.Row
	cells    [][]byte
	nulls    []int
	top      members
	json     *jsonWriter
	err      error
}

// NewParquetEncoder starts a parquet file of exactly rows events on w.
// Close writes the footer; it does not close w.
func (f *Format) NewParquetEncoder(w io.Writer, rows int) (*ParquetEncoder, error) {
	if f.spec.Format != Parquet {
		return nil, errors.New("only the parquet format writes parquet files")
	}
	if rows < 0 {
		return nil, fmt.Errorf("row count %d is negative", rows)
	}
	pw := parquet.NewWriter(w, f.schema,
		parquet.Compression(f.codec),
		parquet.DataPageStatistics(true),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		parquet.CreatedBy("s3relay", "1", ""),
	)
	return &ParquetEncoder{f: f, w: pw, rows: rows, row: make(parquet.Row, len(f.pq)), cells: make([][]byte, len(f.pq)),
		nulls: make([]int, len(f.pq)), json: newJSONWriter()}, nil
}

// EncodeJSON writes the next event, given as a JSON object. A value that
// does not fit its column's type is written as null and counted (Nulls).
func (e *ParquetEncoder) EncodeJSON(event []byte) error {
	if e.err != nil {
		return e.err
	}
	if e.n == e.rows {
		return fmt.Errorf("the file was started for %d rows", e.rows)
	}
	if err := e.fill(event); err != nil {
		e.err = fmt.Errorf("encode row %d: %w", e.n+1, err)
		return e.err
	}
	if _, err := e.w.WriteRows([]parquet.Row{e.row}); err != nil {
		e.err = fmt.Errorf("encode row %d: %w", e.n+1, err)
		return e.err
	}
	e.n++
	if e.buffered >= e.f.rowGroupBytes {
		e.buffered = 0
		if err := e.w.Flush(); err != nil {
			e.err = fmt.Errorf("flush row group: %w", err)
			return e.err
		}
	}
	return nil
}

func (e *ParquetEncoder) fill(event []byte) error {
	root := gjson.Parse(string(event))
	if !root.IsObject() {
		return errors.New("the event is not a JSON object")
	}
	e.top = e.top.read(root)
	var d *doc
	for i, c := range e.f.pq {
		var v gjson.Result
		if c.value.jp == nil {
			v = e.top.value(root, c.value)
		} else {
			if d == nil {
				decoded, err := decodeJSON(event)
				if err != nil {
					return err
				}
				d = &doc{raw: decoded}
			}
			raw, err := e.json.append(nil, c.value.eval(d))
			if err != nil {
				return err
			}
			v = gjson.ParseBytes(raw)
		}
		var val parquet.Value
		var ok bool
		val, e.cells[i], ok = toParquet(c, v, e.cells[i][:0], e.json)
		if !ok {
			e.nulls[i]++
		}
		if val.IsNull() {
			e.row[i] = parquet.Value{}.Level(0, 0, i)
		} else {
			e.row[i] = val.Level(0, 1, i)
		}
		e.buffered += int64(len(e.cells[i])) + 8
	}
	return nil
}

// toParquet converts v for column c, its bytes in cell. ok is false when v
// does not fit the type (the value is then null); null and missing values
// are null and ok.
func toParquet(c pqColumn, v gjson.Result, cell []byte, w *jsonWriter) (parquet.Value, []byte, bool) {
	if v.Type == gjson.Null {
		return parquet.Value{}, cell, true
	}
	switch c.typ {
	case TypeString:
		cell = c.transform.apply(appendRawText(cell, v))
		return parquet.ByteArrayValue(cell), cell, true
	case TypeJSON:
		cell = appendCompact(cell, v.Raw)
		return parquet.ByteArrayValue(cell), cell, true
	case TypeInt64:
		var s string
		switch v.Type {
		case gjson.Number:
			s = v.Raw
		case gjson.String:
			s = strings.TrimSpace(v.Str)
		default:
			return parquet.Value{}, cell, false
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return parquet.Int64Value(n), cell, true
		}
		// 1e3 or 5.0: an integer written otherwise.
		fl, err := strconv.ParseFloat(s, 64)
		if err != nil || fl != math.Trunc(fl) || fl < -(1<<63) || fl >= 1<<63 || math.Abs(fl) > 1<<53 {
			return parquet.Value{}, cell, false
		}
		return parquet.Int64Value(int64(fl)), cell, true
	case TypeDouble:
		var s string
		switch v.Type {
		case gjson.Number:
			s = v.Raw
		case gjson.String:
			s = strings.TrimSpace(v.Str)
		default:
			return parquet.Value{}, cell, false
		}
		fl, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(fl) || math.IsInf(fl, 0) {
			return parquet.Value{}, cell, false
		}
		return parquet.DoubleValue(fl), cell, true
	case TypeBoolean:
		switch {
		case v.Type == gjson.True || v.Type == gjson.String && v.Str == "true":
			return parquet.BooleanValue(true), cell, true
		case v.Type == gjson.False || v.Type == gjson.String && v.Str == "false":
			return parquet.BooleanValue(false), cell, true
		}
		return parquet.Value{}, cell, false
	case TypeTimestamp:
		switch v.Type {
		case gjson.String:
			t, err := time.Parse(time.RFC3339Nano, v.Str)
			if err != nil {
				return parquet.Value{}, cell, false
			}
			return parquet.Int64Value(t.UnixMilli()), cell, true
		case gjson.Number:
			// Unix milliseconds.
			n, err := strconv.ParseInt(v.Raw, 10, 64)
			if err != nil {
				return parquet.Value{}, cell, false
			}
			return parquet.Int64Value(n), cell, true
		}
		return parquet.Value{}, cell, false
	case TypeDate:
		if v.Type != gjson.String {
			return parquet.Value{}, cell, false
		}
		t, err := time.Parse("2006-01-02", v.Str)
		if err != nil {
			if t, err = time.Parse(time.RFC3339Nano, v.Str); err != nil {
				return parquet.Value{}, cell, false
			}
		}
		days := math.Floor(float64(t.UTC().Unix()) / 86400)
		if days < math.MinInt32 || days > math.MaxInt32 {
			return parquet.Value{}, cell, false
		}
		return parquet.Int32Value(int32(days)), cell, true
	}
	return parquet.Value{}, cell, false
}

// Close checks that all declared rows were written and writes the last row
// group and the footer.
func (e *ParquetEncoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.n != e.rows {
		e.err = fmt.Errorf("the file was started for %d rows but got %d", e.rows, e.n)
		return e.err
	}
	if err := e.w.Close(); err != nil {
		e.err = fmt.Errorf("finish parquet file: %w", err)
		return e.err
	}
	e.err = errors.New("the file is closed")
	return nil
}

// Nulls returns, for each column with any, how many values did not fit the
// column's type and were written as null.
func (e *ParquetEncoder) Nulls() []ColumnNulls {
	return e.f.nullsOf(e.nulls)
}

func (f *Format) nullsOf(counts []int) []ColumnNulls {
	var out []ColumnNulls
	for i, n := range counts {
		if n > 0 {
			out = append(out, ColumnNulls{Column: f.pq[i].name, Type: f.pq[i].typ, Count: n})
		}
	}
	return out
}

// NullCounter counts, over a file's events, the values that do not fit
// their parquet column, without writing anything (for a delivery's detail).
type NullCounter struct {
	f      *Format
	counts []int
	cells  [][]byte
	top    members
	json   *jsonWriter
}

// NewNullCounter starts a count for the parquet format f.
func (f *Format) NewNullCounter() *NullCounter {
	return &NullCounter{f: f, counts: make([]int, len(f.pq)), cells: make([][]byte, len(f.pq)), json: newJSONWriter()}
}

// Add counts one event.
func (n *NullCounter) Add(event []byte) error {
	e := ParquetEncoder{f: n.f, row: make(parquet.Row, len(n.f.pq)), cells: n.cells, nulls: n.counts, top: n.top, json: n.json}
	err := e.fill(event)
	n.top = e.top
	return err
}

// Nulls returns the counts so far, as ParquetEncoder.Nulls.
func (n *NullCounter) Nulls() []ColumnNulls { return n.f.nullsOf(n.counts) }

// Table is a parquet file shown as a table: its schema and first rows.
type Table struct {
	Schema []TableColumn `json:"schema"`
	Rows   [][]*string   `json:"rows"`
	// TotalRows is the file's row count; Rows holds at most the limit asked.
	TotalRows int64 `json:"total_rows"`
	// RowGroups is the file's number of row groups.
	RowGroups int `json:"row_groups"`
}

// TableColumn is one column of a parquet file's schema.
type TableColumn struct {
	Name     string `json:"name"`
	Physical string `json:"physical_type"`
	Logical  string `json:"logical_type,omitempty"`
}

// ReadTable reads a parquet file's schema and its first limit rows, each
// value as text (nil for null): timestamps in RFC 3339 UTC with
// milliseconds, dates as YYYY-MM-DD.
func ReadTable(r io.ReaderAt, size int64, limit int) (*Table, error) {
	pf, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("read parquet file: %w", err)
	}
	t := &Table{TotalRows: pf.NumRows(), RowGroups: len(pf.RowGroups())}
	leaves := pf.Schema().Fields()
	for _, fl := range leaves {
		col := TableColumn{Name: fl.Name(), Physical: fl.Type().Kind().String()}
		if lt := fl.Type().LogicalType(); lt != nil {
			col.Logical = lt.String()
		}
		t.Schema = append(t.Schema, col)
	}
	for _, rg := range pf.RowGroups() {
		if len(t.Rows) >= limit {
			break
		}
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for len(t.Rows) < limit {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				if len(t.Rows) >= limit {
					break
				}
				out := make([]*string, len(leaves))
				for _, v := range row {
					if v.IsNull() || v.Column() < 0 || v.Column() >= len(out) {
						continue
					}
					s := cellText(leaves[v.Column()].Type(), v)
					out[v.Column()] = &s
				}
				t.Rows = append(t.Rows, out)
			}
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read parquet rows: %w", err)
			}
		}
		rows.Close()
	}
	return t, nil
}

func cellText(typ parquet.Type, v parquet.Value) string {
	var lv pqformat.LogicalTypeValue
	if lt := typ.LogicalType(); lt != nil {
		lv = lt.Value
	}
	switch lv.(type) {
	case *pqformat.TimestampType:
		return time.UnixMilli(v.Int64()).UTC().Format("2006-01-02T15:04:05.000Z")
	case *pqformat.DateType:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
	}
	switch typ.Kind() {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Double:
		b, _ := json.Marshal(v.Double())
		if v.Double() == 0 && math.Signbit(v.Double()) {
			return "-0"
		}
		return string(b)
	}
	return string(v.ByteArray())
}
