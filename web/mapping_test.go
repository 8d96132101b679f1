package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// mappingRig is a server with an API token, a source and a destination
// that writes to a bucket: a real MinIO one when asked for, otherwise an
// address nothing listens on (enough for what never uploads).
type mappingRig struct {
	*env
	Token  string
	MinIO  *miniotest.Server
	Bucket string
	Source *store.Source
	Dest   *store.Destination
}

func mustMappingRig(tb testing.TB, withS3 bool, opts ...envOptions) *mappingRig {
	tb.Helper()
	e := MustEnv(tb, opts...)
	r := &mappingRig{env: e, Token: e.mustToken(tb), Bucket: "events", Source: e.mustSource(tb, "web")}
	cfg := store.DestinationConfig{Bucket: r.Bucket, Region: "us-east-1", Auth: store.AuthKeys,
		Endpoint: "http://127.0.0.1:9", ForcePathStyle: true, PathPrefix: "raw/"}
	creds := store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "not-used"}
	if withS3 {
		r.MinIO = miniotest.Start(tb)
		miniotest.IsolateAWSEnv(tb)
		r.MinIO.MustCreateBucket(tb, r.Bucket)
		cfg.Region, cfg.Endpoint = r.MinIO.Region, r.MinIO.Endpoint
		creds = store.Credentials{Key: r.MinIO.AccessKey, Secret: r.MinIO.SecretKey}
	}
	r.Dest = &store.Destination{Name: "warehouse", Enabled: true, SourceIDs: []string{r.Source.ID}, Config: cfg, Credentials: creds}
	if err := e.DB.CreateDestination(context.Background(), r.Dest); err != nil {
		tb.Fatal(err)
	}
	return r
}

// api calls the management API under the destination's mappings.
func (r *mappingRig) api(tb testing.TB, method, path, body string) (*http.Response, string) {
	tb.Helper()
	return r.apiRequest(tb, method, "/api/v1/destinations/"+r.Dest.ID+"/mappings"+path, r.Token, body)
}

// mappingJSON is a mapping as the API answers it.
type mappingJSON struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Enabled                  bool           `json:"enabled"`
	Trigger                  string         `json:"trigger"`
	Format                   string         `json:"format"`
	Columns                  []store.Column `json:"columns"`
	Delimiter                string         `json:"delimiter"`
	FileExtension            string         `json:"file_extension"`
	Compression              string         `json:"compression"`
	KeyPreset                string         `json:"key_preset"`
	Folder                   string         `json:"folder"`
	FilenamePrefix           string         `json:"filename_prefix"`
	KeyTemplate              string         `json:"key_template"`
	BatchSize                int            `json:"batch_size"`
	BatchMaxBytes            int64          `json:"batch_max_bytes"`
	BatchMaxAgeSeconds       int            `json:"batch_max_age_seconds"`
	BatchSizeColumnName      string         `json:"batch_size_column_name"`
	AudienceActionColumnName string         `json:"audience_action_column_name"`
	PartitionTime            string         `json:"partition_time"`
	PartitionWindowHours     int            `json:"partition_window_hours"`
}

// mustMappingJSON decodes a mapping and checks it has exactly the fields of
// CONTRACT §4 plus key_preset.
func mustMappingJSON(tb testing.TB, body string) mappingJSON {
	tb.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	want := []string{"id", "name", "enabled", "trigger", "format", "columns", "delimiter", "file_extension", "compression",
		"key_preset", "folder", "filename_prefix", "key_template", "batch_size", "batch_max_bytes", "batch_max_age_seconds",
		"batch_size_column_name", "audience_action_column_name", "partition_time", "partition_window_hours"}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		tb.Errorf("mapping fields = %v, want %v", got, want)
	}
	var m mappingJSON
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func (r *mappingRig) mustCreateMapping(tb testing.TB, body string) mappingJSON {
	tb.Helper()
	resp, out := r.api(tb, http.MethodPost, "", body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("create mapping %s: %d %s", body, resp.StatusCode, out)
	}
	return mustMappingJSON(tb, out)
}

func TestMappingAPICRUD(t *testing.T) {
	r := mustMappingRig(t, false)
	created := r.mustCreateMapping(t, `{"name": "  Tracks and identifies "}`)
	// A mapping that names only itself gets Segment's S3 (Actions) defaults.
	wantCols := format.DefaultColumns()
	if len(created.Columns) != len(wantCols) {
		t.Fatalf("default columns = %v, want Segment's %d", created.Columns, len(wantCols))
	}
	for i, c := range wantCols {
		if got := created.Columns[i]; got.Name != c.Name || got.Value != c.Value {
			t.Errorf("column %d = %+v, want %+v", i, got, c)
		}
	}
	want := mappingJSON{ID: created.ID, Name: "Tracks and identifies", Enabled: true, Trigger: store.DefaultTrigger, Format: "csv",
		Columns: created.Columns, Delimiter: ",", FileExtension: "csv", Compression: "none", KeyPreset: "segment_actions",
		BatchSize: store.DefaultBatchSize, BatchMaxBytes: store.DefaultBatchMaxBytes, BatchMaxAgeSeconds: store.DefaultBatchMaxAge,
		BatchSizeColumnName: "batch_size", AudienceActionColumnName: "audience_action",
		PartitionTime: store.PartitionTimeReceived, PartitionWindowHours: store.DefaultPartitionWindowHours}
	if !strings.HasPrefix(created.ID, "map") || !mappingEqual(created, want) {
		t.Errorf("created = %+v\nwant %+v", created, want)
	}

	resp, body := r.api(t, http.MethodGet, "/"+created.ID, "")
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || !mappingEqual(got, want) {
		t.Errorf("GET = %d %+v, want %+v", resp.StatusCode, got, want)
	}

	patch := `{"name": "Raw events", "format": "jsonl", "compression": "gzip", "columns": [], "key_preset": "hive",
		"folder": "logs", "trigger": "type = \"track\" and properties.total > 100", "enabled": false, "batch_size": 10}`
	resp, body = r.api(t, http.MethodPatch, "/"+created.ID, patch)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	want.Name, want.Format, want.Compression, want.Columns, want.KeyPreset = "Raw events", "jsonl", "gzip", []store.Column{}, "hive"
	want.FileExtension = "jsonl" // a new format brings its own extension
	want.Folder, want.Trigger, want.Enabled, want.BatchSize = "logs", `type = "track" and properties.total > 100`, false, 10
	if got := mustMappingJSON(t, body); !mappingEqual(got, want) {
		t.Errorf("PATCH answered %+v\nwant %+v", got, want)
	}

	resp, body = r.api(t, http.MethodPatch, "/"+created.ID, `{"format": "json", "trigger": "topic = \"order.created\""}`)
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || got.KeyPreset != "" || got.FileExtension != "json" {
		t.Errorf("PATCH to json = %d %+v, want no key preset and the json extension", resp.StatusCode, got)
	}
	resp, _ = r.api(t, http.MethodPatch, "/"+created.ID, patch)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH back: %d", resp.StatusCode)
	}

	second := r.mustCreateMapping(t, `{"name": "Orders", "format": "json", "trigger": "topic = \"order.created\""}`)
	if second.KeyPreset != "" || len(second.Columns) != 0 || second.BatchSizeColumnName != "" {
		t.Errorf("json mapping = %+v, want no key preset, columns or extra column names", second)
	}
	resp, body = r.api(t, http.MethodGet, "", "")
	var list struct {
		Data []json.RawMessage `json:"data"`
		Next *string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK || list.Next == nil || *list.Next != "" {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var names []string
	for _, raw := range list.Data {
		names = append(names, mustMappingJSON(t, string(raw)).Name)
	}
	if !slices.Equal(names, []string{"Raw events", "Orders"}) {
		t.Errorf("list names = %v, want [Raw events Orders] in creation order", names)
	}

	resp, body = r.api(t, http.MethodDelete, "/"+created.ID, "")
	if resp.StatusCode != http.StatusNoContent || body != "" {
		t.Errorf("DELETE = %d %q, want 204 and no body", resp.StatusCode, body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		resp, body = r.api(t, method, "/"+created.ID, "")
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusNotFound || got.Error.Code != "not_found" {
			t.Errorf("%s deleted mapping = %d %+v, want 404 not_found", method, resp.StatusCode, got.Error)
		}
	}
	resp, body = r.apiRequest(t, http.MethodGet, "/api/v1/destinations/dst_nope/mappings", r.Token, "")
	if got := mustAPIError(t, body); resp.StatusCode != http.StatusNotFound || got.Error.Code != "not_found" {
		t.Errorf("mappings of an unknown destination = %d %+v, want 404", resp.StatusCode, got.Error)
	}
	resp, _ = r.apiRequest(t, http.MethodGet, "/api/v1/destinations/"+r.Dest.ID+"/mappings", "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
}

func mappingEqual(a, b mappingJSON) bool {
	return reflect.DeepEqual(a, b)
}

func TestMappingAPIValidation(t *testing.T) {
	r := mustMappingRig(t, false)
	existing := r.mustCreateMapping(t, `{"name": "base"}`)
	tests := []struct {
		name, method, body string
		status             int
		field              string
		// message holds what the message must contain.
		message string
	}{
		{"trigger syntax", "POST", `{"name": "x", "trigger": "type = \"track\" and"}`, 400, "trigger", "column 19"},
		{"trigger on a later line", "POST", `{"name": "x", "trigger": "type = \"track\"\nor event ="}`, 400, "trigger", "line 2, column 11"},
		{"trigger unknown operator", "POST", `{"name": "x", "trigger": "event ~ \"a\""}`, 400, "trigger", "column 7"},
		{"bad column value", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a"}, {"name": "b", "value": "$.b"}, {"name": "c", "value": "to_string("}]}`, 400, "columns[2].value", "Column 3 value"},
		{"repeated column name", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a"}, {"name": "a", "value": "$.b"}]}`, 400, "columns[1].name", "columns[0].name"},
		{"bad transform", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a", "transform": "md5"}]}`, 400, "columns[0].transform", "sha256"},
		{"bad normalize", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a", "normalize": "upper"}]}`, 400, "columns[0].normalize", "lowercase_trim"},
		{"bad hash", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a", "hash": "md5"}]}`, 400, "columns[0].hash", "none or sha256"},
		{"transform and hash", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a", "transform": "sha256", "hash": "sha256"}]}`, 400, "columns[0].transform", "not both"},
		{"delimiter in a column name", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a"}, {"name": "b,c", "value": "$.b"}]}`, 400, "columns[1].name",
			"Column names cannot contain the delimiter ',': a reader would split this header into two columns. Segment silently removes the first ','; rename the column."},
		{"patch delimiter in a column name", "PATCH", `{"delimiter": "|", "columns": [{"name": "a|b", "value": "$.a"}]}`, 400, "columns[0].name", "delimiter '|'"},
		{"only blank columns", "POST", `{"name": "x", "columns": [{"name": "a", "value": " "}]}`, 400, "columns", "at least one"},
		{"bad delimiter", "POST", `{"name": "x", "delimiter": "\\t"}`, 400, "delimiter", "tab"},
		{"unknown key token", "POST", `{"name": "x", "key_preset": "custom", "key_template": "e/{date}/{nope}_{suffix}.{ext}"}`, 400, "key_template", "{nope}"},
		{"key template that can collide", "POST", `{"name": "x", "key_preset": "custom", "key_template": "e/{date}.{ext}"}`, 400, "key_template", "{suffix}"},
		{"double slash in folder", "POST", `{"name": "x", "folder": "a//b"}`, 400, "folder", "//"},
		{"classic layout needs gzip", "POST", `{"name": "x", "key_preset": "segment_classic"}`, 400, "compression", "gzip"},
		{"unknown key preset", "POST", `{"name": "x", "format": "json", "key_preset": "daily"}`, 400, "key_preset", "segment_actions"},
		{"bad json key template", "POST", `{"name": "x", "format": "json", "key_template": "join(''"}`, 400, "key_template", ""},
		{"unknown format", "POST", `{"name": "x", "format": "xml"}`, 400, "format", "csv"},
		{"no name", "POST", `{"trigger": "type = \"track\""}`, 400, "name", "Name"},
		{"batch size", "POST", `{"name": "x", "batch_size": 100001}`, 400, "batch_size", ""},
		{"batch bytes", "POST", `{"name": "x", "batch_max_bytes": 10}`, 400, "batch_max_bytes", ""},
		{"unknown field", "POST", `{"name": "x", "colour": "red"}`, 400, "colour", "Unknown field"},
		{"unknown column field", "POST", `{"name": "x", "columns": [{"name": "a", "value": "$.a", "kind": "string"}]}`, 400, "kind", "Unknown field"},
		{"wrong type", "POST", `{"name": "x", "batch_size": "ten"}`, 400, "batch_size", "number"},
		{"id on create", "POST", `{"id": "map_mine", "name": "x"}`, 400, "id", ""},
		{"patch trigger syntax", "PATCH", `{"trigger": "(type = \"track\""}`, 400, "trigger", "column"},
		{"patch changes id", "PATCH", `{"id": "map_other"}`, 400, "id", ""},
		{"patch unknown field", "PATCH", `{"nme": "x"}`, 400, "nme", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.method == "PATCH" {
				path = "/" + existing.ID
			}
			resp, body := r.api(t, tt.method, path, tt.body)
			got := mustAPIError(t, body)
			t.Logf("%s: %s", got.Error.Field, got.Error.Message)
			if resp.StatusCode != tt.status || got.Error.Code != "invalid" {
				t.Fatalf("status %d code %q, want %d invalid (%s)", resp.StatusCode, got.Error.Code, tt.status, body)
			}
			if tt.field != "" && got.Error.Field != tt.field {
				t.Errorf("field = %q, want %q (%s)", got.Error.Field, tt.field, got.Error.Message)
			}
			if !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("message %q lacks %q", got.Error.Message, tt.message)
			}
		})
	}
	// Nothing invalid was stored, and the failed PATCHes changed nothing.
	resp, body := r.api(t, http.MethodGet, "", "")
	if n := strings.Count(body, `"id"`); resp.StatusCode != 200 || n != 1 {
		t.Errorf("after the invalid requests the list holds %d mappings: %s", n, body)
	}
	resp, body = r.api(t, http.MethodGet, "/"+existing.ID, "")
	if got := mustMappingJSON(t, body); resp.StatusCode != 200 || !mappingEqual(got, existing) {
		t.Errorf("after failed PATCHes: %+v, want %+v", got, existing)
	}
}

func TestMappingAPILimit(t *testing.T) {
	r := mustMappingRig(t, false)
	for i := range store.MaxMappings {
		r.mustCreateMapping(t, fmt.Sprintf(`{"name": "m%d"}`, i))
	}
	resp, body := r.api(t, http.MethodPost, "", `{"name": "one too many"}`)
	if got := mustAPIError(t, body); resp.StatusCode != http.StatusUnprocessableEntity || got.Error.Code != "limit" {
		t.Errorf("51st mapping = %d %+v, want 422 limit", resp.StatusCode, got.Error)
	}
	// An invalid 51st mapping is still told what is wrong with it first.
	resp, body = r.api(t, http.MethodPost, "", `{"name": "x", "trigger": "type ="}`)
	if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest || got.Error.Field != "trigger" {
		t.Errorf("invalid 51st mapping = %d %+v, want 400 trigger", resp.StatusCode, got.Error)
	}
}

// previewJSON is the preview route's answer.
type previewJSON struct {
	Objects []struct {
		Key             string            `json:"key"`
		ContentType     string            `json:"content_type"`
		ContentEncoding string            `json:"content_encoding"`
		Body            string            `json:"body"`
		BodyEncoding    string            `json:"body_encoding"`
		Metadata        map[string]string `json:"metadata"`
		Events          int               `json:"events"`
		Warnings        []string          `json:"warnings"`
	} `json:"objects"`
	Samples string `json:"samples"`
}

func (r *mappingRig) mustPreview(tb testing.TB, mappingID, body string) previewJSON {
	tb.Helper()
	resp, out := r.api(tb, http.MethodPost, "/"+mappingID+"/preview", body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("preview: %d %s", resp.StatusCode, out)
	}
	var p previewJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Objects == nil {
		tb.Fatalf("preview body %s: %v", out, err)
	}
	return p
}

// bytesOf returns a preview object's exact bytes.
func bytesOf(tb testing.TB, p previewJSON, i int) []byte {
	tb.Helper()
	o := p.Objects[i]
	if o.BodyEncoding == "" {
		return []byte(o.Body)
	}
	if o.BodyEncoding != "base64" {
		tb.Fatalf("body_encoding %q", o.BodyEncoding)
	}
	b, err := base64.StdEncoding.DecodeString(o.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const trickyTrack = `{"type": "track", "event": "Order \"Completed\"", "userId": "u1", "messageId": "m-1",
	"timestamp": "2024-05-14T09:30:12.345Z", "properties": {"total": 9007199254740993, "note": "a,b|c\nd", "emoji": "🦄"},
	"context": {"traits": {"email": "ADA@example.com"}}}`

func TestMappingPreviewWritesNothing(t *testing.T) {
	r := mustMappingRig(t, true)
	m := r.mustCreateMapping(t, `{"name": "csv"}`)
	p := r.mustPreview(t, m.ID, `{"events": [`+trickyTrack+`, {"type": "page", "userId": "u1", "name": "Home"}]}`)
	if p.Samples != "request" || len(p.Objects) != 1 {
		t.Fatalf("preview = %+v, want one file (the page is not in the trigger)", p)
	}
	o := p.Objects[0]
	header := "event_name,event_type,user_id,anonymous_id,email,properties,traits,context,timestamp,message_id,integrations,audience_name,audience_id,audience_space_id,audience_action,batch_size\n"
	// Nested objects keep the sender's key order, without white space.
	row := `"Order ""Completed""","track","u1","","ADA@example.com","{""total"":9007199254740993,""note"":""a,b|c\nd"",""emoji"":""🦄""}","{""email"":""ADA@example.com""}","{""traits"":{""email"":""ADA@example.com""}}","2024-05-14T09:30:12.345Z","m-1","","","","","","1"`
	if o.Body != header+row {
		t.Errorf("body =\n%s\nwant\n%s", o.Body, header+row)
	}
	if o.ContentType != "text/csv" || o.Events != 1 || !strings.HasPrefix(o.Key, "raw/") || !strings.HasSuffix(o.Key, ".csv") {
		t.Errorf("object = %+v, want a text/csv file of 1 event under raw/", o)
	}

	// Without events, the preview uses samples: built-in ones until the
	// destination's sources receive events, then those.
	p = r.mustPreview(t, m.ID, `{}`)
	if p.Samples != "builtin" || len(p.Objects) != 2 {
		t.Errorf("preview without events: samples %q, %d files; want builtin and 2 (track, identify)", p.Samples, len(p.Objects))
	}
	resp, body := r.ingest(t, "/v1/track", r.Source.WriteKey, []byte(`{"event": "Signed Up", "userId": "u9"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
	p = r.mustPreview(t, m.ID, `{"events": []}`)
	if p.Samples != "recent" || len(p.Objects) != 1 || !strings.Contains(p.Objects[0].Body, `"Signed Up"`) {
		t.Errorf("preview after an event arrived = %+v, want that event", p)
	}

	for _, bad := range []string{`{"events": [1]}`, `{"events": {}}`, `{"event": {}}`} {
		resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/preview", bad)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("preview %s = %d %+v, want 400", bad, resp.StatusCode, got.Error)
		}
	}
	if keys := r.MinIO.MustListKeys(t, r.Bucket, ""); len(keys) != 0 {
		t.Errorf("the bucket holds %v after previews, want nothing", keys)
	}
	ds, _, err := r.DB.ListDeliveries(context.Background(), store.DeliveryFilter{DestinationID: r.Dest.ID})
	if err != nil || len(ds) != 0 {
		t.Errorf("deliveries after previews: %d (%v), want none", len(ds), err)
	}
}

func TestMappingTestSendWritesThePreviewedBytes(t *testing.T) {
	r := mustMappingRig(t, true)
	publish := `{"id": "evt-1", "topic": "order.created", "time": "2024-05-14T09:31:00Z", "data": {"order": 7, "note": "ünïcode"}, "metadata": {"tenant": "t1"}}`
	tests := []struct {
		name, mapping, event string
		contentType          string
		gzip                 bool
	}{
		{"csv", `{"name": "csv", "delimiter": "|"}`, trickyTrack, "text/csv", false},
		{"jsonl gzip", `{"name": "jsonl", "format": "jsonl", "compression": "gzip", "key_preset": "hive", "folder": "logs"}`, trickyTrack, "text/plain", true},
		{"json", `{"name": "json", "format": "json", "trigger": "topic = \"order.created\""}`, publish, "application/json", false},
		{"txt custom key", `{"name": "txt", "format": "txt", "key_preset": "custom", "key_template": "t/{date}/{type}/{file_id}.{ext}", "columns": [{"name": "email", "value": "$.context.traits.email", "transform": "normalize"}]}`, trickyTrack, "text/plain", false},
		{"csv column transforms", `{"name": "transforms", "columns": [{"name": "email", "value": "$.context.traits.email", "normalize": "lowercase_trim", "hash": "sha256"}, {"name": "event", "value": "event", "normalize": "lowercase"}, {"name": "id", "value": "$.messageId", "normalize": "trim", "hash": "sha256"}]}`, trickyTrack, "text/csv", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := r.mustCreateMapping(t, tt.mapping)
			p := r.mustPreview(t, m.ID, `{"events": [`+tt.event+`]}`)
			if len(p.Objects) != 1 {
				t.Fatalf("preview: %d objects, want 1", len(p.Objects))
			}
			want := bytesOf(t, p, 0)
			resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": `+tt.event+`}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("test-send: %d %s", resp.StatusCode, body)
			}
			var sent struct {
				DeliveryID string `json:"delivery_id"`
				Key        string `json:"key"`
				Status     string `json:"status"`
			}
			if err := json.Unmarshal([]byte(body), &sent); err != nil || sent.Status != "delivered" || sent.DeliveryID == "" || !strings.HasPrefix(sent.Key, "raw/") {
				t.Fatalf("test-send answered %s, want a delivered object under raw/", body)
			}
			got := r.MinIO.MustGetObject(t, r.Bucket, sent.Key)
			if !bytes.Equal(got, want) {
				t.Errorf("object bytes =\n%q\npreview body =\n%q", got, want)
			}
			head := r.MinIO.MustHeadObject(t, r.Bucket, sent.Key)
			if ct := derefString(head.ContentType); ct != tt.contentType && !strings.HasPrefix(ct, tt.contentType+";") {
				t.Errorf("Content-Type = %q, want %q", ct, tt.contentType)
			}
			if tt.gzip {
				if p.Objects[0].ContentEncoding != "gzip" || derefString(head.ContentEncoding) != "gzip" {
					t.Errorf("Content-Encoding: preview %q, object %q, want gzip", p.Objects[0].ContentEncoding, derefString(head.ContentEncoding))
				}
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if text, _ := io.ReadAll(zr); !strings.Contains(string(text), `"messageId":"m-1"`) {
					t.Errorf("decompressed object %q lacks the event", text)
				}
			}
			d, _, err := r.DB.DeliveryByID(context.Background(), sent.DeliveryID)
			if err != nil || !d.Test || d.Status != store.StatusDelivered || d.MappingID != m.ID || d.Key != sent.Key {
				t.Errorf("delivery = %+v (%v), want a delivered test delivery of the mapping", d, err)
			}
		})
	}

	// Without an event, the first sample the trigger accepts is sent: here
	// the built-in track sample, since the source has received nothing.
	m := r.mustCreateMapping(t, `{"name": "tracks", "trigger": "type = \"track\""}`)
	resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"delivered"`) {
		t.Fatalf("test-send without an event: %d %s", resp.StatusCode, body)
	}
	var sent struct{ Key string }
	json.Unmarshal([]byte(body), &sent)
	if obj := r.MinIO.MustGetObject(t, r.Bucket, sent.Key); !bytes.Contains(obj, []byte(`"Order Completed","track"`)) {
		t.Errorf("sample object %q, want the built-in track sample", obj)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"event": {"type": "identify", "userId": "u1"}}`, "event"},
		{`{"event": [1]}`, "event"},
		{`{"evnt": {}}`, "evnt"},
	} {
		resp, body := r.api(t, http.MethodPost, "/"+m.ID+"/test-send", tt.body)
		if got := mustAPIError(t, body); resp.StatusCode != http.StatusBadRequest || got.Error.Field != tt.field {
			t.Errorf("test-send %s = %d %+v, want 400 on %s", tt.body, resp.StatusCode, got.Error, tt.field)
		}
	}
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// editorForm is the editor form of a fresh page, as a browser would post it.
func editorForm(tb testing.TB, c *client, page string) url.Values {
	tb.Helper()
	resp, body := c.get(page)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d", page, resp.StatusCode)
	}
	doc := mustDoc(tb, body)
	form := url.Values{}
	doc.Find(`form[data-testid="mapping-form"]`).Find("input, select, textarea").Each(func(_ int, s *goquery.Selection) {
		name, ok := s.Attr("name")
		if !ok || name == "" {
			return
		}
		switch {
		case s.Is(`input[type="checkbox"]`):
			if _, on := s.Attr("checked"); on {
				form.Add(name, "on")
			}
		case s.Is("select"):
			v, ok := s.Find("option[selected]").Attr("value")
			if !ok {
				v, _ = s.Find("option").First().Attr("value")
			}
			form.Add(name, v)
		case s.Is("textarea"):
			form.Add(name, s.Text())
		default:
			v, _ := s.Attr("value")
			form.Add(name, v)
		}
	})
	return form
}

func (r *mappingRig) mappingsPage() string { return "/destinations/" + r.Dest.ID + "/mappings" }

// mustSignedIn returns a dashboard client signed in as the administrator.
func (r *mappingRig) mustSignedIn(tb testing.TB) *client {
	tb.Helper()
	c := r.client(tb)
	c.login(adminEmail, adminPassword)
	return c
}

// values returns the values of every input named name, in page order.
func values(doc *goquery.Document, name string) []string {
	var out []string
	doc.Find(`[name="` + name + `"]`).Each(func(_ int, s *goquery.Selection) {
		if s.Is("textarea") {
			out = append(out, s.Text())
			return
		}
		if s.Is("select") {
			v, _ := s.Find("option[selected]").Attr("value")
			out = append(out, v)
			return
		}
		v, _ := s.Attr("value")
		out = append(out, v)
	})
	return out
}

// checkLabels fails for every visible field of doc without its <label for>.
func checkLabels(t *testing.T, page string, doc *goquery.Document) {
	t.Helper()
	labelled := map[string]int{}
	doc.Find("label[for]").Each(func(_ int, s *goquery.Selection) { labelled[s.AttrOr("for", "")]++ })
	doc.Find("input:not([type=hidden]), select, textarea").Each(func(_ int, s *goquery.Selection) {
		if id := s.AttrOr("id", ""); id == "" || labelled[id] != 1 {
			t.Errorf("%s: field %q (name %q) has no single <label for>", page, id, s.AttrOr("name", ""))
		}
	})
}

func TestMappingEditorSavesAndKeepsTypedValues(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	resp, body := c.get(r.mappingsPage())
	if doc := mustDoc(t, body); resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Fatalf("empty mappings page: %d", resp.StatusCode)
	}
	newPage := r.mappingsPage() + "/new"
	_, body = c.get(newPage)
	doc := mustDoc(t, body)
	checkLabels(t, newPage, doc)
	if got := values(doc, "col_name"); len(got) != len(format.DefaultColumns()) || got[0] != "event_name" {
		t.Errorf("new mapping columns = %v, want Segment's defaults", got)
	}
	if got := values(doc, "cond_value"); !slices.Equal(got, []string{"track", "identify"}) || values(doc, "cond_joiner")[0] != "or" {
		t.Errorf("builder of the default trigger: values %v joiner %v", got, values(doc, "cond_joiner"))
	}
	if got := doc.Find(`[data-testid="preview-object"]`).Length(); got != 2 {
		t.Errorf("new mapping preview shows %d files, want 2 (the track and identify samples)", got)
	}
	if doc.Find(`[data-testid="preview-samples"]`).Text() == "" || !strings.Contains(doc.Find(`[data-testid="preview-samples"]`).Text(), "Built-in samples") {
		t.Errorf("preview does not say its events are built-in samples")
	}

	form := editorForm(t, c, newPage)
	form.Set("name", "Orders")
	form["col_value"][2] = "to_string("
	form.Set("batch_size", "ten")
	resp, body = c.post(r.mappingsPage(), form)
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="batch_size-error"]`).Length() != 1 {
		t.Fatalf("unreadable batch size: %d, want 422 with the error next to the field", resp.StatusCode)
	}
	if got := values(doc, "batch_size")[0]; got != "ten" || values(doc, "name")[0] != "Orders" || values(doc, "col_value")[2] != "to_string(" {
		t.Errorf("the form lost typed values: batch size %q, name %q", got, values(doc, "name")[0])
	}

	form.Set("batch_size", "500")
	resp, body = c.post(r.mappingsPage(), form)
	doc = mustDoc(t, body)
	msg := doc.Find(`[data-testid="col-value-2-error"]`).Text()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "Column 3 value") {
		t.Fatalf("bad column value: %d, message %q; want 422 with the error next to the column", resp.StatusCode, msg)
	}
	if v, _ := doc.Find("#col-value-2").Attr("aria-invalid"); v != "true" {
		t.Errorf("the column's input is not marked invalid")
	}

	form["col_value"][2] = " " // a blank value drops the column
	form.Set("trigger", `type = "track" and properties.total >= 10`)
	resp, _ = c.post(r.mappingsPage(), form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != r.mappingsPage() {
		t.Fatalf("save: %d to %q, want 303 to the list", resp.StatusCode, resp.Header.Get("Location"))
	}
	ms, err := r.DB.ListMappings(context.Background(), r.Dest.ID)
	if err != nil || len(ms) != 1 {
		t.Fatalf("stored mappings: %v %v", ms, err)
	}
	m := ms[0]
	if m.Name != "Orders" || m.BatchSize != 500 || m.Trigger != `type = "track" and properties.total >= 10` || m.Columns[2].Value != " " || !m.Enabled {
		t.Errorf("stored %+v", m)
	}
	_, body = c.get(r.mappingsPage())
	doc = mustDoc(t, body)
	row := doc.Find(`[data-testid="mapping-row"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "Orders") || !strings.HasPrefix(row.Find("code.key-example").Text(), "raw/") {
		t.Errorf("list row %q, want the mapping with a key example under raw/", row.Text())
	}
	checkLabels(t, r.mappingsPage(), doc)

	// Editing shows what was stored; the builder follows the trigger.
	editPage := r.mappingsPage() + "/" + m.ID
	_, body = c.get(editPage)
	doc = mustDoc(t, body)
	checkLabels(t, editPage, doc)
	if got := values(doc, "cond_field"); !slices.Equal(got, []string{"type", "properties.total"}) || values(doc, "cond_op")[1] != ">=" {
		t.Errorf("builder rows %v %v", got, values(doc, "cond_op"))
	}
	form = editorForm(t, c, editPage)
	form.Set("enabled", "")
	form.Del("enabled")
	form.Set("name", "Orders over 10")
	resp, _ = c.post(editPage, form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	got, err := r.DB.MappingByID(context.Background(), r.Dest.ID, m.ID)
	if err != nil || got.Name != "Orders over 10" || got.Enabled {
		t.Errorf("updated mapping %+v (%v), want renamed and disabled", got, err)
	}

	resp, _ = c.post(editPage+"/delete", url.Values{"_csrf": {form.Get("_csrf")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 0 {
		t.Errorf("after delete: %d mappings", len(ms))
	}
	if resp, _ := c.get(editPage); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted mapping's page: %d, want 404", resp.StatusCode)
	}
}

func TestMappingEditorLimit(t *testing.T) {
	r := mustMappingRig(t, false)
	for i := range store.MaxMappings {
		r.mustCreateMapping(t, fmt.Sprintf(`{"name": "m%d"}`, i))
	}
	c := r.mustSignedIn(t)
	_, body := c.get(r.mappingsPage())
	doc := mustDoc(t, body)
	if doc.Find(`[data-testid="mapping-limit"]`).Length() != 1 || doc.Find(`[data-testid="new-mapping"]`).Length() != 0 {
		t.Errorf("a full list offers a new mapping or does not say it is full")
	}
	form := editorForm(t, c, r.mappingsPage()+"/new")
	form.Set("name", "one too many")
	resp, body := c.post(r.mappingsPage(), form)
	if msg := mustDoc(t, body).Find(`[data-testid="form-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "50") {
		t.Errorf("51st mapping from the editor: %d %q, want 422 with the limit", resp.StatusCode, msg)
	}
	resp, body = c.post(r.mappingsPage()+"/default", url.Values{"_csrf": {form.Get("_csrf")}})
	doc = mustDoc(t, body)
	if msg := doc.Find(`[data-testid="form-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "50") ||
		doc.Find(`[data-testid="mapping-row"]`).Length() != store.MaxMappings {
		t.Errorf("51st mapping as the default: %d %q, want 422 with the limit on the mappings step", resp.StatusCode, msg)
	}
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != store.MaxMappings {
		t.Errorf("stored %d mappings, want %d", len(ms), store.MaxMappings)
	}
}

func TestMappingEditorWorksWithoutJavaScript(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	form := editorForm(t, c, r.mappingsPage()+"/new")
	post := func(op string) *goquery.Document {
		t.Helper()
		form.Set("op", op)
		resp, body := c.post(r.mappingsPage(), form)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("op %s: %d", op, resp.StatusCode)
		}
		doc := mustDoc(t, body)
		// The next post starts from the page the server sent back.
		for _, name := range []string{"col_name", "col_value", "col_normalize", "col_hash", "cond_field", "cond_op", "cond_value"} {
			form[name] = values(doc, name)
		}
		form.Set("trigger", values(doc, "trigger")[0])
		form.Set("trigger_origin", values(doc, "trigger_origin")[0])
		return doc
	}
	n := len(form["col_name"])
	post("col-add")
	if got := len(form["col_name"]); got != n+1 {
		t.Errorf("add column: %d columns, want %d", got, n+1)
	}
	post("col-up:1")
	if got := form["col_name"][:2]; !slices.Equal(got, []string{"event_type", "event_name"}) {
		t.Errorf("move column 2 up: %v", got)
	}
	post("col-down:0")
	post("col-remove:0")
	if got := form["col_name"][:2]; !slices.Equal(got, []string{"event_type", "user_id"}) {
		t.Errorf("move down then remove the first: %v", got)
	}
	doc := post("cond-add")
	if got := len(form["cond_field"]); got != 3 {
		t.Errorf("add condition: %d rows, want 3", got)
	}
	if msg := doc.Find(`[data-testid="trigger-error"]`).Text(); !strings.Contains(msg, "Condition 3, field") {
		t.Errorf("an empty new condition: trigger error %q", msg)
	}
	post("cond-remove:2")
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 0 {
		t.Errorf("structural edits saved %d mappings", len(ms))
	}
	// Saving with an edited builder row stores the trigger the rows build.
	form["cond_value"][1] = "page"
	form.Set("name", "No JS")
	form.Del("op")
	resp, body := c.post(r.mappingsPage(), form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	ms, err := r.DB.ListMappings(context.Background(), r.Dest.ID)
	if err != nil || len(ms) != 1 || ms[0].Trigger != `type = "track" or type = "page"` {
		t.Fatalf("stored %+v (%v), want the builder's trigger", ms, err)
	}
	if got := ms[0].Columns[:2]; got[0].Name != "event_type" || got[1].Name != "user_id" {
		t.Errorf("stored columns start %v", got)
	}
}

func TestMappingLiveNeverReplacesTheSideBeingTyped(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	form := editorForm(t, c, r.mappingsPage()+"/new")
	live := func() *goquery.Document {
		t.Helper()
		resp, body := c.post(r.mappingsPage()+"/live", form)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("live: %d %s", resp.StatusCode, body)
		}
		return mustDoc(t, body)
	}

	// Typing in the raw text: the builder follows, the text is left alone.
	form.Set("trigger", `event = "Order Completed" and properties.total > 10`)
	doc := live()
	if doc.Find("#trigger-raw").Length() != 0 {
		t.Error("a raw edit replaced the raw text")
	}
	if got := values(doc, "cond_field"); !slices.Equal(got, []string{"event", "properties.total"}) || values(doc, "cond_op")[1] != ">" {
		t.Errorf("builder after a raw edit: %v %v", got, values(doc, "cond_op"))
	}
	origin := values(doc, "trigger_origin")
	if len(origin) != 1 || origin[0] != `event = "Order Completed" and properties.total > 10` {
		t.Errorf("origin %v", origin)
	}
	if got := doc.Find(`[data-testid="preview-object"]`).Length(); got != 1 {
		t.Errorf("preview of the new trigger: %d files, want 1 (the track sample with total 27.5)", got)
	}

	// Typing in the builder: the raw text follows, the rows are left alone.
	form.Set("trigger_origin", origin[0])
	form["cond_field"], form["cond_op"], form["cond_value"] = values(doc, "cond_field"), values(doc, "cond_op"), values(doc, "cond_value")
	form.Set("cond_joiner", "and")
	form["cond_value"][1] = "100"
	doc = live()
	if doc.Find("#trigger-builder").Length() != 0 {
		t.Error("a builder edit replaced the builder")
	}
	if got := values(doc, "trigger"); len(got) != 1 || got[0] != `event = "Order Completed" and properties.total > 100` {
		t.Errorf("raw text after a builder edit: %v", got)
	}
	if doc.Find(`[data-testid="preview-empty"]`).Length() != 1 {
		t.Error("no sample has a total over 100, yet the preview shows files")
	}

	// A trigger the builder cannot show is edited as text.
	form.Set("trigger", `type = "track" and (event = "A" or event = "B")`)
	form.Set("trigger_origin", values(doc, "trigger")[0])
	doc = live()
	if doc.Find(`[data-testid="builder-note"]`).Length() != 1 || len(values(doc, "cond_field")) != 0 {
		t.Error("a nested trigger is offered in the builder")
	}
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 0 {
		t.Errorf("the live preview saved %d mappings", len(ms))
	}
}

func TestMappingEditorSendsATestEventWithoutJavaScript(t *testing.T) {
	r := mustMappingRig(t, true)
	m := r.mustCreateMapping(t, `{"name": "csv", "trigger": "type = \"track\""}`)
	c := r.mustSignedIn(t)
	editPage := r.mappingsPage() + "/" + m.ID
	form := editorForm(t, c, editPage)
	tests := []struct {
		event, status, text string
	}{
		{`{"type": "track", "event": "Typed In", "userId": "u-42"}`, "delivered", `"Typed In","track","u-42"`},
		{`{"type": "identify", "userId": "u-42"}`, "", "does not accept"},
		{`[1, 2]`, "", "JSON object"},
	}
	for _, tt := range tests {
		form.Set("test_event", tt.event)
		resp, body := c.post(editPage+"/test-send", form)
		doc := mustDoc(t, body)
		if resp.StatusCode != http.StatusOK || values(doc, "test_event")[0] != tt.event {
			t.Fatalf("test send %s: %d, want the editor back with the event kept", tt.event, resp.StatusCode)
		}
		status := doc.Find(`[data-testid="test-send-status"]`).Text()
		if status != tt.status {
			t.Errorf("test send %s: status %q, want %q", tt.event, status, tt.status)
		}
		if tt.status == "" {
			if msg := doc.Find(`[data-testid="test-send-error"]`).Text(); !strings.Contains(msg, tt.text) {
				t.Errorf("test send %s: error %q, want %q", tt.event, msg, tt.text)
			}
			continue
		}
		key := doc.Find(`[data-testid="test-send-key"]`).Text()
		if obj := r.MinIO.MustGetObject(t, r.Bucket, key); !bytes.Contains(obj, []byte(tt.text)) {
			t.Errorf("object %s = %q, want the typed event", key, obj)
		}
	}
	ds, _, err := r.DB.ListDeliveries(context.Background(), store.DeliveryFilter{MappingID: m.ID})
	if err != nil || len(ds) != 1 || !ds[0].Test {
		t.Errorf("deliveries %v (%v), want one test delivery", ds, err)
	}
}
