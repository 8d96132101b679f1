package format_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/s3relay/s3relay/delivery/format"
)

// duck opens an in-memory DuckDB, the independent reader of every parquet
// file the tests write.
func duck(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatalf("open duckdb: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// writeParquet encodes raw events into a parquet file in a temp dir.
func writeParquet(tb testing.TB, f *format.Format, events []string) (string, []format.ColumnNulls) {
	tb.Helper()
	var buf bytes.Buffer
	enc, err := f.NewParquetEncoder(&buf, len(events))
	if err != nil {
		tb.Fatal(err)
	}
	for _, ev := range events {
		if err := enc.EncodeJSON([]byte(ev)); err != nil {
			tb.Fatalf("EncodeJSON(%s): %v", ev, err)
		}
	}
	if err := enc.Close(); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "f.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, enc.Nulls()
}

var typedSpec = format.Spec{Format: format.Parquet, Columns: []format.Column{
	{Name: "s", Value: "$.s", Type: format.TypeString},
	{Name: "i", Value: "$.i", Type: format.TypeInt64},
	{Name: "i_str", Value: "$.i", Type: format.TypeString},
	{Name: "i_json", Value: "$.i", Type: format.TypeJSON},
	{Name: "d", Value: "$.d", Type: format.TypeDouble},
	{Name: "b", Value: "$.b", Type: format.TypeBoolean},
	{Name: "ts", Value: "$.ts", Type: format.TypeTimestamp},
	{Name: "day", Value: "$.day", Type: format.TypeDate},
	{Name: "props", Value: "$.props", Type: format.TypeJSON},
}}

// Every type round-trips through DuckDB: unicode, quotes and newlines in
// strings, 2^53+1 exact in int64, 2^63 null in int64 but exact in string
// and json, -0.0, millisecond timestamps, nulls and missing fields; values
// that do not fit are null and counted per column.
func TestParquetTypesRoundTripDuckDB(t *testing.T) {
	f := MustCompile(t, typedSpec)
	events := []string{
		`{"s":"é 🎉 \"quoted\", a\nnew line","i":9007199254740993,"d":-0.0,"b":true,"ts":"2024-01-02T03:04:05.678Z","day":"2024-02-29","props":{"a":[1,"x"],"q":"\"é\""}}`,
		`{"s":null,"i":9223372036854775808,"d":1.5,"b":false,"ts":"2024-01-02T03:04:05.678901+02:00","day":"2024-03-01T23:00:00Z","props":null}`,
		`{"i":"abc","d":"x","b":"maybe","ts":"not a time","day":5}`,
		`{"i":-9223372036854775808,"d":1e300,"b":"true","ts":1704164645678,"props":"text"}`,
	}
	path, nulls := writeParquet(t, f, events)
	db := duck(t)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, path).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got, want := n, len(events); got != want {
		t.Fatalf("rows: got %d, want %d", got, want)
	}
	rows, err := db.Query(`SELECT s, i, i_str, i_json::VARCHAR, d, b, ts, day, props::VARCHAR FROM read_parquet(?)`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		s, iStr, iJSON, props sql.NullString
		i                     sql.NullInt64
		d                     sql.NullFloat64
		b                     sql.NullBool
		ts, day               sql.NullTime
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.s, &r.i, &r.iStr, &r.iJSON, &r.d, &r.b, &r.ts, &r.day, &r.props); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	str := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	r := got[0]
	if r.s != str("é 🎉 \"quoted\", a\nnew line") {
		t.Errorf("string: got %q", r.s.String)
	}
	if r.i != (sql.NullInt64{Int64: 1<<53 + 1, Valid: true}) {
		t.Errorf("2^53+1 in int64: got %+v", r.i)
	}
	if !r.d.Valid || r.d.Float64 != 0 || !math.Signbit(r.d.Float64) {
		t.Errorf("-0.0: got %+v", r.d)
	}
	if r.b != (sql.NullBool{Bool: true, Valid: true}) {
		t.Errorf("boolean: got %+v", r.b)
	}
	if want := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC); !r.ts.Valid || !r.ts.Time.Equal(want) {
		t.Errorf("timestamp: got %v, want %v", r.ts.Time, want)
	}
	if got, want := r.day.Time.Format("2006-01-02"), "2024-02-29"; got != want {
		t.Errorf("date: got %s, want %s", got, want)
	}
	if r.props != str(`{"a":[1,"x"],"q":"\"é\""}`) {
		t.Errorf("json: got %q", r.props.String)
	}
	r = got[1]
	if r.s.Valid || r.props.Valid {
		t.Errorf("nulls: got %+v %+v, want null", r.s, r.props)
	}
	if r.i.Valid {
		t.Errorf("2^63 in int64: got %d, want null", r.i.Int64)
	}
	if r.iStr != str("9223372036854775808") || r.iJSON != str("9223372036854775808") {
		t.Errorf("2^63 in string and json: got %q, %q", r.iStr.String, r.iJSON.String)
	}
	if want := time.Date(2024, 1, 2, 1, 4, 5, 678e6, time.UTC); !r.ts.Time.Equal(want) {
		t.Errorf("timestamp at millisecond precision in UTC: got %v, want %v", r.ts.Time, want)
	}
	if got, want := r.day.Time.Format("2006-01-02"), "2024-03-01"; got != want {
		t.Errorf("date of a timestamp: got %s, want %s", got, want)
	}
	r = got[2]
	if r.i.Valid || r.d.Valid || r.b.Valid || r.ts.Valid || r.day.Valid || r.s.Valid || r.props.Valid {
		t.Errorf("values that do not fit and missing fields: got %+v, want all null", r)
	}
	r = got[3]
	if r.i.Int64 != math.MinInt64 || r.d.Float64 != 1e300 || !r.b.Bool || r.props != str(`"text"`) {
		t.Errorf("row 4: got %+v", r)
	}
	if want := time.UnixMilli(1704164645678).UTC(); !r.ts.Time.Equal(want) {
		t.Errorf("timestamp from Unix milliseconds: got %v, want %v", r.ts.Time, want)
	}
	wantNulls := []format.ColumnNulls{
		{Column: "i", Type: "int64", Count: 2}, {Column: "d", Type: "double", Count: 1}, {Column: "b", Type: "boolean", Count: 1},
		{Column: "ts", Type: "timestamp", Count: 1}, {Column: "day", Type: "date", Count: 1},
	}
	if got, want := fmt.Sprint(nulls), fmt.Sprint(wantNulls); got != want {
		t.Errorf("null counts: got %s, want %s", got, want)
	}
	counter := f.NewNullCounter()
	for _, ev := range events {
		if err := counter.Add([]byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fmt.Sprint(counter.Nulls()), fmt.Sprint(wantNulls); got != want {
		t.Errorf("NullCounter: got %s, want %s", got, want)
	}
}

// The schema DuckDB reads: the mapping's column order, the logical types
// the issue names (TIMESTAMP(MILLIS, UTC), JSON, DATE), and the
// compression codec inside the file.
func TestParquetSchemaAndCompressionDuckDB(t *testing.T) {
	for _, comp := range []string{"", "snappy", "zstd", "gzip", "none"} {
		t.Run("compression="+comp, func(t *testing.T) {
			spec := typedSpec
			spec.Compression = comp
			f := MustCompile(t, spec)
			if got, want := f.Extension(), "parquet"; got != want {
				t.Errorf("extension: got %s, want %s", got, want)
			}
			if got, want := f.ContentType(), "application/vnd.apache.parquet"; got != want {
				t.Errorf("content type: got %s, want %s", got, want)
			}
			if got := f.ContentEncoding(); got != "" {
				t.Errorf("content encoding: got %q, want none", got)
			}
			path, _ := writeParquet(t, f, []string{`{"s":"a","i":1}`, `{"s":"a","i":2}`})
			db := duck(t)
			rows, err := db.Query(`SELECT name, type, logical_type::VARCHAR FROM parquet_schema(?) WHERE name <> 's3relay'`, path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var name, typ string
				var logical sql.NullString
				if err := rows.Scan(&name, &typ, &logical); err != nil {
					t.Fatal(err)
				}
				got = append(got, name+" "+typ+" "+logical.String)
			}
			rows.Close()
			joined := strings.Join(got, "\n")
			for _, want := range []string{"s BYTE_ARRAY StringType", "i INT64 IntType", "ts INT64 TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=MilliSeconds()", "day INT32 DateType", "props BYTE_ARRAY JsonType"} {
				if !strings.Contains(joined, want) {
					t.Errorf("schema: got\n%s\nwant a line with %q", joined, want)
				}
			}
			if got[0][:2] != "s " || !strings.HasPrefix(got[len(got)-1], "props ") {
				t.Errorf("column order: got %v, want the mapping's", got)
			}
			var codec string
			var minS, maxS sql.NullString
			var encodings string
			if err := db.QueryRow(`SELECT compression, stats_min_value, stats_max_value, encodings FROM parquet_metadata(?) WHERE path_in_schema = 'i'`, path).Scan(&codec, &minS, &maxS, &encodings); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"": "SNAPPY", "snappy": "SNAPPY", "zstd": "ZSTD", "gzip": "GZIP", "none": "UNCOMPRESSED"}[comp]
			if codec != want {
				t.Errorf("codec: got %s, want %s", codec, want)
			}
			if minS.String != "1" || maxS.String != "2" {
				t.Errorf("statistics of i: got min %q max %q, want 1 and 2", minS.String, maxS.String)
			}
			if err := db.QueryRow(`SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 's'`, path).Scan(&encodings); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(encodings, "DICTIONARY") {
				t.Errorf("encodings of a low-cardinality string: got %s, want dictionary", encodings)
			}
		})
	}
}

// Segment's default columns get types by name: timestamp a timestamp,
// properties, traits, context and integrations json, the rest strings.
func TestParquetDefaultColumnTypes(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.Parquet, Columns: format.DefaultColumns()})
	path, _ := writeParquet(t, f, []string{`{"type":"track","event":"A","userId":"u","messageId":"m","timestamp":"2024-01-02T03:04:05.678Z","properties":{"x":1},"context":{"traits":{"email":"a@b"}}}`})
	tbl, err := readTable(t, path)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, c := range tbl.Schema {
		types[c.Name] = c.Physical + " " + c.Logical
	}
	want := map[string]string{"timestamp": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)", "properties": "BYTE_ARRAY JSON",
		"traits": "BYTE_ARRAY JSON", "context": "BYTE_ARRAY JSON", "integrations": "BYTE_ARRAY JSON", "user_id": "BYTE_ARRAY STRING", "email": "BYTE_ARRAY STRING"}
	for name, w := range want {
		if types[name] != w {
			t.Errorf("%s: got %q, want %q", name, types[name], w)
		}
	}
	if got, want := *tbl.Rows[0][8], "2024-01-02T03:04:05.678Z"; got != want {
		t.Errorf("timestamp cell: got %s, want %s", got, want)
	}
	if got, want := *tbl.Rows[0][4], "a@b"; got != want {
		t.Errorf("email cell: got %s, want %s", got, want)
	}
}

func readTable(t *testing.T, path string) (*format.Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return format.ReadTable(bytes.NewReader(b), int64(len(b)), 10)
}

// Validation names the field: an unknown type, a transform on a typed
// column, a compression or extension parquet does not take.
func TestParquetCompileErrors(t *testing.T) {
	tests := []struct {
		spec  format.Spec
		field string
	}{
		{format.Spec{Format: "parquet", Columns: []format.Column{{Name: "a", Value: "$.a", Type: "integer"}}}, "columns[0].type"},
		{format.Spec{Format: "parquet", Columns: []format.Column{{Name: "a", Value: "$.a", Type: "int64", Hash: "sha256"}}}, "columns[0].type"},
		{format.Spec{Format: "parquet", Columns: []format.Column{{Name: "a", Value: "$.a"}, {Name: "a", Value: "$.b"}}}, "columns[1].name"},
		{format.Spec{Format: "parquet", Compression: "lz4", Columns: []format.Column{{Name: "a", Value: "$.a"}}}, "compression"},
		{format.Spec{Format: "parquet", FileExtension: "parquet.gz", Columns: []format.Column{{Name: "a", Value: "$.a"}}}, "file_extension"},
		{format.Spec{Format: "csv", Compression: "snappy", Columns: []format.Column{{Name: "a", Value: "$.a"}}}, "compression"},
	}
	for _, tt := range tests {
		_, err := format.Compile(tt.spec)
		var fe *format.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Compile(%+v): got %v, want an error on %s", tt.spec, err, tt.field)
		}
	}
}

// A large file is written in several row groups, and the live heap stays
// at a small multiple of one row group: rows stream through the encoder.
func TestParquetRowGroupsBoundMemory(t *testing.T) {
	const rowGroup = 2 << 20
	spec := format.Spec{Format: format.Parquet, Columns: format.DefaultColumns(), RowGroupBytes: rowGroup}
	f := MustCompile(t, spec)
	const rows = 60000
	path := filepath.Join(t.TempDir(), "big.parquet")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	enc, err := f.NewParquetEncoder(out, rows)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	pad := strings.Repeat("x", 300)
	for i := 0; i < rows; i++ {
		ev := fmt.Sprintf(`{"type":"track","event":"E%d","userId":"user-%d","messageId":"msg-%08d","timestamp":"2024-01-02T03:04:05.678Z","properties":{"n":%d,"pad":"%s-%d"}}`, i%7, i%1000, i, i, pad, i)
		if err := enc.EncodeJSON([]byte(ev)); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 0 {
			// The live heap: what the encoder holds, not garbage a later GC
			// would take.
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := out.Stat()
	growth := int64(peak) - int64(base.HeapInuse)
	if limit := int64(8 * rowGroup); growth > limit {
		t.Errorf("heap grew by %d bytes writing a %d-byte file; want at most %d (8 row groups)", growth, st.Size(), limit)
	}
	db := duck(t)
	var n, groups int
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, path).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)`, path).Scan(&groups); err != nil {
		t.Fatal(err)
	}
	if n != rows || groups < 5 {
		t.Errorf("got %d rows in %d row groups, want %d rows in several", n, groups, rows)
	}
	t.Logf("%d rows, %d bytes, %d row groups, heap growth %d", n, st.Size(), groups, growth)
}

// BenchmarkEncodeParquet encodes 1,000-event files of the end-to-end
// benchmark's events, as parquet and as csv for comparison.
func BenchmarkEncodeParquet(b *testing.B) {
	cols := []format.Column{{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "user_id", Value: "$.userId"},
		{Name: "properties", Value: "$.properties"}, {Name: "timestamp", Value: "$.timestamp"}}
	events := make([][]byte, 1000)
	for k := range events {
		events[k] = []byte(fmt.Sprintf(`{"type":"track","messageId":"b-%d-%d","userId":"user-%d","event":"Order Completed","properties":{"order":"o-%d","total":%d.5,"currency":"EUR"},"timestamp":"2026-03-01T12:00:00.%03dZ","context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`, k/100, k%100, k%97, k, k%100, k%1000))
	}
	for _, name := range []string{"parquet", "csv"} {
		b.Run(name, func(b *testing.B) {
			f := MustCompile(b, format.Spec{Format: name, Columns: cols})
			var size int
			for i := 0; i < b.N; i++ {
				var buf bytes.Buffer
				enc, err := f.NewFileEncoder(&buf, len(events))
				if err != nil {
					b.Fatal(err)
				}
				for _, ev := range events {
					if err := enc.EncodeJSON(ev); err != nil {
						b.Fatal(err)
					}
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
				size = buf.Len()
			}
			b.ReportMetric(float64(size)/float64(len(events)), "bytes/event")
		})
	}
}

// A file is a function of its events: the same events give the same bytes,
// so a file rebuilt after SIGKILL or for a retry is the one already written.
func TestParquetIsDeterministic(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.Parquet, Columns: format.DefaultColumns()})
	events := []string{`{"type":"track","event":"A","userId":"u","messageId":"m1","timestamp":"2024-01-02T03:04:05.678Z","properties":{"x":1}}`,
		`{"type":"identify","userId":"v","messageId":"m2","traits":{"email":"a@b"}}`}
	a, _ := writeParquet(t, f, events)
	b, _ := writeParquet(t, f, events)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Errorf("two encodings of the same events differ (%d and %d bytes)", len(ab), len(bb))
	}
}
