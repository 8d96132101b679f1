package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// bangs is the request that used to overflow the JMESPath parser's stack,
// a fatal error that took the whole server down.
var bangs = strings.Repeat("!", 500_000)

// mustStillServe checks that the server process still answers.
func (e *env) mustStillServe(tb testing.TB) {
	tb.Helper()
	if resp, body := e.apiGet(tb, "/healthz", ""); resp.StatusCode != http.StatusOK {
		tb.Fatalf("/healthz after the hostile request: %d %s", resp.StatusCode, body)
	}
}

func TestHostileExpressionsAreRefusedThroughTheAPI(t *testing.T) {
	r := mustMappingRig(t, false)
	existing := r.mustCreateMapping(t, `{"name": "base"}`)
	quoted, _ := json.Marshal(bangs)
	columns := `[{"name": "a", "value": "$.a"}, {"name": "b", "value": "$.b"}, {"name": "c", "value": "$.c"}, {"name": "d", "value": ` + string(quoted) + `}]`
	tests := []struct {
		name, method, path, body, field string
	}{
		{"create with a column value", http.MethodPost, "", `{"name": "x", "columns": ` + columns + `}`, "columns[3].value"},
		{"patch a column value", http.MethodPatch, "/" + existing.ID, `{"columns": ` + columns + `}`, "columns[3].value"},
		{"create with a json key template", http.MethodPost, "", `{"name": "x", "format": "json", "key_template": ` + string(quoted) + `}`, "key_template"},
		{"patch a json key template", http.MethodPatch, "/" + existing.ID, `{"format": "json", "columns": [], "key_template": ` + string(quoted) + `}`, "key_template"},
		{"create with a custom key template", http.MethodPost, "", `{"name": "x", "key_preset": "custom", "key_template": ` + string(quoted) + `}`, "key_template"},
		{"create with a trigger", http.MethodPost, "", `{"name": "x", "trigger": ` + string(quoted) + `}`, "trigger"},
		{"create a jsonl mapping with an unused column value", http.MethodPost, "", `{"name": "x", "format": "jsonl", "columns": [{"name": "a", "value": ` + string(quoted) + `}]}`, "columns[0].value"},
		{"create a jsonl mapping with an unused key template", http.MethodPost, "", `{"name": "x", "format": "jsonl", "key_template": ` + string(quoted) + `}`, "key_template"},
		{"create with a column name", http.MethodPost, "", `{"name": "x", "columns": [{"name": ` + string(quoted) + `, "value": "$.a"}]}`, "columns[0].name"},
		{"create with deep nesting", http.MethodPost, "", `{"name": "x", "columns": [{"name": "a", "value": "` + strings.Repeat("(", 100) + `a` + strings.Repeat(")", 100) + `"}]}`, "columns[0].value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := r.api(t, tt.method, tt.path, tt.body)
			got := mustAPIError(t, body)
			if resp.StatusCode != http.StatusBadRequest || got.Error.Code != "invalid" || got.Error.Field != tt.field {
				t.Fatalf("%d %+v, want 400 invalid naming %s", resp.StatusCode, got.Error, tt.field)
			}
			if len(body) > 1000 {
				t.Errorf("the error is %d bytes long: it should not echo the expression", len(body))
			}
			r.mustStillServe(t)
		})
	}
	resp, body := r.api(t, http.MethodGet, "/"+existing.ID, "")
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || !mappingEqual(got, existing) {
		t.Errorf("after refused PATCHes: %+v, want %+v", got, existing)
	}
}

func TestHostileExpressionsAreRefusedByTheEditor(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	form := editorForm(t, c, r.mappingsPage()+"/new")
	form.Set("name", "Orders")
	form["col_value"][3] = bangs

	// The live preview shows the error instead of a preview.
	resp, body := c.post(r.mappingsPage()+"/live", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %d", resp.StatusCode)
	}
	msg := mustDoc(t, body).Find(`[data-testid="preview-error"]`).Text()
	if !strings.Contains(msg, "Column 4 value") || !strings.Contains(msg, "at most 4096") {
		t.Errorf("live preview error %q, want one naming column 4's value", msg)
	}
	r.mustStillServe(t)

	// Saving re-renders the form with the message next to the column.
	resp, body = c.post(r.mappingsPage(), form)
	doc := mustDoc(t, body)
	msg = doc.Find(`[data-testid="col-value-3-error"]`).Text()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "at most 4096") {
		t.Fatalf("save: %d, message %q; want 422 with the error next to the column", resp.StatusCode, msg)
	}
	r.mustStillServe(t)

	form["col_value"][3] = "$.d"
	form.Set("format", "json")
	form.Set("key_template", bangs)
	resp, body = c.post(r.mappingsPage()+"/live", form)
	if msg := mustDoc(t, body).Find(`[data-testid="preview-error"]`).Text(); resp.StatusCode != http.StatusOK || !strings.Contains(msg, "Key template") {
		t.Errorf("live preview of a json key template: %d %q", resp.StatusCode, msg)
	}
	r.mustStillServe(t)
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 0 {
		t.Errorf("%d mappings stored", len(ms))
	}
}

// A mapping stored before the bounds existed is refused wherever it would
// be compiled, rather than taking the server down.
func TestStoredHostileMappingIsRefusedWhereItIsUsed(t *testing.T) {
	r := mustMappingRig(t, false)
	m := &store.Mapping{DestinationID: r.Dest.ID, Name: "old", Enabled: true, Format: store.FormatCSV, KeyPreset: "segment_actions",
		Columns: []store.Column{{Name: "a", Value: "$.a"}, {Name: "b", Value: "$.b"}}}
	m.ApplyDefaults()
	if err := r.DB.CreateMapping(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	// The store refuses such a column now: write it as an old version did.
	raw, err := sql.Open("sqlite3", filepath.Join(r.DataDir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `UPDATE mappings SET columns = json_set(columns, '$[1].value', ?) WHERE id = ?`, bangs, m.ID); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"/preview", "/test-send"} {
		body := `{"events": [{"type": "track", "event": "A", "userId": "u"}]}`
		if route == "/test-send" {
			body = `{"event": {"type": "track", "event": "A", "userId": "u"}}`
		}
		resp, out := r.api(t, http.MethodPost, "/"+m.ID+route, body)
		if got := mustAPIError(t, out); resp.StatusCode != http.StatusBadRequest || got.Error.Field != "columns[1].value" {
			t.Errorf("%s: %d %+v, want 400 naming columns[1].value", route, resp.StatusCode, got.Error)
		}
	}
	c := r.mustSignedIn(t)
	resp, body := c.get(r.mappingsPage() + "/" + m.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(mustDoc(t, body).Find(`[data-testid="preview-error"]`).Text(), "Column 2 value") {
		t.Errorf("editor of the stored mapping: %d, want its preview to name column 2's value", resp.StatusCode)
	}
	r.mustStillServe(t)
}
