package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/store"
)

// parquetPreviewJSON is a parquet preview as the API answers it.
type parquetPreviewJSON struct {
	Objects []struct {
		Key          string       `json:"key"`
		ContentType  string       `json:"content_type"`
		BodyEncoding string       `json:"body_encoding"`
		Events       int          `json:"events"`
		Warnings     []string     `json:"warnings"`
		Table        format.Table `json:"table"`
		Nulls        []format.ColumnNulls
	} `json:"objects"`
}

// A parquet mapping created by the API gets snappy, hive keys, the
// .parquet extension and Segment's columns with types by name; errors name
// the field; the preview shows the file as a table with its schema and the
// values that did not fit their type.
func TestParquetMappingAPIAndPreview(t *testing.T) {
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "Lake", "format": "parquet"}`)
	if m.Compression != "snappy" || m.KeyPreset != "hive" || m.FileExtension != "parquet" {
		t.Errorf("defaults: compression %q, key preset %q, extension %q; want snappy, hive, parquet", m.Compression, m.KeyPreset, m.FileExtension)
	}
	types := map[string]string{}
	for _, c := range m.Columns {
		types[c.Name] = c.Type
	}
	for name, want := range map[string]string{"timestamp": "timestamp", "properties": "json", "traits": "json", "context": "json", "integrations": "json", "user_id": "string", "message_id": "string"} {
		if types[name] != want {
			t.Errorf("column %s: type %q, want %q", name, types[name], want)
		}
	}
	for _, tt := range []struct{ body, field string }{
		{`{"name": "x", "format": "parquet", "columns": [{"name": "n", "value": "$.n", "type": "integer"}]}`, "columns[0].type"},
		{`{"name": "x", "format": "parquet", "compression": "lz4"}`, "compression"},
		{`{"name": "x", "format": "csv", "compression": "zstd"}`, "compression"},
		{`{"name": "x", "format": "parquet", "columns": [{"name": "n", "value": "$.n", "type": "int64", "hash": "sha256"}]}`, "columns[0].type"},
	} {
		resp, body := r.api(t, http.MethodPost, "", tt.body)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity || got.Error.Field != tt.field {
			t.Errorf("POST %s: %d %s, want an error on %s", tt.body, resp.StatusCode, body, tt.field)
		}
	}
	typed := r.mustCreateMapping(t, `{"name": "Typed", "format": "parquet", "trigger": "type = \"track\"", "columns": [
		{"name": "id", "value": "$.messageId"}, {"name": "n", "value": "$.properties.n", "type": "int64"}, {"name": "at", "value": "$.timestamp", "type": "timestamp"}]}`)
	resp, out := r.api(t, http.MethodPost, "/"+typed.ID+"/preview", `{"events": [
		{"type": "track", "event": "A", "userId": "u", "messageId": "m1", "timestamp": "2024-01-02T03:04:05.678Z", "properties": {"n": 9007199254740993}},
		{"type": "track", "event": "A", "userId": "u", "messageId": "m2", "timestamp": "2024-01-02T03:04:05.678Z", "properties": {"n": "abc"}},
		{"type": "track", "event": "A", "userId": "u", "messageId": "m3", "timestamp": "2024-01-02T03:04:05.678Z", "properties": {"n": 9223372036854775808}}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d %s", resp.StatusCode, out)
	}
	var p parquetPreviewJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Objects) != 1 {
		t.Fatalf("preview %s: %v", out, err)
	}
	o := p.Objects[0]
	if o.ContentType != "application/vnd.apache.parquet" || o.BodyEncoding != "base64" || !strings.HasSuffix(o.Key, ".parquet") || !strings.Contains(o.Key, "/dt=") {
		t.Errorf("object: key %s, content type %s, body encoding %s", o.Key, o.ContentType, o.BodyEncoding)
	}
	wantSchema := []format.TableColumn{{Name: "id", Physical: "BYTE_ARRAY", Logical: "STRING"}, {Name: "n", Physical: "INT64", Logical: "INT(64,true)"},
		{Name: "at", Physical: "INT64", Logical: "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)"}}
	if len(o.Table.Schema) != 3 {
		t.Fatalf("schema %+v", o.Table.Schema)
	}
	for i, c := range wantSchema {
		if o.Table.Schema[i] != c {
			t.Errorf("schema column %d: got %+v, want %+v", i, o.Table.Schema[i], c)
		}
	}
	cell := func(row, col int) string {
		if v := o.Table.Rows[row][col]; v != nil {
			return *v
		}
		return "null"
	}
	if len(o.Table.Rows) != 3 || cell(0, 1) != "9007199254740993" || cell(1, 1) != "null" || cell(2, 1) != "null" || cell(0, 2) != "2024-01-02T03:04:05.678Z" {
		t.Errorf("rows: %s", out)
	}
	if !strings.Contains(strings.Join(o.Warnings, "\n"), "Column n: 2 value(s) did not fit its type int64") {
		t.Errorf("warnings %q, want the two values of n written as null", o.Warnings)
	}
}

// The delivery detail of a parquet file shows its first rows as a table
// with the schema, built from the stored events, and the values of the
// file that were written as null.
func TestParquetDeliveryDetailShowsTable(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	src := e.mustSource(t, "web")
	dest, m := e.mustDestination(t, "Lake", "", src.ID)
	m.Format, m.FileExtension, m.Delimiter, m.Compression, m.KeyPreset = store.FormatParquet, "parquet", "", store.CompressionSnappy, format.PresetHive
	m.Columns = []store.Column{{Name: "message_id", Value: "$.messageId"}, {Name: "user_n", Value: "$.userId", Type: "int64"}}
	m.AudienceActionColumnName, m.BatchSizeColumnName = "", ""
	if err := e.DB.UpdateMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	seqs := e.mustSendTracks(t, src, "p", 3)
	d := mustDelivery(t, e.DB, &store.Delivery{DestinationID: dest.ID, MappingID: m.ID, Key: "raw/dt=2024-01-02/hour=03/file.parquet", Events: 3, CreatedAt: time.Now().UTC()},
		store.StatusDelivered, seqs)
	_, body := c.get("/deliveries/" + d.ID)
	doc := mustDoc(t, body)
	if got := doc.Find(`[data-testid="parquet-row"]`).Length(); got != 3 {
		t.Fatalf("parquet rows: got %d, want 3\n%s", got, doc.Find(`[data-testid="preview"]`).Text())
	}
	if got := doc.Find(`[data-testid="parquet-schema-row"]`).First().Text(); !strings.Contains(got, "message_id") || !strings.Contains(got, "BYTE_ARRAY") || !strings.Contains(got, "STRING") {
		t.Errorf("schema row %q", got)
	}
	if got := doc.Find(`[data-testid="parquet-row"]`).First().Find("td").First().Text(); got != "p-0" {
		t.Errorf("first cell %q, want p-0", got)
	}
	if got := doc.Find(`[data-testid="parquet-warnings"]`).Text(); !strings.Contains(got, "Column user_n: 3 value(s) did not fit its type int64") {
		t.Errorf("warnings %q, want the user ids counted as null in user_n", got)
	}
	token := e.mustToken(t)
	resp, out := e.apiGet(t, "/api/v1/deliveries/"+d.ID, token)
	var detail struct{ Nulls []format.ColumnNulls }
	if err := json.Unmarshal([]byte(out), &detail); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET delivery: %d %s", resp.StatusCode, out)
	}
	if len(detail.Nulls) != 1 || detail.Nulls[0] != (format.ColumnNulls{Column: "user_n", Type: "int64", Count: 3}) {
		t.Errorf("API nulls %+v, want 3 in user_n", detail.Nulls)
	}
}

// The editor saves a column's parquet type from the form, says that big
// integers need string or json, names a bad type's field, and the saved
// mapping's page has a "Query it" box with Athena and DuckDB SQL.
func TestParquetEditorTypesAndQueryIt(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	newPage := r.mappingsPage() + "/new"
	form := editorForm(t, c, newPage)
	form.Set("name", "Lake events")
	form.Set("format", "parquet")
	form.Set("compression", "zstd")
	form.Set("key_preset", "hive")
	form.Set("folder", "lake/")
	form["col_type"][0] = "json"
	resp, body := c.post(r.mappingsPage(), form)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	ms, err := r.DB.ListMappings(context.Background(), r.Dest.ID)
	if err != nil || len(ms) != 1 {
		t.Fatalf("mappings %v %v\n%s", ms, err, mustDoc(t, body).Find(`[role="alert"], .field-error`).Text())
	}
	m := ms[0]
	if m.Format != "parquet" || m.Compression != "zstd" || m.Columns[0].Type != "json" {
		t.Errorf("saved: format %s, compression %s, first column %+v", m.Format, m.Compression, m.Columns[0])
	}
	for _, col := range m.Columns {
		if col.Name == "timestamp" && col.Type != "timestamp" {
			t.Errorf("timestamp column type %q, want timestamp", col.Type)
		}
	}
	editPage := r.mappingsPage() + "/" + m.ID
	_, body = c.get(editPage)
	doc := mustDoc(t, body)
	if help := doc.Find(`[data-testid="column-type-help"]`).Text(); !strings.Contains(help, "need a string or json column") {
		t.Errorf("editor help %q does not say big integers need string or json", help)
	}
	athena := doc.Find(`[data-testid="query-athena"]`).Text()
	for _, want := range []string{"CREATE EXTERNAL TABLE IF NOT EXISTS `s3relay_lake_events`", "`timestamp` timestamp", "`properties` string", "PARTITIONED BY (`dt` string, `hour` int)",
		"STORED AS PARQUET", "LOCATION 's3://events/raw/lake/'", "'projection.enabled' = 'true'", "'storage.location.template' = 's3://events/raw/lake/dt=${dt}/hour=${hour}/'", "'parquet.compression' = 'ZSTD'"} {
		if !strings.Contains(athena, want) {
			t.Errorf("Athena DDL lacks %q:\n%s", want, athena)
		}
	}
	if duck := doc.Find(`[data-testid="query-duckdb"]`).Text(); !strings.Contains(duck, "read_parquet('s3://events/raw/lake/**/*.parquet', hive_partitioning = true)") {
		t.Errorf("DuckDB query %q", duck)
	}
	if got := doc.Find(`[data-testid="parquet-preview"]`).Length(); got == 0 {
		t.Errorf("the editor's preview shows no parquet table")
	}
	form = editorForm(t, c, editPage)
	form["col_type"][1] = "integer"
	resp, body = c.post(editPage, form)
	if got := mustDoc(t, body).Find(`[data-testid="col-type-1-error"]`).Text(); got == "" {
		t.Errorf("bad column type: %d, no error on col-type-1\n%s", resp.StatusCode, mustDoc(t, body).Find(`[role="alert"]`).Text())
	}
}

// A test send of a parquet mapping writes a real .parquet object, with
// parquet's Content-Type, that reads back as one row.
func TestParquetTestSendWritesParquetObject(t *testing.T) {
	r := mustMappingRig(t, true)
	m := r.mustCreateMapping(t, `{"name": "Lake", "format": "parquet", "trigger": "type = \"track\""}`)
	resp, out := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "ts-1", "properties": {"plan": "pro"}}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("test send: %d %s", resp.StatusCode, out)
	}
	var sent struct{ Key, Status string }
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.Status != "delivered" || !strings.HasSuffix(sent.Key, ".parquet") || !strings.Contains(sent.Key, "/dt=") {
		t.Fatalf("test send %s (%v)", out, err)
	}
	head := r.MinIO.MustHeadObject(t, r.Bucket, sent.Key)
	if *head.ContentType != format.ParquetContentType {
		t.Errorf("Content-Type %q", *head.ContentType)
	}
	body := r.MinIO.MustGetObject(t, r.Bucket, sent.Key)
	tbl, err := format.ReadTable(bytes.NewReader(body), int64(len(body)), 10)
	if err != nil || tbl.TotalRows != 1 {
		t.Fatalf("read back: %+v %v", tbl, err)
	}
}

// The new-mapping page started with ?format=parquet has parquet's
// defaults: snappy, hive keys, Segment's columns with their types.
func TestParquetNewMappingPageDefaults(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	form := editorForm(t, c, r.mappingsPage()+"/new?format=parquet")
	if form.Get("format") != "parquet" || form.Get("compression") != "snappy" || form.Get("key_preset") != "hive" {
		t.Errorf("format %q, compression %q, key preset %q; want parquet, snappy, hive", form.Get("format"), form.Get("compression"), form.Get("key_preset"))
	}
	types := form["col_type"]
	names := form["col_name"]
	for i, n := range names {
		if want := format.DefaultColumnType(n); i >= len(types) || types[i] != want {
			t.Errorf("column %s: type %v, want %s", n, types, want)
		}
	}
}
